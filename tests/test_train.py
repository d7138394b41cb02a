"""The training program: resume, stop signals, the NaN guard, main.py."""

import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import pytest

from tests import helpers
from vaegan_jax.store import checkpoint as checkpoint_lib
from vaegan_jax import errors
from vaegan_jax import parallel
from vaegan_jax.run import progress
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import train
from vaegan_jax.store import warm_start

ROOT = helpers.ROOT


_config = helpers.run_config


def _restore(workdir, config, step=None):
  ckpt = checkpoint_lib.Checkpointer(workdir)
  step = ckpt.latest_step() if step is None else step
  state, data_state = ckpt.restore(
      step, state_lib.abstract_train_state(config))
  ckpt.close()
  return state, data_state


@pytest.mark.slow  # a whole training run
def test_resume_is_exact(tmp_path, caplog):
  # With the decoder's moving average on, which the checkpoint carries too.
  ema = {'model__ema_decay': 0.9}
  straight = train.train_and_evaluate(_config(6, **ema), str(tmp_path / 'a'))
  train.train_and_evaluate(_config(3, **ema), str(tmp_path / 'b'))
  resumed = train.train_and_evaluate(_config(6, **ema), str(tmp_path / 'b'))
  assert int(resumed.step) == 6
  chex.assert_trees_all_equal(jax.device_get(resumed.ema),
                              jax.device_get(straight.ema))
  assert helpers.max_abs_diff(
      resumed.ema['params'], resumed.params['decoder']) > 0
  chex.assert_trees_all_equal(jax.device_get(resumed.params),
                              jax.device_get(straight.params))
  chex.assert_trees_all_equal(jax.device_get(resumed.opt_state),
                              jax.device_get(straight.opt_state))
  # The resumed run said what changed and kept the first config.json.
  assert 'config.train.num_steps: 3 -> 6' in caplog.text
  assert json.loads((tmp_path / 'b' / 'config.json').read_text())[
      'train']['num_steps'] == 6
  history = list((tmp_path / 'b' / 'config_history').iterdir())
  assert len(history) == 1
  assert json.loads(history[0].read_text())['train']['num_steps'] == 3
  # Resuming with the same config again changes nothing there.
  train.train_and_evaluate(_config(6, **ema), str(tmp_path / 'b'))
  assert len(list((tmp_path / 'b' / 'config_history').iterdir())) == 1


@pytest.mark.slow  # a whole training run
def test_workdir_contents(tmp_path):
  config = _config(4)
  config.eval.every = 2
  train.train_and_evaluate(config, str(tmp_path))
  names = set(os.listdir(tmp_path))
  assert {'config.json', 'metrics.jsonl', 'tensorboard', 'checkpoints',
          'samples_4x4.png', 'samples_8x8.png'} <= names
  assert any(f.startswith('events.out.tfevents')
             for f in os.listdir(tmp_path / 'tensorboard'))
  with open(tmp_path / 'config.json') as f:
    assert json.load(f)['train']['num_steps'] == 4
  records = [json.loads(l) for l in open(tmp_path / 'metrics.jsonl')]
  assert [r['step'] for r in records if 'loss/kl' in r] == [1, 2, 3, 4]
  assert [r['step'] for r in records if 'eval/kl' in r] == [2, 4]
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['2', '3', '4']


@pytest.mark.slow  # a whole training run
def test_nan_guard_keeps_the_last_good_checkpoint(tmp_path):
  train.train_and_evaluate(_config(3), str(tmp_path))
  absurd = _config(9, optim__lr=1e38)
  with pytest.raises(errors.NonFiniteError,
                     match=r'step [4-9].*last good checkpoint \(step 3\)'):
    train.train_and_evaluate(absurd, str(tmp_path))
  assert checkpoint_lib.Checkpointer(str(tmp_path)).latest_step() == 3
  state, _ = _restore(str(tmp_path), absurd)
  chex.assert_tree_all_finite(state)


@pytest.mark.slow  # a whole training run
def test_interrupted_save_leaves_a_readable_checkpoint(tmp_path):
  config = _config(3)
  train.train_and_evaluate(config, str(tmp_path))
  # What a crash in the middle of writing checkpoint 6 leaves behind.
  partial = tmp_path / 'checkpoints' / '6.orbax-checkpoint-tmp-1234'
  (partial / 'state').mkdir(parents=True)
  (partial / 'state' / 'junk').write_bytes(b'\0' * 10)
  assert checkpoint_lib.Checkpointer(str(tmp_path)).latest_step() == 3
  state, data_state = _restore(str(tmp_path), config)
  assert int(state.step) == 3 and data_state


def _main(*args, **kwargs):
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'main.py'),
       '--config=' + os.path.join(ROOT, 'configs', 'test.py'),
       '--config.data.name=bundled_mnist', *args],
      cwd=ROOT, env=helpers.subprocess_env(), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True, **kwargs)


@pytest.mark.slow
def test_main_runs_then_sigterm_saves_and_resume_finishes(tmp_path):
  workdir = str(tmp_path)
  common = (f'--workdir={workdir}', '--config.train.log_every=1',
            '--config.train.checkpoint_every=1000', '--config.eval.every=0')
  proc = _main('--config.train.num_steps=100000', *common)
  metrics = tmp_path / 'metrics.jsonl'
  deadline = time.time() + 300
  while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
    assert proc.poll() is None and time.time() < deadline, proc.stdout.read()
    time.sleep(0.5)
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == 0, out
  assert 'SIGTERM' in out and 'Traceback' not in out
  stopped_at = checkpoint_lib.Checkpointer(workdir).latest_step()
  assert stopped_at is not None and stopped_at >= 3, out[-3000:]
  # Same command, more steps: resumes where it stopped and finishes.
  proc = _main(f'--config.train.num_steps={stopped_at + 2}', *common)
  out, _ = proc.communicate(timeout=300)
  assert proc.returncode == 0, out
  assert f'Resuming from the checkpoint at step {stopped_at}' in out
  steps = [json.loads(l)['step'] for l in metrics.read_text().splitlines()
           if 'loss/kl' in l]
  assert steps[-2:] == [stopped_at + 1, stopped_at + 2]
  assert checkpoint_lib.Checkpointer(workdir).latest_step() == stopped_at + 2
  assert np.all(np.diff(steps) == 1)


def test_collapse_watch_stops_the_run_when_asked(tmp_path):
  config = _config(20)
  config.eval.update(every=2, collapse_kl=1e9, collapse_patience=3,
                     stop_on_collapse=True, num_examples=64, batch_size=32)
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 6  # the third evaluation in a row
  assert sorted(os.listdir(tmp_path / 'checkpoints'))[-1] == '6'


def test_skipped_updates_are_counted_per_log_interval():
  pending = [{'updated/decoder': 1.0, 'updated/discriminator': 0.0},
             {'updated/decoder': 0.0, 'updated/discriminator': 0.0},
             {'updated/decoder': 1.0, 'updated/discriminator': 1.0}]
  averaged = progress.average(pending)
  assert averaged['skipped/decoder'] == 1.0
  assert averaged['skipped/discriminator'] == 2.0
  np.testing.assert_allclose(averaged['updated/decoder'], 2 / 3)


@pytest.mark.slow  # a whole training run
def test_warm_start_takes_the_chosen_networks_then_resumes_its_own(
    tmp_path, caplog):
  caplog.set_level(logging.INFO)
  pretrained = jax.device_get(
      train.train_and_evaluate(_config(2), str(tmp_path / 'vae')))
  # The new run's first state: the decoder pretrained, the rest fresh.
  config = _config(1)
  config.init_networks = ('decoder',)
  fresh = state_lib.create_train_state(config, jax.random.key(5))
  mesh = parallel.make_mesh()
  for init_from in ('vae', 'vae/checkpoints/2'):
    config.init_from = str(tmp_path / init_from)
    state = jax.device_get(warm_start.initialise(fresh, config, mesh))
    for collection in ('params', 'batch_stats'):
      chex.assert_trees_all_equal(getattr(state, collection)['decoder'],
                                  getattr(pretrained, collection)['decoder'])
      for net in ('encoder', 'discriminator'):
        chex.assert_trees_all_equal(getattr(state, collection)[net],
                                    jax.device_get(getattr(fresh,
                                                           collection)[net]))
    chex.assert_trees_all_equal(state.opt_state,
                                jax.device_get(fresh.opt_state))
    assert int(state.step) == 0
  # A run started so says what it loaded, and resumes from its own
  # checkpoints, not from init_from.
  train.train_and_evaluate(config, str(tmp_path / 'gan'))
  assert 'Initialised the decoder from' in caplog.text
  (tmp_path / 'vae' / 'config.json').unlink()  # init_from unusable now
  config.train.num_steps = 2
  assert int(train.train_and_evaluate(config, str(tmp_path / 'gan')).step) == 2


@pytest.mark.slow  # a whole training run
def test_profile_steps_write_a_trace(tmp_path):
  config = _config(5)
  config.train.profile_steps = 1
  train.train_and_evaluate(config, str(tmp_path))
  runs = list((tmp_path / 'profile' / 'plugins' / 'profile').iterdir())
  assert len(runs) == 1
  names = [p.name for p in runs[0].iterdir()]
  assert any(n.endswith('.xplane.pb') for n in names), names
  assert 'perfetto_trace.json.gz' in names
  with gzip.open(runs[0] / 'perfetto_trace.json.gz', 'rt') as f:
    assert 'train_step' in f.read()  # the traced step ran the train step
