"""Data parallelism with `jax.jit` over a one-axis device mesh.

Parameters and optimizer states are replicated, the batch is split along
the mesh's 'data' axis, and the compiler inserts the cross-device reductions
(BatchNorm statistics and gradients are over the global batch, so N devices
compute what one device would).
"""

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


def jit_train_step(train_step: Callable, mesh: Mesh, donate: bool = True
                   ) -> Callable:
  """Compiles `train_step(state, batch, rng)` for `mesh`.

  Args:
    train_step: a pure step, e.g. from `step.make_train_step`.
    mesh: the device mesh.
    donate: donate the input state's buffers to the output state (the input
      state must not be used after the call).

  Returns:
    The jitted step: state and rng replicated, batch sharded by rows,
    compiled with `layers.compiler_options` for the mesh's platform.
  """
  rep = replicated(mesh)
  return jax.jit(train_step,
                 in_shardings=(rep, data_sharded(mesh), rep),
                 out_shardings=(rep, rep),
                 donate_argnums=(0,) if donate else (),
                 compiler_options=layers.compiler_options(
                     mesh.devices.flat[0].platform))
