"""Data parallelism with `jax.jit` over a one-axis mesh of every device.

Parameters and optimizer states are replicated, batches are split along the
mesh's 'data' axis, and the compiler inserts the cross-device reductions
(BatchNorm statistics and gradients are over the global batch, so N devices
compute what one device would). With several processes (hosts) the mesh
spans all their devices; each process passes the rows it holds.

This module owns the meshes, the shardings, the one jit-with-shardings
helper (`jit`, with the XLA options of `compiler_options`) and the one
helper applying a function to any number of rows (`batched`).
"""

import functools
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'

# XLA:CPU (jaxlib 0.10) gives convolutions to YNNPACK by default. Its
# filter-gradient convolutions (an image-sized window) run 4-12x slower than
# XLA's own Eigen convolutions on AVX2 CPUs and up to 2.7x slower on AVX-512
# (Zen 4), its forward ones no faster but for 1-3 channels; this keeps
# YNNPACK for dots and reductions only, on both CPU families (one setting
# won on both: docs/benchmarks.md). XLA's oneDNN options compile on AMD
# CPUs but hand it nothing.
CPU_COMPILER_OPTIONS = {
    'xla_cpu_experimental_ynn_fusion_type':
        'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE',
}


@functools.lru_cache(maxsize=None)
def compiler_options(backend: str | None = None) -> dict[str, str] | None:
  """XLA options for jitting the networks on `backend`.

  Args:
    backend: 'cpu', 'gpu', 'tpu'; default `jax.default_backend()`.

  Returns:
    `CPU_COMPILER_OPTIONS` on a CPU whose XLA accepts them (checked once by
    compiling a trivial function), else None (XLA's defaults).
  """
  backend = backend or jax.default_backend()
  if backend != 'cpu':
    return None
  try:
    jax.jit(lambda x: x + 1, compiler_options=CPU_COMPILER_OPTIONS).lower(
        jnp.zeros((), jnp.float32)).compile()
  except Exception:  # pylint: disable=broad-except
    return None  # another XLA version: its defaults
  return dict(CPU_COMPILER_OPTIONS)


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh named 'data' over `devices` (default: all, of all hosts)."""
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,),
                       axis_types=(AxisType.Auto,), devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array."""
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  """Rows split across the devices."""
  return NamedSharding(mesh, P(DATA_AXIS))


def _global_from_host(x: Any, sharding: NamedSharding) -> jax.Array:
  """An array every process holds in full, as one global array."""
  if isinstance(x, jax.Array) and x.sharding == sharding:
    return x
  x = np.asarray(jax.device_get(x))
  return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places every array of `tree` on every device of `mesh`.

  Each process must pass the same values (e.g. a fresh state from the same
  seed, or weights read from the same file).
  """
  sharding = replicated(mesh)
  return jax.tree.map(lambda x: _global_from_host(x, sharding), tree)


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh
                ) -> dict[str, jax.Array]:
  """Assembles this process's rows of a batch into one global array.

  Each process passes the rows it read itself (the whole batch when there
  is one process); the result is split along the mesh's data axis.
  """
  sharding = data_sharded(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def jit(fn: Callable, mesh: Mesh, in_shardings: Any, out_shardings: Any,
        donate_argnums: tuple[int, ...] = (),
        options: dict[str, str] | None = None) -> Callable:
  """`jax.jit` for `mesh`, with the XLA options of its platform.

  Args:
    fn: the function.
    mesh: the device mesh.
    in_shardings, out_shardings: as `jax.jit`'s (e.g. `replicated(mesh)`).
    donate_argnums: as `jax.jit`'s.
    options: XLA options; None: `compiler_options` of the mesh's platform,
      {}: XLA's defaults.

  Returns:
    The jitted function.
  """
  if options is None:
    options = compiler_options(mesh.devices.flat[0].platform)
  return jax.jit(fn, in_shardings=in_shardings, out_shardings=out_shardings,
                 donate_argnums=donate_argnums, compiler_options=options)


def jit_train_step(train_step: Callable, mesh: Mesh, donate: bool = True,
                   compiler_options: dict[str, str] | None = None
                   ) -> Callable:
  """Compiles `train_step(state, batch, rng)` for `mesh`.

  Args:
    train_step: a pure step, e.g. from `algorithm.make_train_step`.
    mesh: the device mesh.
    donate: donate the input state's buffers to the output state (the input
      state must not be used after the call).
    compiler_options: XLA options; None: those of the mesh's platform, {}:
      XLA's defaults.

  Returns:
    The jitted step: state and rng replicated, batch sharded by rows.
  """
  rep = replicated(mesh)
  return jit(train_step, mesh, (rep, data_sharded(mesh), rep), (rep, rep),
             donate_argnums=(0,) if donate else (), options=compiler_options)


def batch_size_for(requested: int, mesh: Mesh) -> int:
  """`requested` rounded up to a multiple of the mesh's device count."""
  n = mesh.devices.size
  return max(n, -(-requested // n) * n)


def _padded_chunks(rows: Any, size: int) -> Iterator[tuple[Any, int]]:
  """`rows` (arrays, or a pytree of arrays with the same number of rows) in
  chunks of exactly `size` rows, the last padded with zeros, and the number
  of real rows in each."""
  total = len(jax.tree.leaves(rows)[0])
  for start in range(0, total, size):
    real = min(size, total - start)

    def chunk(x, start=start, real=real):
      part = x[start:start + real]
      if real < size:
        part = np.concatenate(
            [part, np.zeros((size - real, *part.shape[1:]), part.dtype)])
      return part

    yield jax.tree.map(chunk, rows), real


def batched(fn: Callable[[Any, jax.Array], Any], mesh: Mesh,
            batch_size: int) -> Callable[[Any, Any], Any]:
  """Wraps `fn(variables, rows)` to run over any number of rows.

  The one rule for every batched application (inference, feature networks):
  rows go in batches of exactly `batch_size_for(batch_size, mesh)` rows, each
  split across the devices; the last batch is padded with zeros and its
  padding dropped from the outputs. One compilation serves every call, and
  at most two batches are on the devices at a time. Every process must pass
  the same rows; each gets every output.

  Args:
    fn: a pure function of (variables, rows) returning arrays (or a pytree of
      arrays) with as many rows; `rows` is an array [B, ...] or a pytree of
      them (e.g. images and their conditions).
    mesh: the device mesh.
    batch_size: the rows per call of `fn` wanted.

  Returns:
    apply(variables, rows [N, ...]) -> numpy outputs with N rows;
    `variables` replicated on the mesh (`replicate`).
  """
  size = batch_size_for(batch_size, mesh)
  rows_sharding, rep = data_sharded(mesh), replicated(mesh)
  jitted = jit(fn, mesh, (rep, rows_sharding), rep)

  def apply(variables: Any, rows: Any) -> Any:
    rows = jax.tree.map(lambda x: np.asarray(x, np.float32), rows)
    if len(jax.tree.leaves(rows)[0]) == 0:
      raise ValueError('No rows to apply the network to.')
    outputs, in_flight = [], None
    for chunk, real in _padded_chunks(rows, size):
      result = jitted(variables, jax.tree.map(
          lambda x: _global_from_host(x, rows_sharding), chunk))
      # Fetch the previous batch while this one runs.
      if in_flight is not None:
        outputs.append(jax.device_get(in_flight))
      in_flight = (result, real)
    outputs.append(jax.device_get(in_flight))
    return jax.tree.map(lambda *o: np.concatenate(o),
                        *[jax.tree.map(lambda x, k=k: np.asarray(x)[:k], out)
                          for out, k in outputs])

  return apply
