"""Meshes, shardings and batched application; the step on several devices.

The multi-device checks run in a subprocess with simulated CPU devices
(`helpers.run_on_devices`); the test process itself has one device.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests import helpers
from vaegan_jax import data
from vaegan_jax.model import layers
from vaegan_jax import parallel
from vaegan_jax.model import state as state_lib
from vaegan_jax.model import algorithm as step_lib

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


def four_devices_match_one():
  assert jax.device_count() == 4
  config = helpers.tiny_config(loss__equilibrium_gating=False)
  (state1, metrics1), _ = _run(config, jax.devices()[:1])
  (state4, metrics4), batch = _run(config, jax.devices())
  # The batch really is split: 4 shards of 2 rows on 4 devices.
  shards = batch['image'].addressable_shards
  assert len({s.device for s in shards}) == 4
  assert all(s.data.shape == (2, 28, 28, 1) for s in shards)
  # Cross-device reductions (BatchNorm statistics, gradient sums) change
  # the summation order only: agreement to float32 rounding, amplified by
  # two steps (relative 1e-4 of each parameter's scale).
  for net in ('encoder', 'decoder', 'discriminator'):
    chex.assert_trees_all_close(state4.params[net], state1.params[net],
                                rtol=1e-4, atol=1e-5)
  for key in ('loss/kl', 'loss/llike', 'loss/gan_d', 'loss/gan_g'):
    np.testing.assert_allclose(metrics4[key], metrics1[key], rtol=1e-4)


def batched_on_three_devices():
  assert jax.device_count() == 3
  _check_batched(parallel.make_mesh(), batch_size=4, expected_size=6)


@pytest.mark.slow
def test_four_devices_match_one():
  helpers.run_on_devices(4, 'tests.test_parallel', 'four_devices_match_one')


@pytest.mark.slow
def test_batched_splits_batches_across_devices():
  helpers.run_on_devices(3, 'tests.test_parallel', 'batched_on_three_devices')


def _check_batched(mesh, batch_size, expected_size):
  assert parallel.batch_size_for(batch_size, mesh) == expected_size
  calls = []

  def fn(variables, x):
    calls.append(x.shape)  # traced once per compilation
    return {'sum': jnp.sum(x, axis=(1, 2)) * variables['scale'],
            'first': x[:, 0, 0]}

  apply = parallel.batched(fn, mesh, batch_size)
  variables = parallel.replicate({'scale': np.float32(2.0)}, mesh)
  rng = np.random.default_rng(0)
  for n in (1, expected_size, 2 * expected_size + 1):
    x = rng.normal(size=(n, 3, 2)).astype(np.float32)
    out = apply(variables, x)
    np.testing.assert_allclose(out['sum'], 2 * x.sum(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(out['first'], x[:, 0, 0])
  assert calls == [(expected_size, 3, 2)]  # one compilation for every n


def test_batched_pads_the_last_batch_and_compiles_once():
  _check_batched(parallel.make_mesh(), batch_size=4, expected_size=4)
  with pytest.raises(ValueError, match='No rows'):
    parallel.batched(lambda v, x: x, parallel.make_mesh(), 4)(
        {}, np.zeros((0, 2), np.float32))


def test_compiler_options_give_the_same_results():
  assert parallel.compiler_options('gpu') is None
  options = parallel.compiler_options('cpu')
  if options is None:
    pytest.skip('this XLA does not take the CPU options')
  x = jax.random.normal(jax.random.key(15), (2, 8, 8, 3))
  kernel = jax.random.normal(jax.random.key(16), (5, 5, 3, 4))
  f = lambda x, w: jax.grad(lambda w: jnp.sum(layers.conv_general_dilated(
      x, w, (2, 2), ((2, 2), (2, 2)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')) ** 2))(w)
  chex.assert_trees_all_close(jax.jit(f, compiler_options=options)(x, kernel),
                              jax.jit(f)(x, kernel), atol=1e-4, rtol=1e-5)


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
  batches = data.DevicePrefetch(source, mesh, size=2)
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
