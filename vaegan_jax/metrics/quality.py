"""Sample quality of a run, as `config.eval` asks: FID, precision, recall.

`SampleQuality(config, held_out_images)` picks the feature space from
`config.eval.fid_features`, computes the reference images' features once
(`config.eval.fid_reference`: the held-out images or the training split),
and is then called with generated images at each evaluation. Its
`protocol` says what the numbers are: how many samples against which real
images, the network, the pixels (8-bit) and the resize.
"""

import os

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax import parallel
from vaegan_jax.metrics import classifier_cache
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import extractors
from vaegan_jax.metrics import fid_protocol
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import inception
from vaegan_jax.metrics import inception_score
from vaegan_jax.metrics import inception_weights
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
  return files.path(config.eval.classifier_dir or DEFAULT_CLASSIFIER_DIR)


def check_files(config: ml_collections.ConfigDict) -> None:
  """Checks in seconds the files the evaluation will need, so that a bad
  one stops the run before training, not at the first evaluation.

  'inception': the weights file is read whole and checked; 'digits': the
  classifier's cache directory must be a directory this process can write
  (a damaged cached classifier is retrained, see
  `classifier_cache.load_or_train`).

  Args:
    config: the run's configuration (`config.eval`, `config.data`).

  Raises:
    errors.UserError: naming the file and what to do.
  """
  kind = resolve_kind(config)
  if kind == 'inception':
    try:
      inception_weights.load_variables(config.eval.inception_weights)
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


def digits_classifier_of(config: ml_collections.ConfigDict
                         ) -> digits_classifier.Classifier:
  """The cached classifier of this run's data, trained if not yet cached."""
  train, held_out = data.train_data(config), data.eval_data(config)
  if 'label' not in train or 'label' not in held_out:
    raise errors.DataError(
        "config.eval.fid_features='digits' trains a classifier and needs "
        "labelled digits; this data has no labels: set "
        "--config.eval.fid_features=none.")
  cache_dir = str(classifier_dir(config))
  classifier = classifier_cache.load_or_train(
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
  """FID, precision and recall of generated images against real ones.

  The real images are `config.eval.fid_reference`'s: the held-out images
  the evaluation reads ('eval'), or the whole training split ('train', as
  StyleGAN's fid50k_full and FIDs quoted against a dataset's training
  statistics). Their Gaussian is fitted once, from features computed in
  chunks; precision and recall compare with at most
  `config.eval.num_fid_samples` of them (a fixed random subset), the
  sizes Kynkäänniemi et al. compare.

  Attributes:
    kind: 'inception', 'digits' or 'none'.
    extract: the feature function (None for 'none').
    protocol: what the numbers are, for the record beside them (`{}` for
      'none'): see `fid_protocol`.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               held_out_images: np.ndarray | None = None):
    """Builds the feature extractor and the reference's statistics.

    Args:
      config: the run's configuration (`config.eval` and `config.data`).
      held_out_images: float32 [N, H, W, C] in [-1, 1] or uint8, the
        held-out images when `config.eval.fid_reference='eval'` (None: the
        first `config.eval.num_examples` of the eval split are read); not
        used for 'train'.
    """
    self.kind = resolve_kind(config)
    self.extract = None
    self.classify = None  # features -> logits, for the Inception Score
    self.protocol = {}
    if self.kind == 'none':
      logging.info('config.eval.fid_features=%r: no FID for this data.',
                   config.eval.fid_features)
      return
    mesh = parallel.make_mesh()
    batch_size = config.eval.batch_size
    if self.kind == 'digits':
      classifier = digits_classifier_of(config)
      network = (f'digits classifier {os.path.basename(classifier.path)}, '
                 f'{classifier.settings.dense}-d penultimate features')
      self.extract = extractors.digits_extractor(classifier, batch_size, mesh)
      self.classify = extractors.digits_head(classifier)
    else:
      path = config.eval.inception_weights
      network = ('FID Inception-v3 (TF inception-2015-12-05, pytorch-fid\'s '
                 f'weights from {os.path.basename(path)}), '
                 f'{inception.FEATURE_DIM}-d pool3 features')
      if jax.default_backend() == 'cpu':
        logging.warning('FID Inception features on a CPU take minutes per '
                        'thousand images.')
      self.extract = extractors.inception_extractor(path, batch_size, mesh)
      self.classify = extractors.inception_head(path)
      if self.classify is None:
        logging.info('%s holds no 1008-way classifier: no Inception Score '
                     '(convert the weights again to have it).', path)
    read, count = fid_protocol.reference_images(config, held_out_images)
    self.real_statistics, self.real_features = fid_protocol.reference_features(
        self.extract, read, count, config.eval.num_fid_samples,
        chunk=fid_protocol.chunk_size(config))
    self.protocol = fid_protocol.protocol(config, self.kind, network, count,
                                 len(self.real_features))
    logging.info('FID protocol: %s', self.protocol['name'])

  def score(self, fake_features: np.ndarray) -> dict[str, float]:
    """{'fid', 'precision', 'recall', 'is', 'is_std'} of generated images'
    features ('is': the Inception Score of the same network's classifier,
    the mean and spread over 10 splits).

    Args:
      fake_features: [M, D] features of generated images by `extract`.
    """
    result = {'fid': frechet.frechet_distance(
        *self.real_statistics, *frechet.statistics(fake_features))}
    result.update(precision_recall.precision_recall(self.real_features,
                                                    fake_features))
    if self.classify is not None:
      result['is'], result['is_std'] = inception_score.inception_score(
          self.classify(fake_features))
    return result

  def __call__(self, generated_images: np.ndarray) -> dict[str, float]:
    """{'fid', 'precision', 'recall'} of `generated_images` ({} if 'none').

    Args:
      generated_images: float32 [M, H, W, C] in [-1, 1], or uint8.
    """
    if self.extract is None:
      return {}
    return self.score(self.extract(generated_images))
