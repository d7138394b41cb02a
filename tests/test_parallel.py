"""The step on several (simulated) devices: same result, split batch, one
compilation."""

import chex
import jax
import numpy as np
import pytest

from tests import helpers
from vaegan_jax import parallel
from vaegan_jax import state as state_lib
from vaegan_jax import step as step_lib

RNG = jax.random.key(7)


def _run(config, devices, steps=2):
  chex.clear_trace_counter()
  mesh = parallel.make_mesh(devices)
  state = parallel.replicate(
      state_lib.create_train_state(config, jax.random.key(0)), mesh)
  train_step = parallel.jit_train_step(
      chex.assert_max_traces(step_lib.make_train_step(config), n=1), mesh)
  for i in range(steps):
    batch = parallel.shard_batch(
        {'image': helpers.random_images(config, 8, seed=i)}, mesh)
    state, metrics = train_step(state, batch, RNG)
  return jax.device_get((state, metrics)), batch


def test_four_devices_match_one():
  assert jax.device_count() == 4  # set in conftest.py
  config = helpers.tiny_config(loss__equilibrium_gating=False)
  (state1, metrics1), _ = _run(config, jax.devices()[:1])
  (state4, metrics4), batch = _run(config, jax.devices())
  # The batch really is split: 4 shards of 2 rows on 4 devices.
  shards = batch['image'].addressable_shards
  assert len({s.device for s in shards}) == 4
  assert all(s.data.shape == (2, 28, 28, 1) for s in shards)
  # Cross-device reductions (BatchNorm statistics, gradient sums) change
  # the summation order only: agreement to float32 rounding, amplified by
  # two RMSProp steps (relative 1e-4 of each parameter's scale).
  for net in ('encoder', 'decoder', 'discriminator'):
    chex.assert_trees_all_close(state4.params[net], state1.params[net],
                                rtol=1e-4, atol=1e-5)
  for key in ('loss/kl', 'loss/llike', 'loss/gan_d', 'loss/gan_g'):
    np.testing.assert_allclose(metrics4[key], metrics1[key], rtol=1e-4)


def test_batch_not_divisible_by_devices_is_a_clear_error():
  mesh = parallel.make_mesh()
  with pytest.raises(ValueError, match='batch_size=6 .* 4 devices'):
    parallel.check_batch_size(6, mesh)
