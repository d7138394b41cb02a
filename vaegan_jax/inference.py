"""Encoding and decoding numpy arrays of any length with a trained model.

Arrays are cut into batches of a fixed size (the last one padded), each
split across the mesh's devices, so every call shape compiles once.
BatchNorm uses its running statistics (inference mode).
"""

import functools
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from vaegan_jax import layers
from vaegan_jax import losses
from vaegan_jax import models
from vaegan_jax import parallel

PyTree = Any


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
  """Spherical interpolation between rows of a and b at fractions t.

  Args:
    a, b: [D] codes.
    t: [T] fractions in [0, 1].

  Returns:
    [T, D]; linear where a and b are (anti)parallel.
  """
  a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), t[:, None]
  cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
  omega = np.arccos(np.clip(cos, -1.0, 1.0))
  if np.sin(omega) < 1e-6:
    return ((1 - t) * a + t * b).astype(np.float32)
  out = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
  return out.astype(np.float32)


class Inference:
  """Jitted, batched encode / decode / discriminate for one config.

  Args:
    config: the run's configuration.
    mesh: device mesh (default: all devices).
    batch_size: rows per compiled call; rounded up to a multiple of the
      device count.
  """

  def __init__(self, config: ml_collections.ConfigDict, mesh=None,
               batch_size: int = 256):
    self.mesh = mesh or parallel.make_mesh()
    n = self.mesh.devices.size
    self.batch_size = -(-batch_size // n) * n
    self.nets = models.build(config)
    self.latent_dim = models.latent_dim(config)
    rep, data = parallel.replicated(self.mesh), parallel.data_sharded(self.mesh)

    def jit(fn):
      return jax.jit(fn, in_shardings=(rep, data), out_shardings=rep,
                     compiler_options=layers.compiler_options(
                         self.mesh.devices.flat[0].platform))

    def apply(net, variables, x, **kwargs):
      return self.nets[net].apply(variables, x, train=False, **kwargs)

    self._encode = jit(functools.partial(apply, 'encoder'))
    self._decode = jit(functools.partial(apply, 'decoder'))
    self._discriminate = jit(functools.partial(apply, 'discriminator'))

  def _batched(self, fn: Callable, variables: PyTree, x: np.ndarray):
    """Applies fn to x in fixed-size padded batches; concatenates outputs."""
    outs = []
    for chunk, rows in parallel.padded_chunks(np.asarray(x, np.float32),
                                              self.batch_size):
      out = jax.device_get(fn(variables, chunk))
      outs.append(jax.tree.map(lambda o, k=rows: np.asarray(o)[:k], out))
    return jax.tree.map(lambda *o: np.concatenate(o), *outs)

  @staticmethod
  def variables(state, net: str) -> PyTree:
    return {'params': state.params[net], 'batch_stats': state.batch_stats[net]}

  def encode(self, state, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """images [N, H, W, C] in [-1, 1] -> (mean, logvar), each [N, D]."""
    return self._batched(self._encode, self.variables(state, 'encoder'),
                         images)

  def decode(self, state, z: np.ndarray) -> np.ndarray:
    """codes [N, D] -> images [N, H, W, C] in [-1, 1]."""
    return self._batched(self._decode, self.variables(state, 'decoder'), z)

  def reconstruct(self, state, images: np.ndarray) -> np.ndarray:
    """Decodes the posterior means of `images`."""
    return self.decode(state, self.encode(state, images)[0])

  def discriminate(self, state, images: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """images -> (logits [N], Dis_l features [N, ...])."""
    return self._batched(self._discriminate,
                         self.variables(state, 'discriminator'), images)

  def prior(self, num: int, seed: int) -> np.ndarray:
    """num codes from N(0, I), fixed by seed."""
    return np.asarray(jax.random.normal(jax.random.key(seed),
                                        (num, self.latent_dim)))

  def sample(self, state, num: int, seed: int) -> np.ndarray:
    """Decodes `num` prior samples fixed by `seed`."""
    return self.decode(state, self.prior(num, seed))


def kl_per_dimension(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
  """Mean over examples of KL(q(z_d|x) || N(0, 1)) for each dimension d."""
  kl = losses.kl_divergence(mean[..., None], logvar[..., None])  # [N, D]
  return np.asarray(kl).mean(axis=0)


def active_units(mean: np.ndarray, threshold: float = 0.01) -> int:
  """Dimensions whose posterior mean varies across examples (Burda et al.)."""
  return int(np.sum(np.var(mean, axis=0) > threshold))


def pixel_errors(images: np.ndarray, recon: np.ndarray) -> dict[str, float]:
  """Pixel MSE on the [0, 1] scale and PSNR in dB."""
  mse = float(np.mean(((np.asarray(images) - recon) / 2.0) ** 2))
  return {'recon_mse': mse, 'psnr': float(10 * np.log10(1.0 / max(mse, 1e-12)))}
