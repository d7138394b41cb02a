"""Sample quality of a run, as `config.eval` asks: FID, precision, recall.

`SampleQuality(config, held_out_images)` picks the feature space from
`config.eval.fid_features`, computes the held-out images' features once, and
is then called with generated images at each evaluation.
"""

import os

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax import parallel
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import extractors
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import inception
from vaegan_jax.metrics import precision_recall

KINDS = ('inception', 'digits', 'auto', 'none')
# Precision and recall need more samples than their neighbourhood size.
MIN_SAMPLES = precision_recall.DEFAULT_K + 1
DEFAULT_CLASSIFIER_DIR = os.path.join('~', '.cache', 'vaegan_jax')
CLASSIFIER_SETTINGS = digits_classifier.Settings()


def resolve_kind(config: ml_collections.ConfigDict) -> str:
  """`config.eval.fid_features` with 'auto' made concrete.

  Args:
    config: uses `config.eval.{fid_features, inception_weights}` and
      `config.data.{image_size, channels}`.

  Returns:
    'inception', 'digits' or 'none'; 'auto' is 'digits' for 28x28 grayscale
    data, else 'inception' when `config.eval.inception_weights` is set, else
    'none'.
  """
  kind = config.eval.fid_features
  if kind != 'auto':
    return kind
  if (config.data.image_size, config.data.channels) == (28, 1):
    return 'digits'
  return 'inception' if config.eval.inception_weights else 'none'


def classifier_dir(config: ml_collections.ConfigDict) -> epath.Path:
  """Where the digits classifier of `config` is cached."""
  return epath.Path(os.path.expanduser(config.eval.classifier_dir
                                       or DEFAULT_CLASSIFIER_DIR))


def check_files(config: ml_collections.ConfigDict) -> None:
  """Checks in seconds the files the evaluation will need, so that a bad
  one stops the run before training, not at the first evaluation.

  'inception': the weights file is read whole and checked; 'digits': the
  classifier's cache directory must be a directory this process can write
  (a damaged cached classifier is retrained, see
  `digits_classifier.load_or_train`).

  Args:
    config: the run's configuration (`config.eval`, `config.data`).

  Raises:
    errors.UserError: naming the file and what to do.
  """
  kind = resolve_kind(config)
  if kind == 'inception':
    try:
      inception.load_variables(config.eval.inception_weights)
    except errors.UserError as e:
      raise type(e)(f'config.eval.inception_weights: {e}') from None
  elif kind == 'digits':
    directory = classifier_dir(config)
    where = (f'config.eval.classifier_dir={directory} (the digits '
             'classifier\'s cache)')
    if directory.exists() and not directory.is_dir():
      raise errors.ConfigError(f'{where} is a file; give a directory.')
    try:
      directory.mkdir(parents=True, exist_ok=True)
      probe = directory / f'.write-test-{os.getpid()}'
      probe.write_text('')
      probe.unlink()
    except OSError as e:
      raise errors.ConfigError(
          f'{where} cannot be written ({e.strerror or e}); give a writable '
          'directory.') from None


def _digits_classifier(config: ml_collections.ConfigDict
                       ) -> digits_classifier.Classifier:
  """The cached classifier of this run's data, trained if not yet cached."""
  train, held_out = data.train_data(config), data.eval_data(config)
  if 'label' not in train or 'label' not in held_out:
    raise errors.DataError(
        "config.eval.fid_features='digits' trains a classifier and needs "
        "labelled digits; this data has no labels: set "
        "--config.eval.fid_features=none.")
  cache_dir = os.fspath(classifier_dir(config))
  classifier = digits_classifier.load_or_train(
      train['image'], train['label'], held_out['image'], held_out['label'],
      cache_dir, CLASSIFIER_SETTINGS)
  logging.info('Digits classifier %s: held-out accuracy %.4f.',
               classifier.path, classifier.held_out_accuracy)
  return classifier


def sample_quality(real_features: np.ndarray, fake_features: np.ndarray,
                   k: int = precision_recall.DEFAULT_K) -> dict[str, float]:
  """FID, precision and recall of generated against real features.

  Args:
    real_features: [N, D] features of real images (e.g. the held-out split).
    fake_features: [M, D] features of generated images, same extractor.
    k: neighbourhood size of precision and recall (3 as Kynkäänniemi et
      al.).

  Returns:
    {'fid': Fréchet distance of the features' Gaussians,
     'precision': fraction of generated samples on the real manifold,
     'recall': fraction of real samples on the generated manifold}.
  """
  result = {'fid': frechet.fid_from_features(real_features, fake_features)}
  result.update(precision_recall.precision_recall(real_features,
                                                  fake_features, k))
  return result


class SampleQuality:
  """FID, precision and recall of generated images against held-out ones."""

  def __init__(self, config: ml_collections.ConfigDict,
               held_out_images: np.ndarray):
    """Builds the feature extractor and the held-out images' features.

    Args:
      config: the run's configuration (`config.eval` and `config.data`).
      held_out_images: float32 [N, H, W, C] in [-1, 1], the real images.
    """
    self.kind = resolve_kind(config)
    self.extract = None
    if self.kind == 'none':
      logging.info("config.eval.fid_features='auto' found no feature "
                   'network for this data: no FID.')
      return
    mesh = parallel.make_mesh()
    batch_size = config.eval.batch_size
    if self.kind == 'digits':
      self.extract = extractors.digits_extractor(
          _digits_classifier(config), batch_size, mesh)
    else:
      path = config.eval.inception_weights
      if jax.default_backend() == 'cpu':
        logging.warning('FID Inception features on a CPU take minutes per '
                        'thousand images.')
      self.extract = extractors.inception_extractor(path, batch_size, mesh)
    self.real_features = self.extract(held_out_images)

  def __call__(self, generated_images: np.ndarray) -> dict[str, float]:
    """{'fid', 'precision', 'recall'} of `generated_images` ({} if 'none').

    Args:
      generated_images: float32 [M, H, W, C] in [-1, 1].
    """
    if self.extract is None:
      return {}
    return sample_quality(self.real_features, self.extract(generated_images))
