"""Feature extractors: images -> features, in fixed batches.

Every extractor first quantises its images to the 256 levels of an 8-bit
image (`quantize`), exactly as a saved PNG holds them: the FID of samples is
then the FID of the PNG files written from them, the protocol of pytorch-fid
and clean-fid, which score 8-bit images.
"""

from typing import Any, Callable

import numpy as np
from jax.sharding import Mesh

from vaegan_jax.data import images as images_lib
from vaegan_jax import parallel
from vaegan_jax.data import preprocess
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import inception
from vaegan_jax.metrics import inception_weights
from vaegan_jax.metrics import resize as resize_lib

FEATURE_KINDS = ('inception', 'digits')
FeatureFn = Callable[[np.ndarray], np.ndarray]
# features [N, D] -> class logits [N, K]: the network's last, linear layer.
ClassifierHead = Callable[[np.ndarray], np.ndarray]


def _linear_head(kernel: np.ndarray, bias: np.ndarray) -> ClassifierHead:
  kernel = np.asarray(kernel, np.float64)
  bias = np.asarray(bias, np.float64)
  return lambda features: np.asarray(features, np.float64) @ kernel + bias


def inception_head(weights_path: str) -> ClassifierHead | None:
  """The FID Inception's 1008-way classifier on its pool3 features, or None
  if the weights file was converted without it."""
  params = inception_weights.load_variables(weights_path)['params']
  if 'fc' not in params:
    return None
  return _linear_head(params['fc']['kernel'], params['fc']['bias'])


def digits_head(classifier: digits_classifier.Classifier) -> ClassifierHead:
  """The digits classifier's 10-way layer on its penultimate features."""
  head = classifier.params[digits_classifier.HEAD]
  return _linear_head(head['kernel'], head['bias'])


def quantize(images: np.ndarray) -> np.ndarray:
  """Images as every feature network sees them: 8-bit, as a saved PNG.

  Args:
    images: float [N, H, W, C] in [-1, 1] (rounded to the nearest of 256
      levels, as `images.to_uint8` and so the PNG files do) or uint8.

  Returns:
    float32 [N, H, W, C] in [-1, 1] on the 256 levels: uint8 u -> u / 127.5
    - 1, the value the data pipeline gives a pixel u of a real image.
  """
  images = np.asarray(images)
  if images.dtype != np.uint8:
    images = images_lib.to_uint8(images)
  return preprocess.to_float(images)


def _extractor(apply: Callable[[Any, Any], Any], variables: Any,
               batch_size: int, mesh: Mesh | None) -> FeatureFn:
  """`apply(variables, quantize(images))` over any number of images
  (`parallel.batched`), its variables placed on the devices once."""
  mesh = mesh or parallel.make_mesh()
  batched = parallel.batched(apply, mesh, batch_size)
  variables = parallel.replicate(variables, mesh)
  return lambda images: batched(variables, quantize(images))


def _clean_extractor(variables: Any, batch_size: int, mesh: Mesh | None
                     ) -> FeatureFn:
  """Inception features of images resized on the host as clean-fid does,
  a batch at a time (299x299 float images of 2,000 samples are 2 GB)."""
  model = inception.FIDInceptionV3()
  mesh = mesh or parallel.make_mesh()
  batched = parallel.batched(model.apply, mesh, batch_size)
  variables = parallel.replicate(variables, mesh)

  def extract(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
      images = images_lib.to_uint8(images)
    return np.concatenate([
        batched(variables, resize_lib.clean_resize(images[i:i + batch_size]))
        for i in range(0, len(images), batch_size)])

  return extract


def inception_extractor(weights_path: str, batch_size: int = 64,
                        mesh: Mesh | None = None,
                        resize: str = 'pytorch_fid') -> FeatureFn:
  """FID Inception pool3 features of images.

  Args:
    weights_path: the .npz written by `convert_inception`.
    batch_size: images per forward pass (memory is bounded by it).
    mesh: the devices to split each batch over (default: all).
    resize: how images reach 299x299, one of `resize.MODES`: 'pytorch_fid'
      (bilinear on the device) or 'clean' (clean-fid's PIL bicubic on the
      host).

  Returns:
    features(images [N, H, W, 1 or 3], uint8 or float in [-1, 1]) ->
    float32 [N, 2048].
  """
  variables = inception_weights.load_variables(weights_path)
  if resize == 'clean':
    return _clean_extractor(variables, batch_size, mesh)
  if resize != 'pytorch_fid':
    raise ValueError(f'Unknown resize {resize!r}; choose one of '
                     f'{resize_lib.MODES}.')
  return _extractor(inception.features_fn(), variables, batch_size, mesh)


def digits_extractor(classifier: digits_classifier.Classifier,
                     batch_size: int = 512, mesh: Mesh | None = None
                     ) -> FeatureFn:
  """Penultimate features of the digits classifier.

  Args:
    classifier: from `classifier_cache.load_or_train`.
    batch_size: images per forward pass.
    mesh: the devices to split each batch over (default: all).

  Returns:
    features(images [N, 28, 28, 1], uint8 or float in [-1, 1]) -> float32
    [N, dense].
  """
  return _extractor(digits_classifier.apply_fn(classifier.settings),
                    {'params': classifier.params}, batch_size, mesh)


def feature_extractor(kind: str, *, weights_path: str | None = None,
                      classifier: digits_classifier.Classifier | None = None,
                      batch_size: int | None = None,
                      mesh: Mesh | None = None,
                      resize: str = 'pytorch_fid') -> FeatureFn:
  """The feature function of `kind`, 'inception' or 'digits'.

  Args:
    kind: 'inception' (needs `weights_path`) or 'digits' (needs
      `classifier`).
    weights_path: the converted FID Inception weights (.npz).
    classifier: a trained digits classifier.
    batch_size: images per forward pass; None for the kind's default.
    mesh: the devices to split each batch over (default: all).
    resize: for 'inception', how images reach 299x299 (`resize.MODES`).

  Returns:
    features(images, uint8 or float in [-1, 1]) -> float32 [N, D].
  """
  size = {} if batch_size is None else {'batch_size': batch_size}
  if kind == 'inception':
    if weights_path is None:
      raise ValueError("feature_extractor('inception') needs weights_path: "
                       + inception_weights.missing_weights_message(
                           inception_weights.WEIGHTS_FILE))
    return inception_extractor(weights_path, mesh=mesh, resize=resize,
                               **size)
  if kind == 'digits':
    if classifier is None:
      raise ValueError("feature_extractor('digits') needs a classifier from "
                       'classifier_cache.load_or_train(...).')
    return digits_extractor(classifier, mesh=mesh, **size)
  raise ValueError(f'Unknown feature kind {kind!r}; choose one of '
                   f'{FEATURE_KINDS}.')
