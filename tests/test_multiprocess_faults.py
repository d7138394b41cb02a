"""Faults of a two-process run on localhost (`main.py --distributed`): a
process killed mid-run ends the other within the heartbeat timeout in one
line; SIGTERM to one of them (a preemption notice reaching the hosts at
different times) saves the same step in both and exits 0; a restart of both
resumes from that step."""

import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests import helpers
from tests import test_multiprocess
from vaegan_jax.output import writers
from vaegan_jax.run import watchdog
from vaegan_jax.store import checkpoint as checkpoint_lib

_TIMEOUT = 8  # --heartbeat_timeout_seconds for these runs
_STEP = re.compile(r'step (\d+)/')


class _Run:
  """Two processes of main.py --distributed, their output read as it comes.
  """

  def __init__(self, workdir, num_steps, *flags):
    address = f'localhost:{test_multiprocess._free_port()}'  # pylint: disable=protected-access
    self.procs, self.lines = [], [[], []]
    for i in range(2):
      proc = subprocess.Popen(
          [sys.executable, '-c', test_multiprocess._MAIN,  # pylint: disable=protected-access
           '--config=configs/test.py', f'--workdir={workdir}',
           '--distributed', f'--coordinator_address={address}',
           '--num_processes=2', f'--process_id={i}',
           f'--heartbeat_timeout_seconds={_TIMEOUT}',
           f'--config.train.num_steps={num_steps}',
           '--config.train.log_every=1', '--config.train.checkpoint_every=2',
           '--config.eval.every=0', '--config.eval.num_examples=64',
           '--config.eval.batch_size=32', *flags],
          cwd=helpers.ROOT, env=helpers.subprocess_env(JAX_NUM_CPU_DEVICES='1'),
          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      threading.Thread(target=self._read, args=(proc, self.lines[i]),
                       daemon=True).start()
      self.procs.append(proc)

  @staticmethod
  def _read(proc, lines):
    for line in proc.stdout:
      lines.append(line.rstrip('\n'))

  def output(self, i: int) -> str:
    return '\n'.join(self.lines[i])

  def wait_for_step(self, step: int, timeout: float = 400) -> None:
    """Waits until process 0 has logged `step`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      if any(int(m.group(1)) >= step for m in map(_STEP.search, self.lines[0])
             if m):
        return
      if any(p.poll() is not None for p in self.procs):
        break
      time.sleep(0.2)
    self.kill()
    pytest.fail(f'No step {step} logged:\n' + self.output(0)[-4000:] + '\n'
                + self.output(1)[-4000:])

  def wait(self, i: int, timeout: float) -> int | None:
    try:
      return self.procs[i].wait(timeout)
    except subprocess.TimeoutExpired:
      return None

  def kill(self) -> None:
    for proc in self.procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_a_killed_process_ends_the_other_in_one_line(tmp_path):
  run = _Run(tmp_path / 'run', 100000)
  try:
    run.wait_for_step(3)
    run.procs[1].kill()  # kill -9
    killed = time.monotonic()
    status = run.wait(0, _TIMEOUT + 30)
    took = time.monotonic() - killed
  finally:
    run.kill()
  out = run.output(0)
  print(f'The survivor ended {took:.1f} s after the kill.')
  assert status == watchdog.PEER_LOST_EXIT_STATUS, out[-6000:]
  assert took < _TIMEOUT + 5, out[-6000:]
  last = [line for line in run.lines[0] if line.strip()][-1]
  assert re.fullmatch(
      r'Error: process 1 has sent no heartbeat for \d+ s: it was killed or '
      r'its host is down, so process 0 stops too \(exit status 69\)\. '
      r'Restart all 2 processes with the same command: the run resumes from '
      r'the last complete checkpoint\.', last), out[-6000:]
  for noise in ('Traceback', 'Fatal Python error', 'Check failed',
                '*** '):
    assert noise not in out, out[-6000:]


@pytest.fixture(scope='module')
def preempted(tmp_path_factory):
  """A run whose process 1 got SIGTERM mid-run, as in a preemption whose
  notice reaches the hosts at different times: its workdir, its processes'
  exit statuses and outputs."""
  workdir = tmp_path_factory.mktemp('preempted') / 'run'
  run = _Run(workdir, 100000)
  try:
    run.wait_for_step(3)
    # The notice reaches process 1 first; process 0 stops at the same step
    # (its own notice, later, would find it saving or gone).
    run.procs[1].send_signal(signal.SIGTERM)
    statuses = [run.wait(i, 120) for i in range(2)]
  finally:
    run.kill()
  time.sleep(0.5)  # the readers' last lines
  return workdir, statuses, [run.output(i) for i in range(2)]


def _stopped_at(out: str) -> int:
  found = re.findall(r'Stopped at step (\d+) by (?:SIGTERM|a signal to '
                     r'another process)\.', out)
  assert len(found) == 1, out[-6000:]
  return int(found[0])


@pytest.mark.slow
def test_sigterm_to_one_saves_the_same_step_in_both_and_exits_0(preempted):
  workdir, statuses, outputs = preempted
  assert statuses == [0, 0], '\n'.join(o[-4000:] for o in outputs)
  steps = [_stopped_at(out) for out in outputs]
  assert steps[0] == steps[1], steps
  saved = checkpoint_lib.Checkpointer(str(workdir),
                                      read_only=True).manager.all_steps()
  assert saved[-1] == steps[0], (saved, steps)
  for out in outputs:
    assert 'Traceback' not in out, out[-6000:]


@pytest.mark.slow
def test_a_restart_of_both_resumes_from_the_last_checkpoint(preempted):
  workdir, _, outputs = preempted
  stopped = _stopped_at(outputs[0])
  run = _Run(workdir, stopped + 2)
  try:
    statuses = [run.wait(i, 400) for i in range(2)]
  finally:
    run.kill()
  time.sleep(0.5)
  outputs = [run.output(i) for i in range(2)]
  assert statuses == [0, 0], '\n'.join(o[-4000:] for o in outputs)
  for out in outputs:
    assert f'Resuming from the checkpoint at step {stopped}.' in out, (
        out[-6000:])
  logged = [r['step'] for r in writers.read_jsonl(
      str(workdir / writers.METRICS_FILE)) if 'loss/kl' in r]
  assert logged == list(range(1, stopped + 3)), logged
  saved = checkpoint_lib.Checkpointer(str(workdir),
                                      read_only=True).manager.all_steps()
  assert saved[-1] == stopped + 2, saved
