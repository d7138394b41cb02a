"""Data parallelism with `jax.jit` over a one-axis device mesh.

Parameters and optimizer states are replicated, the batch is split along
the mesh's 'data' axis, and the compiler inserts the cross-device reductions
(BatchNorm statistics and gradients are over the global batch, so N devices
compute what one device would).
"""

import collections
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from vaegan_jax import layers

DATA_AXIS = 'data'


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh named 'data' over `devices` (default: all, of all hosts)."""
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,),
                       axis_types=(AxisType.Auto,), devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places every array of `tree` on every device of `mesh`."""
  return jax.device_put(tree, replicated(mesh))


def check_batch_size(global_batch_size: int, mesh: Mesh) -> None:
  """Raises a clear error when the batch cannot be split evenly."""
  n = mesh.devices.size
  if global_batch_size % n:
    raise ValueError(
        f'config.train.batch_size={global_batch_size} is not divisible by '
        f'the {n} devices of the mesh; use a multiple of {n}.')


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Assembles this process's part of the batch into one global array.

  Each process passes the rows it read itself (the whole batch when there
  is one process); the result is split along the mesh's data axis.
  """
  sharding = data_sharded(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def padded_chunks(x: np.ndarray, size: int):
  """Yields (chunk, rows): `x` in chunks of exactly `size` rows, the last
  padded with zeros, and how many of its rows are real. One compiled
  function then serves any number of rows."""
  for start in range(0, len(x), size):
    chunk = x[start:start + size]
    rows = len(chunk)
    if rows < size:
      chunk = np.concatenate(
          [chunk, np.zeros((size - rows, *chunk.shape[1:]), chunk.dtype)])
    yield chunk, rows


class DevicePrefetch:
  """Batches of an iterator, sharded onto the mesh `size` steps ahead.

  Each batch is copied to the devices (`shard_batch`) while earlier steps
  still run, so the step never waits for a host-to-device transfer.
  `get_state()` is the wrapped iterator's state after the last batch handed
  out, not after those read ahead: a checkpoint taken after step N resumes
  at batch N + 1.
  """

  def __init__(self, iterator, mesh: Mesh, size: int = 2):
    if size < 1:
      raise ValueError(f'config.train.prefetch_to_device={size}: prefetch at '
                       'least 1 batch.')
    self._iterator, self._mesh, self._size = iterator, mesh, size
    self._queue = collections.deque()
    self._state = iterator.get_state()

  def __iter__(self) -> 'DevicePrefetch':
    return self

  def __next__(self) -> dict[str, jax.Array]:
    try:
      while len(self._queue) < self._size:
        batch = shard_batch(next(self._iterator), self._mesh)
        self._queue.append((batch, self._iterator.get_state()))
    except StopIteration:
      if not self._queue:
        raise
    batch, self._state = self._queue.popleft()
    return batch

  def get_state(self) -> Any:
    """The wrapped iterator's state after the last batch returned."""
    return self._state

  def close(self) -> None:
    self._queue.clear()
    self._iterator.close()


def jit_train_step(train_step: Callable, mesh: Mesh, donate: bool = True,
                   compiler_options: dict[str, str] | None = None
                   ) -> Callable:
  """Compiles `train_step(state, batch, rng)` for `mesh`.

  Args:
    train_step: a pure step, e.g. from `step.make_train_step`.
    mesh: the device mesh.
    donate: donate the input state's buffers to the output state (the input
      state must not be used after the call).
    compiler_options: XLA options; None: `layers.compiler_options` for the
      mesh's platform, {}: XLA's defaults.

  Returns:
    The jitted step: state and rng replicated, batch sharded by rows.
  """
  if compiler_options is None:
    compiler_options = layers.compiler_options(mesh.devices.flat[0].platform)
  rep = replicated(mesh)
  return jax.jit(train_step,
                 in_shardings=(rep, data_sharded(mesh), rep),
                 out_shardings=(rep, rep),
                 donate_argnums=(0,) if donate else (),
                 compiler_options=compiler_options)
