"""Turns SIGTERM and Ctrl-C into a request to checkpoint and stop.

The first signal asks the training loop to stop at the next step boundary:
it skips an evaluation that is due, saves that step and exits. A second
signal ends the process at once with one line: a save it interrupts is
incomplete and ignored (orbax writes into a temporary directory and renames
it when complete), so the previous checkpoint is what the next run resumes
from.
"""

import os
import signal
import sys
import threading

from absl import logging

# The exit status of a process ended by a second signal: 128 + the signal's
# number, as the shell reports a process the signal killed.
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
  """Context manager catching SIGTERM and SIGINT.

  Inside it, the first signal sets `requested` (the loop saves and exits
  cleanly); a second one ends the process at once, with one line saying
  which checkpoint the next run resumes from (`describe_kept`). Handlers
  are only installed from the main thread and are restored on exit.

  Args:
    describe_kept: called on the second signal; returns the sentence naming
      the checkpoint kept (e.g. 'The last complete checkpoint, step 500, is
      kept.').
  """

  def __init__(self, describe_kept=None):
    self.requested = False
    self.signal_name = None
    self._describe_kept = describe_kept or (lambda: '')
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    name = signal.Signals(signum).name
    if self.requested:
      self._stop_now(signum, name)
    self.requested = True
    self.signal_name = name
    logging.warning('%s received: stopping at the end of this step and '
                    'saving it (%s again to stop at once).', name,
                    'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM')

  def _stop_now(self, signum: int, name: str) -> None:
    """Ends the process with one line; nothing of Python unwinds (no
    traceback, no wait for the save in progress)."""
    try:
      kept = self._describe_kept()
    except Exception:  # pylint: disable=broad-except
      kept = ''
    sys.stderr.write(f'Stopped at once by a second {name}. {kept}'.strip()
                     + ' Run the same command to resume.\n')
    sys.stderr.flush()
    os._exit(128 + signum)  # pylint: disable=protected-access

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in _SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False
