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
from vaegan_jax import checkpoint as checkpoint_lib
from vaegan_jax import errors
from vaegan_jax import parallel
from vaegan_jax import state as state_lib
from vaegan_jax import train
from vaegan_jax import warm_start

ROOT = helpers.ROOT


def _config(num_steps, **overrides):
  config = helpers.tiny_config(**overrides)
  config.data.name = 'bundled_mnist'
  config.train.num_steps = num_steps
  config.train.log_every = 1
  config.train.checkpoint_every = 3
  config.eval.every = 0
  return config


def _restore(workdir, config, step=None):
  ckpt = checkpoint_lib.Checkpointer(workdir)
  step = ckpt.latest_step() if step is None else step
  state, data_state = ckpt.restore(
      step, state_lib.abstract_train_state(config))
  ckpt.close()
  return state, data_state


def test_resume_is_exact(tmp_path, caplog):
  straight = train.train_and_evaluate(_config(6), str(tmp_path / 'a'))
  train.train_and_evaluate(_config(3), str(tmp_path / 'b'))
  resumed = train.train_and_evaluate(_config(6), str(tmp_path / 'b'))
  assert int(resumed.step) == 6
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
  train.train_and_evaluate(_config(6), str(tmp_path / 'b'))
  assert len(list((tmp_path / 'b' / 'config_history').iterdir())) == 1


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
