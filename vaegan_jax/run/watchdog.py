"""Ends a multi-process run in one line when one of its processes is gone.

Each process of a `--distributed` run writes a heartbeat into the JAX
coordination service's key-value store every second, from a daemon thread,
and reads the others'. When a peer's heartbeat has not changed for
`timeout` seconds (it was killed, or its host went down), or the
coordination service itself stops answering for as long (process 0 is
gone), the survivor logs one line saying what happened and what to do, and
ends with `PEER_LOST_EXIT_STATUS`: the survivor would otherwise wait in a
collective until JAX's own heartbeat timeout aborts it with a C++ stack
trace. A peer that exits through Python (its work done, or an error it
reported) says so first (`finished`, at exit) and is not missed: only a
process killed, crashed or hung is.
"""

import atexit
import logging as py_logging
import os
import sys
import threading
import time

from absl import logging

# The exit status of a process whose peer is gone (EX_UNAVAILABLE).
PEER_LOST_EXIT_STATUS = 69
# Seconds between heartbeats, and between checks of the others'.
_INTERVAL = 1.0
_PREFIX = 'vaegan_jax/watchdog'


def jax_heartbeat_timeout(timeout: int) -> int:
  """The heartbeat timeout to give `jax.distributed.initialize`: longer than
  the watchdog's, so that the watchdog's line comes first and JAX's abort is
  only a backstop.

  Args:
    timeout: the watchdog's timeout in seconds.

  Returns:
    JAX's timeout in seconds.
  """
  return 2 * timeout + 10


class PeerWatchdog:
  """Heartbeats through the coordination service; ends this process when a
  peer's stop.

  Args:
    client: the coordination service client (`jax.distributed`'s
      `global_state.client`).
    process_id: this process's index.
    num_processes: how many processes the run has.
    timeout: seconds without a peer's heartbeat (or without an answer from
      the coordination service) before this process ends.
    exit_fn: ends the process with a status (tests replace it).
  """

  def __init__(self, client, process_id: int, num_processes: int,
               timeout: float, exit_fn=os._exit):  # pylint: disable=protected-access
    self._client = client
    self._id = process_id
    self._peers = [i for i in range(num_processes) if i != process_id]
    self.timeout = timeout
    self._exit = exit_fn
    self._stopped = threading.Event()
    now = time.monotonic()
    self._last_answer = now  # the coordination service's last answer
    self._seen = {i: (None, now) for i in self._peers}  # beat, when seen
    self._beat = 0
    self._thread = threading.Thread(target=self._run, daemon=True,
                                    name='peer-watchdog')

  def start(self) -> 'PeerWatchdog':
    """Starts the heartbeat thread and the check thread; stops them at exit.

    Returns:
      self.
    """
    self._thread.start()
    threading.Thread(target=self._watch, daemon=True,
                     name='peer-watchdog-check').start()
    atexit.register(self.finished)  # runs before JAX's shutdown
    return self

  def stop(self) -> None:
    """Stops beating and checking (a process exiting is not a lost peer's
    survivor)."""
    self._stopped.set()

  def finished(self) -> None:
    """Tells the others that this process finished its work: they no longer
    expect its heartbeats."""
    try:
      self._client.key_value_set(f'{_PREFIX}/finished/{self._id}', '1',
                                 allow_overwrite=True)
    except Exception as e:  # pylint: disable=broad-except
      logging.warning('Could not tell the other processes that this one '
                      'finished: %s', e)
    self.stop()

  def _run(self) -> None:
    """Beats and reads the peers' beats until stopped."""
    while not self._stopped.wait(_INTERVAL):
      try:
        self._beat += 1
        self._client.key_value_set(f'{_PREFIX}/beat/{self._id}',
                                   str(self._beat), allow_overwrite=True)
        for peer in list(self._seen):
          self._read(peer)
        self._last_answer = time.monotonic()
      except Exception:  # pylint: disable=broad-except
        pass  # the check thread notices the silence

  def _read(self, peer: int) -> None:
    """Notes when `peer`'s heartbeat last changed; forgets a finished one."""
    try:
      self._client.key_value_try_get(f'{_PREFIX}/finished/{peer}')
      del self._seen[peer]
      return
    except Exception:  # pylint: disable=broad-except
      pass  # not finished (the key is absent)
    try:
      beat = self._client.key_value_try_get(f'{_PREFIX}/beat/{peer}')
    except Exception:  # pylint: disable=broad-except
      return  # no beat yet
    if beat != self._seen[peer][0]:
      self._seen[peer] = (beat, time.monotonic())

  def _watch(self) -> None:
    """Ends the process once a peer or the coordination service is silent
    for `timeout` seconds."""
    while not self._stopped.wait(_INTERVAL / 2):
      problem = self.problem(time.monotonic())
      if problem and not self._stopped.is_set():
        self._end(problem)
        return

  def problem(self, now: float) -> str | None:
    """What is wrong at time `now` (time.monotonic()), or None.

    Args:
      now: the present, from time.monotonic().

    Returns:
      A sentence naming the silent peer or the silent coordination service.
    """
    silent = now - self._last_answer
    if silent > self.timeout:
      return (f'the JAX coordination service (run by process 0) has not '
              f'answered for {silent:.0f} s: process 0 is gone')
    for peer, (_, seen) in list(self._seen.items()):
      if now - seen > self.timeout:
        return (f'process {peer} has sent no heartbeat for {now - seen:.0f} '
                f's: it was killed or its host is down')
    return None

  def end_after_failure(self, error: BaseException) -> None:
    """Ends the process after a collective failed (a peer closed its
    connection): waits up to `timeout` seconds for the heartbeats to name
    the lost peer, then ends with one line, as `_watch` does, before JAX's
    shutdown at exit can abort the process with a C++ stack trace."""
    deadline = time.monotonic() + self.timeout + 2 * _INTERVAL
    problem = None
    while problem is None and time.monotonic() < deadline:
      time.sleep(_INTERVAL / 2)
      problem = self.problem(time.monotonic())
    first = str(error).strip().splitlines()[0] if str(error).strip() else ''
    self.stop()
    self._end(problem or f'a collective with the other processes failed '
              f'({type(error).__name__}: {first[:200]}): another process '
              'was probably killed or lost')

  def _end(self, problem: str) -> None:
    """Writes one line, flushes the logs and ends the process."""
    line = (f'Error: {problem}, so process {self._id} stops too '
            f'(exit status {PEER_LOST_EXIT_STATUS}). Restart all '
            f'{len(self._peers) + 1} processes with the same command: the run '
            'resumes from the last complete checkpoint.')
    for handler in py_logging.getLogger().handlers:
      try:
        handler.flush()
      except Exception:  # pylint: disable=broad-except
        pass
    for stream in (sys.stdout, sys.stderr):
      try:
        stream.flush()
      except Exception:  # pylint: disable=broad-except
        pass
    try:
      sys.stderr.write(line + '\n')
      sys.stderr.flush()
    finally:
      self._exit(PEER_LOST_EXIT_STATUS)


def start(timeout: float) -> PeerWatchdog | None:
  """Starts the watchdog of this process of a `jax.distributed` run.

  Args:
    timeout: seconds of a peer's silence before this process ends.

  Returns:
    The running watchdog, or None with a single process (nothing to watch).
  """
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  state = distributed.global_state
  if state.client is None or not state.num_processes or (
      state.num_processes < 2):
    return None
  return PeerWatchdog(state.client, state.process_id, state.num_processes,
                      timeout).start()
