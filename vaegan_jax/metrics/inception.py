"""The FID Inception-v3 in flax.linen, returning its 2048-d pool3 features.

This is the network of the TensorFlow FID reference (Heusel et al. 2017,
`inception-2015-12-05`) as pytorch-fid ports it: torchvision's Inception-v3
with the FID variants of its blocks (average pools that do not count the
padding; a max pool in the last block). Module and parameter names follow
the PyTorch state dict (`Mixed_5b/branch1x1/conv/kernel`), so that
`convert_inception` maps pytorch-fid's weights one to one.

Images go in as float32 [N, H, W, C] in [-1, 1] (C = 1 or 3); `preprocess`
repeats grayscale to RGB and resizes bilinearly to 299x299 without
antialiasing, as `torch.nn.functional.interpolate(..., 'bilinear',
align_corners=False)` does in pytorch-fid. The network expects [-1, 1].
"""

import functools
import zipfile
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from etils import epath

from vaegan_jax import errors

INPUT_SIZE = 299
FEATURE_DIM = 2048
WEIGHTS_FILE = 'inception_fid.npz'
TORCH_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
TORCH_WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/'
                     'download/fid_weights/' + TORCH_WEIGHTS_FILE)

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
  """[N, 299, 299, 3] in [-1, 1] -> [N, 2048] pool3 features."""
  precision: Precision = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x):
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
    return jnp.mean(x, axis=(1, 2))


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


@functools.cache
def variable_shapes() -> dict[str, tuple[int, ...]]:
  """The shape of every variable of the network, by flat name.

  Returns:
    {'params/Mixed_5b/branch1x1/conv/kernel': shape, ...}, the
    'batch_stats' collection included.
  """
  abstract = jax.eval_shape(
      FIDInceptionV3().init, jax.random.key(0),
      jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32))
  flat = jax.tree_util.tree_flatten_with_path(abstract)[0]
  return {'/'.join(k.key for k in path): leaf.shape for path, leaf in flat}


def check_variables(flat: dict[str, np.ndarray], source: str) -> None:
  """Checks that flat weights fit the network: names and shapes.

  Args:
    flat: {'params/.../kernel': array, ...}.
    source: where they came from, for the error message.

  Raises:
    ValueError: naming the missing, unexpected and misshapen entries.
  """
  expected = variable_shapes()
  missing = sorted(set(expected) - set(flat))
  unexpected = sorted(set(flat) - set(expected))
  wrong = sorted(k for k in set(expected) & set(flat)
                 if tuple(flat[k].shape) != tuple(expected[k]))
  if missing or unexpected or wrong:
    raise ValueError(
        f'{source} does not hold the FID Inception weights: '
        f'{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} '
        f'unexpected (e.g. {unexpected[:3]}), {len(wrong)} of the wrong shape '
        f'(e.g. {wrong[:3]}). Convert {TORCH_WEIGHTS_FILE} with '
        f'`python -m vaegan_jax.metrics.convert_inception`.')


def unflatten(flat: dict[str, np.ndarray]) -> dict[str, Any]:
  """Nests flat weights by their '/'-separated names.

  Args:
    flat: e.g. {'a/b/c': x}.

  Returns:
    e.g. {'a': {'b': {'c': x}}}.
  """
  tree: dict[str, Any] = {}
  for key, value in flat.items():
    *parents, leaf = key.split('/')
    node = tree
    for name in parents:
      node = node.setdefault(name, {})
    node[leaf] = value
  return tree


def missing_weights_message(path: str) -> str:
  """What to do when the converted weights are not at `path`.

  Args:
    path: where they were looked for.

  Returns:
    The message: where to download pytorch-fid's file and how to convert it.
  """
  return (
      f'FID Inception weights not found at {path!r}. Download pytorch-fid\'s '
      f'{TORCH_WEIGHTS_FILE} from {TORCH_WEIGHTS_URL} and convert it once '
      f'(needs torch): `python -m vaegan_jax.metrics.convert_inception '
      f'{TORCH_WEIGHTS_FILE} {WEIGHTS_FILE}`; then pass that .npz path.')


def _bad_file(path, why: str) -> errors.BadFileError:
  return errors.BadFileError(
      f'{path} is not the converted FID Inception weights: {why}. Convert '
      f'pytorch-fid\'s {TORCH_WEIGHTS_FILE} once with `python -m '
      f'vaegan_jax.metrics.convert_inception {TORCH_WEIGHTS_FILE} '
      f'{WEIGHTS_FILE}` and pass that .npz file.')


def load_variables(path: str) -> dict[str, Any]:
  """Loads the converted FID Inception weights from an .npz file.

  Args:
    path: the file written by `convert_inception`.

  Returns:
    {'params': ..., 'batch_stats': ...} for `FIDInceptionV3().apply`.

  Raises:
    errors.MissingFileError: there is no file at `path`.
    errors.BadFileError: it is not such weights (a directory, an empty,
      truncated or other file), with what to do.
  """
  path = epath.Path(path)
  if not path.exists():
    raise errors.MissingFileError(missing_weights_message(str(path)))
  if path.is_dir():
    raise _bad_file(path, 'it is a directory')
  try:
    with path.open('rb') as f:
      data = np.load(f, allow_pickle=False)
      if not isinstance(data, np.lib.npyio.NpzFile):
        raise _bad_file(path, 'it holds a single array (.npy), not the '
                        'named arrays of an .npz file')
      with data:
        flat = {k: np.asarray(data[k], np.float32) for k in data.files}
  except errors.BadFileError:
    raise
  except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
    why = ('it is empty' if path.stat().length == 0 else
           'it is not an .npz file' if 'pickle' in str(e) else
           f'it cannot be read ({type(e).__name__}: {e})')
    raise _bad_file(path, why) from None
  try:
    check_variables(flat, repr(str(path)))
  except ValueError as e:
    raise errors.BadFileError(str(e)) from None
  return unflatten(flat)


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
