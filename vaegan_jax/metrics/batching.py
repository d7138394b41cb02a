"""Applying a feature network to many images in fixed-size batches.

One compilation serves every call: each batch has the same shape, the last
one padded with zeros and its padding rows dropped, and at most two batches
are on the device at a time, so that memory does not grow with the number
of samples. With a mesh, each batch is split along
its 'data' axis (the network's variables are replicated).
"""

from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh

from vaegan_jax import parallel

FeatureFn = Callable[[np.ndarray], np.ndarray]


def batched(apply: Callable[[Any, jax.Array], jax.Array], variables: Any,
            batch_size: int, mesh: Mesh | None = None) -> FeatureFn:
  """Wraps `apply(variables, images)` to run over any number of images.

  Args:
    apply: a pure function of (variables, [B, H, W, C] images) returning
      [B, D] features.
    variables: its weights, placed on the device(s) once.
    batch_size: images per call of `apply`; with a mesh, a multiple of its
      number of devices.
    mesh: optional device mesh with a 'data' axis to split batches over.

  Returns:
    features(images [N, H, W, C]) -> float32 numpy [N, D].
  """
  if mesh is None:
    jitted = jax.jit(apply)
    variables = jax.device_put(variables)
    put = jax.device_put
  else:
    parallel.check_batch_size(batch_size, mesh)
    jitted = jax.jit(apply, in_shardings=(parallel.replicated(mesh),
                                          parallel.data_sharded(mesh)),
                     out_shardings=parallel.replicated(mesh))
    variables = parallel.replicate(variables, mesh)
    put = lambda x: jax.device_put(x, parallel.data_sharded(mesh))

  def features(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, np.float32)
    n = images.shape[0]
    if n == 0:
      raise ValueError('No images to compute features of.')
    outputs, in_flight = [], None
    for batch, _ in parallel.padded_chunks(images, batch_size):
      result = jitted(variables, put(batch))
      # Fetch the previous batch while this one runs: at most two batches
      # are on the device at a time.
      if in_flight is not None:
        outputs.append(np.asarray(in_flight))
      in_flight = result
    outputs.append(np.asarray(in_flight))
    return np.concatenate(outputs)[:n]

  return features
