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


class _Counting:
  """Batches i = 0..n-1 of rows filled with i, and the state {'next': i}."""

  def __init__(self, n):
    self.n, self.i, self.closed = n, 0, False

  def __next__(self):
    if self.i == self.n:
      raise StopIteration
    self.i += 1
    return {'image': np.full((8, 2), self.i - 1, np.float32)}

  def get_state(self):
    return {'next': self.i}

  def close(self):
    self.closed = True


def test_device_prefetch_reads_ahead_and_reports_the_consumed_position():
  mesh = parallel.make_mesh()
  source = _Counting(5)
  batches = parallel.DevicePrefetch(source, mesh, size=2)
  assert batches.get_state() == {'next': 0}
  first = next(batches)
  assert source.i == 2  # one batch already on the devices
  assert first['image'].sharding == parallel.data_sharded(mesh)
  np.testing.assert_array_equal(np.asarray(first['image']), 0)
  # A checkpoint now must resume at batch 1, not after the read-ahead.
  assert batches.get_state() == {'next': 1}
  rest = [int(np.asarray(b['image'])[0, 0]) for b in batches]
  assert rest == [1, 2, 3, 4]  # every batch once, in order, to the end
  assert batches.get_state() == {'next': 5}
  batches.close()
  assert source.closed


def test_device_prefetch_rejects_a_size_below_one():
  with pytest.raises(ValueError, match='prefetch_to_device'):
    parallel.DevicePrefetch(_Counting(1), parallel.make_mesh(), size=0)
