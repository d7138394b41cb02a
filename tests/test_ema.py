"""The decoder's exponential moving average (StyleGAN's G_ema): the update
rule and its decay against hand computations."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from tests import helpers
from vaegan_jax.model import ema


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
