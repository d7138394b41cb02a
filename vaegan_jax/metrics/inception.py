"""The FID Inception-v3 in flax.linen, returning its 2048-d pool3 features.

This is the network of the TensorFlow FID reference (Heusel et al. 2017,
`inception-2015-12-05`) as pytorch-fid ports it: torchvision's Inception-v3
with the FID variants of its blocks (average pools that do not count the
padding; a max pool in the last block). Module and parameter names follow
the PyTorch state dict (`Mixed_5b/branch1x1/conv/kernel`), so that
`convert_inception` maps pytorch-fid's weights one to one.

The weights file, its reading and checking, are in `inception_weights`.

Images go in as float32 [N, H, W, C] in [-1, 1] (C = 1 or 3); `preprocess`
repeats grayscale to RGB and resizes bilinearly to 299x299 without
antialiasing, as `torch.nn.functional.interpolate(..., 'bilinear',
align_corners=False)` does in pytorch-fid. The network expects [-1, 1].
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008  # the TF graph's classifier (for the Inception Score)

Precision = Any


class BasicConv(nn.Module):
  """Convolution without bias, BatchNorm (eps 1e-3, running stats), ReLU."""
  features: int
  kernel_size: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)
  precision: Precision = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x):
    (ph, pw), s = self.padding, self.strides
    x = nn.Conv(self.features, self.kernel_size, (s, s),
                ((ph, ph), (pw, pw)), use_bias=False,
                precision=self.precision, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3(x):
  """3x3 stride-1 average over the unpadded pixels only (TensorFlow's)."""
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)),
                     count_include_pad=False)


class InceptionA(nn.Module):
  """Mixed_5b-d: 1x1, 5x5, double 3x3 and pooled branches."""
  pool_features: int
  precision: Precision = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv(*a, precision=self.precision, **k)
    b1 = conv(64, (1, 1), name='branch1x1')(x)
    b5 = conv(48, (1, 1), name='branch5x5_1')(x)
    b5 = conv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(b5)
    b3 = conv(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(b3)
    b3 = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(b3)
    bp = conv(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a: the 35 -> 17 reduction."""
  precision: Precision = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv(*a, precision=self.precision, **k)
    b3 = conv(384, (3, 3), strides=2, name='branch3x3')(x)
    bd = conv(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = conv(96, (3, 3), strides=2, name='branch3x3dbl_3')(bd)
    bp = nn.max_pool(x, (3, 3), (2, 2))
    return jnp.concatenate([b3, bd, bp], axis=-1)


class InceptionC(nn.Module):
  """Mixed_6b-e: factorised 7x7 branches."""
  channels_7x7: int
  precision: Precision = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv(*a, precision=self.precision, **k)
    c7 = self.channels_7x7
    b1 = conv(192, (1, 1), name='branch1x1')(x)
    b7 = conv(c7, (1, 1), name='branch7x7_1')(x)
    b7 = conv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = conv(c7, (1, 1), name='branch7x7dbl_1')(x)
    bd = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = conv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = conv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = conv(192, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a: the 17 -> 8 reduction."""
  precision: Precision = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv(*a, precision=self.precision, **k)
    b3 = conv(192, (1, 1), name='branch3x3_1')(x)
    b3 = conv(320, (3, 3), strides=2, name='branch3x3_2')(b3)
    b7 = conv(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = conv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = conv(192, (3, 3), strides=2, name='branch7x7x3_4')(b7)
    bp = nn.max_pool(x, (3, 3), (2, 2))
    return jnp.concatenate([b3, b7, bp], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b (average pool branch) and Mixed_7c (max pool branch)."""
  pool: str
  precision: Precision = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x):
    conv = lambda *a, **k: BasicConv(*a, precision=self.precision, **k)
    b1 = conv(320, (1, 1), name='branch1x1')(x)
    b3 = conv(384, (1, 1), name='branch3x3_1')(x)
    b3 = jnp.concatenate([
        conv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
        conv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], axis=-1)
    bd = conv(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = conv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([
        conv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
        conv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)],
        axis=-1)
    if self.pool == 'avg':
      pooled = _avg_pool_3x3(x)
    else:  # The FID network's last block pools by max (as its TF graph).
      pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
    bp = conv(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """[N, 299, 299, 3] in [-1, 1] -> [N, 2048] pool3 features, or with
  `logits=True` the 1008-way classifier's logits (`fc`, as the TF graph)."""
  precision: Precision = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x, logits: bool = False):
    p = dict(precision=self.precision)
    x = BasicConv(32, (3, 3), strides=2, name='Conv2d_1a_3x3', **p)(x)
    x = BasicConv(32, (3, 3), name='Conv2d_2a_3x3', **p)(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3', **p)(x)
    x = nn.max_pool(x, (3, 3), (2, 2))
    x = BasicConv(80, (1, 1), name='Conv2d_3b_1x1', **p)(x)
    x = BasicConv(192, (3, 3), name='Conv2d_4a_3x3', **p)(x)
    x = nn.max_pool(x, (3, 3), (2, 2))
    x = InceptionA(32, name='Mixed_5b', **p)(x)
    x = InceptionA(64, name='Mixed_5c', **p)(x)
    x = InceptionA(64, name='Mixed_5d', **p)(x)
    x = InceptionB(name='Mixed_6a', **p)(x)
    x = InceptionC(128, name='Mixed_6b', **p)(x)
    x = InceptionC(160, name='Mixed_6c', **p)(x)
    x = InceptionC(160, name='Mixed_6d', **p)(x)
    x = InceptionC(192, name='Mixed_6e', **p)(x)
    x = InceptionD(name='Mixed_7a', **p)(x)
    x = InceptionE('avg', name='Mixed_7b', **p)(x)
    x = InceptionE('max', name='Mixed_7c', **p)(x)
    x = jnp.mean(x, axis=(1, 2))
    if logits:
      return nn.Dense(NUM_CLASSES, precision=self.precision, name='fc')(x)
    return x


def preprocess(images: jax.Array) -> jax.Array:
  """[N, H, W, 1 or 3] in [-1, 1] -> [N, 299, 299, 3] as the network expects.

  Args:
    images: float images in [-1, 1]; grayscale is repeated to RGB.

  Returns:
    float32 images resized bilinearly (half-pixel centres, no antialiasing,
    as pytorch-fid) to 299x299, still in [-1, 1].
  """
  images = jnp.asarray(images, jnp.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'Expected [N, H, W, 1 or 3] images, got {images.shape}.')
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  shape = (images.shape[0], INPUT_SIZE, INPUT_SIZE, 3)
  # Bilinear interpolation is affine-invariant, so resizing in [-1, 1] equals
  # pytorch-fid's resizing in [0, 1] followed by x -> 2x - 1.
  return jax.image.resize(images, shape, 'bilinear', antialias=False)


def features_fn(precision: Precision = jax.lax.Precision.HIGHEST):
  """A pure function (variables, images in [-1, 1]) -> [N, 2048] features.

  Args:
    precision: precision of the convolutions ('highest' keeps float32 on
      accelerators that would otherwise round to bf16/tf32).

  Returns:
    The function, ready for `jax.jit`.
  """
  model = FIDInceptionV3(precision=precision)

  def apply(variables, images):
    return model.apply(variables, preprocess(images))

  return apply
