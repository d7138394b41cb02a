"""The decoder's exponential moving average (StyleGAN's G_ema): the update
rule and its decay against hand computations, the step's update, exact
resumes, old checkpoints, and exports that sample with it."""

import json
import logging

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vaegan_jax
from tests import helpers
from vaegan_jax.model import algorithm
from vaegan_jax.model import ema
from vaegan_jax.model import networks
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import modes
from vaegan_jax.run import train
from vaegan_jax.store import checkpoint as checkpoint_lib
from vaegan_jax.store import export



def test_update_moves_the_average_towards_the_decoder():
  average = {'params': {'w': jnp.array([1.0, 2.0])},
             'batch_stats': {'mean': jnp.array([0.5])}}
  params, stats = {'w': jnp.array([3.0, -2.0])}, {'mean': jnp.array([1.5])}
  new = ema.update(average, params, stats, jnp.float32(0.9))
  # 0.9 · old + 0.1 · decoder, by hand.
  chex.assert_trees_all_close(new, {'params': {'w': jnp.array([1.2, 1.6])},
                                    'batch_stats': {'mean': jnp.array([0.6])}},
                              rtol=1e-6)
  # β = 0: the decoder itself; β = 1: the average unchanged.
  chex.assert_trees_all_equal(ema.update(average, params, stats, 0.0),
                              ema.init(params, stats))
  chex.assert_trees_all_equal(ema.update(average, params, stats, 1.0), average)


def test_decay_is_the_constant_or_the_half_life_in_images():
  config = helpers.tiny_config(model__ema_decay=0.999)
  assert ema.enabled(config)
  assert float(ema.decay(config, 123)) == pytest.approx(0.999)
  assert not ema.enabled(helpers.tiny_config())
  # Half-life of 800 images at batch 8: 0.5 ** (8 / 800).
  config = helpers.tiny_config(model__ema_halflife_images=800.0)
  assert ema.enabled(config)
  assert float(ema.decay(config, 5)) == pytest.approx(0.5 ** 0.01, rel=1e-6)


def test_the_ramp_up_caps_the_half_life_by_the_images_seen():
  config = helpers.tiny_config(model__ema_halflife_images=800.0,
                               model__ema_rampup=0.5)
  # Step 0: nothing seen, the average is the decoder.
  assert float(ema.decay(config, 0)) == 0.0
  # Step 10: 80 images seen, half-life min(800, 40) = 40 images.
  assert float(ema.decay(config, 10)) == pytest.approx(0.5 ** (8 / 40),
                                                       rel=1e-6)
  # Step 1000: 8,000 seen, half-life 800 as without the ramp-up.
  assert float(ema.decay(config, 1000)) == pytest.approx(0.5 ** 0.01,
                                                         rel=1e-6)


def test_decoder_variables_pick_the_average_where_there_is_one():
  class State:  # pylint: disable=too-few-public-methods
    params = {'decoder': {'w': np.zeros(2)}}
    batch_stats = {'decoder': {'mean': np.zeros(1)}}
    ema = None
  variables, which = ema.decoder_variables(State())
  assert which == 'decoder' and variables['params'] is State.params['decoder']
  State.ema = {'params': {'w': np.ones(2)}, 'batch_stats': {'mean': np.ones(1)}}
  variables, which = ema.decoder_variables(State())
  assert which == 'ema' and variables['params'] is State.ema['params']
  assert ema.decoder_variables(State(), use_ema=False)[1] == 'decoder'


def _decoder(state):
  return ema.init(state.params['decoder'], state.batch_stats['decoder'])


def test_the_step_moves_the_average_after_the_decoders_update():
  config = helpers.tiny_config(model__ema_decay=0.9,
                               loss__equilibrium_gating=False)
  state = state_lib.create_train_state(config, jax.random.key(0))
  chex.assert_trees_all_equal(state.ema, _decoder(state))
  batch = {'image': jnp.asarray(helpers.random_images(config, 8))}
  new, metrics = jax.jit(algorithm.make_train_step(config))(
      state, batch, jax.random.key(1))
  # 0.9 · the average before + 0.1 · the decoder after its update.
  want = jax.tree.map(lambda old, x: 0.9 * old + 0.1 * x, state.ema,
                      _decoder(new))
  chex.assert_trees_all_close(new.ema, want, rtol=1e-6, atol=1e-7)
  assert helpers.max_abs_diff(new.ema, _decoder(new)) > 0
  assert float(metrics['ema_decay']) == pytest.approx(0.9)
  off = state_lib.create_train_state(helpers.tiny_config(), jax.random.key(0))
  assert off.ema is None


def _run_config(num_steps, **overrides):
  return helpers.run_config(num_steps, **{'model__ema_decay': 0.9,
                                          **overrides})


# Exact resume with the average on: tests/test_train.py::test_resume_is_exact.


@pytest.mark.parametrize('saved', ['without the field', 'with it off'])
def test_a_checkpoint_without_the_average_starts_it_from_its_decoder(
    tmp_path, caplog, saved):
  # A checkpoint written before TrainState had `ema`, or by a run with it
  # off, resumed with it on.
  state = state_lib.create_train_state(helpers.tiny_config(),
                                       jax.random.key(0))
  old = {k: getattr(state, k)
         for k in ('step', 'params', 'batch_stats', 'opt_state')}
  if saved == 'with it off':
    old = state
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  ckpt.save(5, old, {'position': 7})
  ckpt.close()
  config = helpers.tiny_config(model__ema_decay=0.99)
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path), read_only=True)
  try:
    with caplog.at_level(logging.WARNING):
      restored, data_state, _ = ckpt.restore_newest(
          state_lib.abstract_train_state(config))
  finally:
    ckpt.close()
  assert data_state == {'position': 7}
  chex.assert_trees_all_equal(jax.device_get(restored.ema),
                              jax.device_get(_decoder(state)))
  chex.assert_trees_all_equal(jax.device_get(restored.params),
                              jax.device_get(state.params))
  assert 'Checkpoint 5 has no average of the decoder' in caplog.text


@pytest.mark.slow  # a training run with its evaluation
def test_evaluation_export_and_load_sample_with_the_average(tmp_path):
  workdir = str(tmp_path / 'run')
  config = _run_config(2, model__ema_decay=0.5)
  train.train_and_evaluate(config, workdir)
  scored = json.loads((tmp_path / 'run' / 'eval_metrics.json').read_text())
  assert scored['decoders'] == {'samples': 'ema',
                                'reconstructions': 'decoder'}
  path = modes.export_checkpoint(config, workdir, 'latest', str(tmp_path))
  exported_config, variables = export.load(path)
  decoder = networks.build(exported_config).decoder
  codes = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
  decode = lambda v: np.asarray(decoder.apply(v, codes, train=False))
  model = vaegan_jax.load(workdir)
  np.testing.assert_allclose(decode(export.sampling_decoder(variables)),
                             model.decode(codes), atol=1e-5)
  # Samples: the prior codes of the seed (`Inference.prior`), decoded by
  # the average, not by the decoder.
  prior = np.asarray(jax.random.normal(jax.random.key(3), (5, 8)))
  np.testing.assert_allclose(model.sample(5, seed=3), np.asarray(
      decoder.apply(variables['decoder_ema'], prior, train=False)), atol=1e-5)
  assert np.abs(decode(variables['decoder']) - model.decode(codes)).max() > 1e-4
