"""Ctrl-C and SIGTERM: the run stops at the next step boundary, skipping an
evaluation that is due and saving that step; a second signal ends it at
once in one line and keeps the previous checkpoint; a restart continues
metrics.jsonl without a step twice."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests import helpers
from vaegan_jax.output import writers
from vaegan_jax.run import profiling
from vaegan_jax.run import train
from vaegan_jax.store import checkpoint as checkpoint_lib


def _config(num_steps=4, **overrides):
  fields = dict(train__num_steps=num_steps, train__checkpoint_every=1,
                train__log_every=1, eval__every=0, eval__num_examples=64,
                eval__batch_size=32)
  return helpers.tiny_config(**{**fields, **overrides})


def _steps(workdir):
  return checkpoint_lib.Checkpointer(str(workdir),
                                     read_only=True).manager.all_steps()


def _logged_steps(workdir):
  return [r['step'] for r in writers.read_jsonl(
      str(workdir / writers.METRICS_FILE)) if 'loss/kl' in r]


def _signal_after_step(monkeypatch, at_step, signum=signal.SIGTERM):
  """Sends `signum` to this process as step `at_step` ends."""
  after_step = profiling.StepProfiler.after_step

  def after_step_then_signal(self, step, state):
    after_step(self, step, state)
    if step == at_step:
      os.kill(os.getpid(), signum)

  monkeypatch.setattr(profiling.StepProfiler, 'after_step',
                      after_step_then_signal)


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_skips_the_evaluation_due_and_saves_that_step(
    tmp_path, monkeypatch, signum):
  workdir = tmp_path / 'run'
  _signal_after_step(monkeypatch, 2, signum)
  # What the process had (SIGINT is ignored in a job started with `&`).
  handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  state = train.train_and_evaluate(
      _config(num_steps=6, train__checkpoint_every=100, eval__every=2),
      str(workdir))
  assert int(state.step) == 2
  assert _steps(workdir) == [2]
  records = writers.read_jsonl(str(workdir / writers.METRICS_FILE))
  assert [r['step'] for r in records] == [1, 2]  # no evaluation record
  assert not any(k.startswith('eval/') for r in records for k in r)
  # The handlers the process had are back.
  assert {s: signal.getsignal(s) for s in handlers} == handlers


def test_a_restart_drops_the_records_past_its_checkpoint(tmp_path, caplog):
  workdir = tmp_path / 'run'
  train.train_and_evaluate(_config(num_steps=3, train__checkpoint_every=2),
                           str(workdir))
  # As if killed after logging step 3 and before saving it.
  checkpoint_lib.Checkpointer(str(workdir)).manager.delete(3)
  assert _logged_steps(workdir) == [1, 2, 3]
  caplog.set_level('INFO')
  train.train_and_evaluate(_config(num_steps=4, train__checkpoint_every=2),
                           str(workdir))
  assert _logged_steps(workdir) == [1, 2, 3, 4]
  # Step 3's training record and its evaluation's.
  assert 'Dropped 2 records of step 3 from ' in caplog.text
  assert 'the run resumes from step 2 and logs them again' in caplog.text


def test_dropping_records_keeps_earlier_ones_and_torn_lines(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  path.write_text('{"step": 1, "a": 1}\n{"step": 2, "a": 2}\n{"step": 2, '
                  '"eval/fid": 9}\n{"step": 3, "a": 3}\n{"step": 4, "a"')
  from etils import epath  # pylint: disable=g-import-not-at-top
  assert writers.drop_records_after(epath.Path(path), 2) == 1
  assert path.read_text() == ('{"step": 1, "a": 1}\n{"step": 2, "a": 2}\n'
                              '{"step": 2, "eval/fid": 9}\n{"step": 4, "a"')
  assert writers.drop_records_after(epath.Path(tmp_path / 'none'), 2) == 0


# The run of main.py, with a second signal sent while the save of the step
# the first one stopped at is in progress.
_SECOND_SIGNAL_DURING_SAVE = '''
import os, runpy, signal, sys
from vaegan_jax.run import profiling
from vaegan_jax.store import checkpoint
after_step, save = profiling.StepProfiler.after_step, checkpoint.Checkpointer.save

def after_step_then_signal(self, step, state):
  after_step(self, step, state)
  if step == 3:
    os.kill(os.getpid(), signal.SIGINT)

def save_then_signal(self, step, *args, **kwargs):
  save(self, step, *args, **kwargs)
  if step == 3:
    os.kill(os.getpid(), signal.SIGINT)

profiling.StepProfiler.after_step = after_step_then_signal
checkpoint.Checkpointer.save = save_then_signal
sys.argv[0] = 'main.py'
runpy.run_path('main.py', run_name='__main__')
'''


@pytest.mark.slow  # two starts of main.py, about 30 s
def test_a_second_signal_during_the_save_ends_in_one_line(tmp_path):
  workdir = tmp_path / 'run'
  args = ['--config=configs/test.py', f'--workdir={workdir}',
          '--config.train.num_steps=4', '--config.train.log_every=1',
          '--config.train.checkpoint_every=2']
  proc = subprocess.run([sys.executable, '-c', _SECOND_SIGNAL_DURING_SAVE,
                         *args], cwd=helpers.ROOT,
                        env=helpers.subprocess_env(), capture_output=True,
                        text=True, timeout=300)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 128 + signal.SIGINT, out
  assert 'Traceback' not in out and 'KeyboardInterrupt' not in out, out
  assert out.strip().splitlines()[-1] == (
      'Stopped at once by a second SIGINT. The last complete checkpoint, '
      f'step 2, is kept in {workdir}/checkpoints. Run the same command to '
      'resume.'), out
  # The next run resumes from step 2 (or 3, had its save completed).
  proc = subprocess.run([sys.executable, 'main.py', *args], cwd=helpers.ROOT,
                        env=helpers.subprocess_env(), capture_output=True,
                        text=True, timeout=300)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 0, out
  assert re.search(r'Resuming from the checkpoint at step [23]\.', out), out
  assert 'damaged' not in out
  assert _logged_steps(workdir) == [1, 2, 3, 4]


@pytest.mark.slow  # one start of main.py, about 20 s
def test_ctrl_c_stops_main_py_within_seconds(tmp_path):
  workdir = tmp_path / 'run'
  proc = subprocess.Popen(
      [sys.executable, 'main.py', '--config=configs/test.py',
       f'--workdir={workdir}', '--config.train.num_steps=100000',
       '--config.train.log_every=50',
       '--config.train.checkpoint_every=100000',
       '--config.eval.every=100000'], cwd=helpers.ROOT,
      env=helpers.subprocess_env(), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if 'step 50/100000' in line:
      break
  sent = time.time()
  proc.send_signal(signal.SIGINT)
  out = ''.join(lines) + proc.communicate(timeout=120)[0]
  took = time.time() - sent
  assert proc.returncode == 0, out
  assert 'Traceback' not in out, out
  stopped = int(re.search(r'Stopped at step (\d+) by SIGINT', out).group(1))
  # The step in flight and the one the loop had started (the loop runs at
  # most one step ahead of the devices, not to the next log line), then the
  # save and the exit.
  assert 50 <= stopped <= 55, out
  assert _steps(workdir) == [stopped]
  assert took < 30, f'{took:.1f} s to stop:\n{out}'
