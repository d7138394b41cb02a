"""Turns SIGTERM and Ctrl-C into a request to checkpoint and stop."""

import signal
import threading

from absl import logging


class StopRequest:
  """Context manager catching the first SIGTERM or SIGINT.

  Inside it, the first signal sets `requested` (the loop saves and exits
  cleanly); a second Ctrl-C interrupts at once. Handlers are only installed
  from the main thread and are restored on exit.
  """

  def __init__(self):
    self.requested = False
    self.signal_name = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.requested = True
    self.signal_name = signal.Signals(signum).name
    logging.warning('%s received: saving a checkpoint, then stopping '
                    '(Ctrl-C again to stop at once).', self.signal_name)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False
