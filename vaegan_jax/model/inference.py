"""A model's networks on numpy arrays of any length, and latent arithmetic.

`Inference` encodes, decodes and discriminates arrays in fixed-size batches
split across the mesh's devices (`parallel.batched`), so every call shape
compiles once; BatchNorm uses its running statistics. It checks what it is
given: images uint8 in [0, 255] (converted as the data pipeline converts a
pixel) or float in [-1, 1], of the model's size; codes of its latent size.
Anything else is a ValueError of one line saying what is expected. The functions below it
do the arithmetic of latent codes: interpolation and attribute vectors.
"""

import functools
from typing import Any

import jax
import ml_collections
import numpy as np

from vaegan_jax.model import architectures
from vaegan_jax.model import ema
from vaegan_jax.model import networks
from vaegan_jax import parallel
from vaegan_jax.model import state as state_lib

PyTree = Any
INTERPOLATIONS = ('linear', 'slerp')
# How far outside [-1, 1] a float image may reach (rounding of a resize or
# a colour conversion) before it is taken for another scale.
RANGE_TOLERANCE = 1e-3


class Inference:
  """Jitted, batched encode / decode / discriminate for one config.

  A conditional model (`config.model.conditional`) takes a condition with
  every image or code: float [N, K] vectors (one-hot classes or multi-hot
  attributes), or int [N] class labels.

  Args:
    config: the run's configuration.
    mesh: device mesh (default: all devices).
    batch_size: rows per compiled call (rounded up to a multiple of the
      device count).
  """

  def __init__(self, config: ml_collections.ConfigDict, mesh=None,
               batch_size: int = 256):
    self.mesh = mesh or parallel.make_mesh()
    self.nets = networks.build(config)
    self.latent_dim = architectures.latent_dim(config)
    self.condition_shape = state_lib.condition_shape(config)
    self.image_shape = (config.data.image_size, config.data.image_size,
                        config.data.channels)

    def apply(net, variables, rows):
      x, condition = rows if self.condition_shape else (rows, None)
      return self.nets.apply(net, variables, x, condition, train=False)

    self._apply = {net: parallel.batched(functools.partial(apply, net),
                                         self.mesh, batch_size)
                   for net in networks.NETWORKS}

  def images(self, images: Any) -> np.ndarray:
    """float32 [N, H, W, C] in [-1, 1] from uint8 in [0, 255] or float in
    [-1, 1] of the model's image size.

    Raises:
      ValueError: another shape, dtype or range, in one line.
    """
    images = np.asarray(images)
    h, w, c = self.image_shape
    expected = (f'images [N, {h}, {w}, {c}], uint8 in [0, 255] or float in '
                '[-1, 1]')
    if images.ndim != 4 or images.shape[1:] != self.image_shape:
      single = (' (one image: add an axis, images[None])'
                if images.shape == self.image_shape else '')
      raise ValueError(f'This model takes {expected}; got shape '
                       f'{images.shape}{single}.')
    if images.dtype == np.uint8:  # as the data pipeline converts a pixel
      return images.astype(np.float32) / np.float32(127.5) - np.float32(1)
    if not np.issubdtype(images.dtype, np.floating):
      raise ValueError(f'This model takes {expected}; got dtype '
                       f'{images.dtype}.')
    low, high = (float(np.min(images)), float(np.max(images))
                 ) if images.size else (0.0, 0.0)
    if not (low >= -1 - RANGE_TOLERANCE and high <= 1 + RANGE_TOLERANCE):
      hint = (' (images in [0, 255]: pass them as uint8)'
              if 0 <= low and high <= 255 else '')
      raise ValueError(f'This model takes {expected}; got float values in '
                       f'[{low:.4g}, {high:.4g}]{hint}.')
    return np.clip(images, -1, 1).astype(np.float32)

  def codes(self, z: Any) -> np.ndarray:
    """float32 [N, D] codes of the model's latent size.

    Raises:
      ValueError: another shape or a non-numeric dtype, in one line.
    """
    z = np.asarray(z)
    if (z.ndim != 2 or z.shape[1] != self.latent_dim
        or not np.issubdtype(z.dtype, np.number)):
      raise ValueError(f'This model takes codes [N, {self.latent_dim}] of '
                       f'numbers; got shape {z.shape}, dtype {z.dtype}.')
    return z.astype(np.float32)

  def _rows(self, x: np.ndarray, conditions: np.ndarray | None) -> Any:
    if self.condition_shape is None:
      if conditions is not None:
        raise ValueError('This model is not conditional: pass no conditions.')
      return x
    if conditions is None:
      raise ValueError(
          f'This model is conditional: pass conditions, float [N, '
          f'{self.condition_shape[0]}] or int class labels [N].')
    conditions, k = np.asarray(conditions), self.condition_shape[0]
    if (conditions.shape[:1] != x.shape[:1] or conditions.ndim > 2
        or conditions.ndim == 2 and conditions.shape[1] != k):
      raise ValueError(
          f'This model takes conditions [N] (class labels) or [N, {k}] with '
          f'N = {len(x)} rows; got shape {conditions.shape}.')
    if conditions.ndim == 1:  # class labels
      if not (np.issubdtype(conditions.dtype, np.integer)
              and np.all((conditions >= 0) & (conditions < k))):
        raise ValueError(f'This model takes class labels, integers in [0, '
                         f'{k}); got {conditions.dtype} values in '
                         f'[{conditions.min()}, {conditions.max()}].')
      conditions = np.eye(k, dtype=np.float32)[conditions]
    return (x, conditions.astype(np.float32))

  def default_conditions(self, num: int) -> np.ndarray | None:
    """Conditions cycling through the classes (one-hot), or None."""
    if self.condition_shape is None:
      return None
    return np.eye(self.condition_shape[0], dtype=np.float32)[
        np.arange(num) % self.condition_shape[0]]

  @staticmethod
  def variables(state, net: str) -> PyTree:
    return {'params': state.params[net], 'batch_stats': state.batch_stats[net]}

  def encode(self, state, images: np.ndarray,
             conditions: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """images [N, H, W, C] in [-1, 1] (or uint8) -> (mean, logvar), each
    [N, D]."""
    rows = self._rows(self.images(images), conditions)
    return self._apply['encoder'](self.variables(state, 'encoder'), rows)

  def decode(self, state, z: np.ndarray,
             conditions: np.ndarray | None = None,
             average: bool = True) -> np.ndarray:
    """codes [N, D] -> images [N, H, W, C] in [-1, 1], by the decoder's
    moving average where `state` has one (`ema`) unless `average` is False.
    """
    rows = self._rows(self.codes(z), conditions)
    return self._apply['decoder'](ema.decoder_variables(state, average)[0],
                                  rows)

  def reconstruct(self, state, images: np.ndarray,
                  conditions: np.ndarray | None = None) -> np.ndarray:
    """Decodes the posterior means of `images` by the decoder the encoder
    was trained with (not its average)."""
    return self.decode(state, self.encode(state, images, conditions)[0],
                       conditions, average=False)

  def discriminate(self, state, images: np.ndarray,
                   conditions: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """images (as `encode`'s) -> (logits [N], Dis_l features [N, ...])."""
    rows = self._rows(self.images(images), conditions)
    return self._apply['discriminator'](
        self.variables(state, 'discriminator'), rows)

  def prior(self, num: int, seed: int) -> np.ndarray:
    """num codes from N(0, I), fixed by seed."""
    return np.asarray(jax.random.normal(jax.random.key(seed),
                                        (num, self.latent_dim)))

  def sample(self, state, num: int, seed: int,
             conditions: np.ndarray | None = None) -> np.ndarray:
    """Decodes `num` prior samples fixed by `seed` (a conditional model's
    cycle through the classes unless `conditions` are given)."""
    if conditions is None:
      conditions = self.default_conditions(num)
    return self.decode(state, self.prior(num, seed), conditions)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
  """Spherical interpolation between codes a and b at fractions t.

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


def interpolate(a: np.ndarray, b: np.ndarray, steps: int,
                method: str = 'linear') -> np.ndarray:
  """`steps` codes from a to b, both ends included.

  Args:
    a, b: [D] codes.
    steps: number of codes.
    method: 'linear' or 'slerp' (spherical).

  Returns:
    float32 [steps, D].
  """
  t = np.linspace(0.0, 1.0, steps)
  if method == 'linear':
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return ((1 - t[:, None]) * a + t[:, None] * b).astype(np.float32)
  if method == 'slerp':
    return slerp(a, b, t)
  raise ValueError(f'method must be one of {INTERPOLATIONS}, not {method!r}.')


def attribute_vectors(codes: np.ndarray, attributes: np.ndarray
                      ) -> np.ndarray:
  """Mean code of images with each attribute minus that of those without.

  Args:
    codes: [N, D] posterior means.
    attributes: [N, K] 1 where an image has attribute k, else 0.

  Returns:
    [K, D]; zero for an attribute all or none of the images have.
  """
  vectors = []
  for k in range(attributes.shape[1]):
    on = attributes[:, k] > 0
    if on.all() or not on.any():
      vectors.append(np.zeros(codes.shape[1], np.float32))
    else:
      vectors.append(codes[on].mean(0) - codes[~on].mean(0))
  return np.stack(vectors).astype(np.float32)
