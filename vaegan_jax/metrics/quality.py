"""Sample quality of a run, as `config.eval` asks.

`SampleQuality(config, held_out_images)` picks the feature space from
`config.eval.fid_features`, computes the reference images' features once
(`config.eval.fid_reference`: the held-out images, the training split, or
an .npz of statistics), and is then called with generated images at each
evaluation: FID, precision and recall, density and coverage, KID and the
Inception Score (`score`); the FID of reconstructions (`reconstruction_fid`)
and the samples' closeness to training images (`memorisation`). Its
`protocol` says what the numbers are: how many samples against which real
images, the network, the pixels (8-bit) and the resize.
"""

import os
from typing import Any, Callable

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
from vaegan_jax.metrics import kid
from vaegan_jax.metrics import memorisation as memorisation_lib
from vaegan_jax.metrics import precision_recall
from vaegan_jax.metrics import reference_stats
from vaegan_jax.metrics import resize as resize_lib

KINDS = ('inception', 'digits', 'auto', 'none')
# Precision, recall, density and coverage need more samples than their
# neighbourhood size.
MIN_SAMPLES = max(precision_recall.DEFAULT_K,
                  precision_recall.DENSITY_COVERAGE_K) + 1
DEFAULT_CLASSIFIER_DIR = os.path.join('~', '.cache', 'vaegan_jax')
CLASSIFIER_SETTINGS = digits_classifier.Settings()
# What config.eval.fid_reference may be (run/validation.py's table).
REFERENCE_CHECK = (
    lambda v: (v in fid_protocol.REFERENCES
               or reference_stats.is_file_reference(v)),
    f'one of {fid_protocol.REFERENCES} or the path of an .npz of FID '
    'statistics (mu, sigma)')
# The metrics that need the reference's features, not only its statistics,
# and why they are left out with a statistics file.
NEED_REFERENCE_FEATURES = ('precision', 'recall', 'density', 'coverage',
                           'kid')


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


def feature_dim(kind: str) -> int:
  """The dimension of the features of `kind`, 'inception' or 'digits'."""
  return (inception.FEATURE_DIM if kind == 'inception'
          else CLASSIFIER_SETTINGS.dense)


def check_files(config: ml_collections.ConfigDict) -> None:
  """Checks in seconds the files the evaluation will need, so that a bad
  one stops the run before training, not at the first evaluation.

  'inception': the weights file is read whole and checked; 'digits': the
  classifier's cache directory must be a directory this process can write
  (a damaged cached classifier is retrained, see
  `classifier_cache.load_or_train`). A statistics file as
  `config.eval.fid_reference` is read and checked against the features.

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
  if kind != 'none' and reference_stats.is_file_reference(
      config.eval.fid_reference):
    reference_stats.load(config.eval.fid_reference, feature_dim(kind))


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


# The metrics of generated samples' features, by the switch that turns each
# on: `scores(include=...)`; config.eval.kid and .density_coverage switch
# theirs off.
SCORES = ('fid', 'precision_recall', 'density_coverage', 'kid', 'is')


def scores(fake_features: np.ndarray,
           real_statistics: tuple[np.ndarray, np.ndarray],
           real_features: np.ndarray | None = None,
           classify: extractors.ClassifierHead | None = None,
           include: tuple[str, ...] = SCORES) -> dict[str, float]:
  """The metrics of generated samples' features against a reference.

  Args:
    fake_features: [M, D] features of generated images.
    real_statistics: (mu [D], sigma [D, D]) of the reference's features.
    real_features: [N, D] features of reference images, for the metrics
      that compare samples one by one (None: only the FID and the IS).
    classify: features -> logits of the network's classifier, for the
      Inception Score (None: no IS).
    include: which of `SCORES` to compute.

  Returns:
    {'fid', 'precision', 'recall', 'density', 'coverage', 'kid', 'kid_std',
    'is', 'is_std'}, those included and computable.
  """
  result = {}
  if 'fid' in include:
    result['fid'] = frechet.frechet_distance(
        *real_statistics, *frechet.statistics(fake_features))
  if real_features is not None:
    if 'precision_recall' in include:
      result.update(precision_recall.precision_recall(real_features,
                                                      fake_features))
    if 'density_coverage' in include:
      result.update(precision_recall.density_coverage(real_features,
                                                      fake_features))
    if 'kid' in include:
      result['kid'], result['kid_std'] = kid.kid(real_features, fake_features)
  if classify is not None and 'is' in include:
    result['is'], result['is_std'] = inception_score.inception_score(
        classify(fake_features))
  return result


def sample_quality(real_features: np.ndarray, fake_features: np.ndarray
                   ) -> dict[str, float]:
  """FID, precision and recall of generated against real features.

  Args:
    real_features: [N, D] features of real images (e.g. the held-out split).
    fake_features: [M, D] features of generated images, same extractor.

  Returns:
    {'fid': Fréchet distance of the features' Gaussians,
     'precision': fraction of generated samples on the real manifold,
     'recall': fraction of real samples on the generated manifold}.
  """
  return scores(fake_features, frechet.statistics(real_features),
                real_features, include=('fid', 'precision_recall'))


def _included(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """`SCORES` less those `config.eval` switches off."""
  off = {name for name in ('kid', 'density_coverage')
         if not config.eval[name]}
  return tuple(name for name in SCORES if name not in off)


class SampleQuality:
  """Sample metrics of generated images against real ones.

  The real images are `config.eval.fid_reference`'s: the held-out images
  the evaluation reads ('eval'), or the whole training split ('train', as
  StyleGAN's fid50k_full and FIDs quoted against a dataset's training
  statistics). Their Gaussian is fitted once, from features computed in
  chunks; precision, recall, density, coverage and KID compare with at most
  `config.eval.num_fid_samples` of them (a fixed random subset), the
  sizes Kynkäänniemi et al. compare. With an .npz of statistics as the
  reference, there are only its Gaussian and the FIDs; `skipped` says which
  metrics are left out and why.

  Attributes:
    kind: 'inception', 'digits' or 'none'.
    extract: the feature function (None for 'none').
    real_statistics: (mu, sigma) of the reference's features.
    real_features: [R, D] features of reference images, or None with a
      statistics file.
    skipped: metric -> why it is not computed.
    protocol: what the numbers are, for the record beside them (`{}` for
      'none'): see `fid_protocol`.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               held_out_images: np.ndarray | None = None):
    """Builds the feature extractor and the reference's statistics.

    Args:
      config: the run's configuration (`config.eval` and `config.data`).
      held_out_images: float32 [N, H, W, C] in [-1, 1] or uint8, the
        held-out images (None: the first `config.eval.num_examples` of the
        eval split are read when needed).
    """
    self.kind = resolve_kind(config)
    self.config = config
    self.extract = None
    self.classify = None  # features -> logits, for the Inception Score
    self.protocol, self.skipped = {}, {}
    self.held_out_images = held_out_images
    self._held_out_features = self._train = None
    if self.kind == 'none':
      logging.info('config.eval.fid_features=%r: no FID for this data.',
                   config.eval.fid_features)
      return
    network = self._build_extractor(config)
    self.real_statistics, self.real_features, count = self._reference(config)
    if config.eval.rfid and config.loss.objective == 'gan':
      self.skipped['rfid'] = ("config.loss.objective='gan' trains no "
                              'encoder to reconstruct with')
    self.protocol = self._protocol(config, network, count)
    logging.info('FID protocol: %s', self.protocol['name'])

  def _build_extractor(self, config: ml_collections.ConfigDict) -> str:
    """Sets `extract` and `classify`; returns the network, in words."""
    mesh = parallel.make_mesh()
    batch_size = config.eval.batch_size
    if self.kind == 'digits':
      classifier = digits_classifier_of(config)
      self.extract = extractors.digits_extractor(classifier, batch_size, mesh)
      self.classify = extractors.digits_head(classifier)
      return (f'digits classifier {os.path.basename(classifier.path)}, '
              f'{classifier.settings.dense}-d penultimate features')
    path = config.eval.inception_weights
    if jax.default_backend() == 'cpu':
      logging.warning('FID Inception features on a CPU take minutes per '
                      'thousand images.')
    self.extract = extractors.inception_extractor(
        path, batch_size, mesh, resize=config.eval.fid_resize)
    self.classify = extractors.inception_head(path)
    if self.classify is None:
      logging.info('%s holds no 1008-way classifier: no Inception Score '
                   '(convert the weights again to have it).', path)
    return ('FID Inception-v3 (TF inception-2015-12-05, pytorch-fid\'s '
            f'weights from {os.path.basename(path)}), '
            f'{inception.FEATURE_DIM}-d pool3 features')

  def _reference(self, config: ml_collections.ConfigDict):
    """(statistics, features or None, image count or None) of the
    reference; a statistics file has no features and no count."""
    reference = config.eval.fid_reference
    if reference_stats.is_file_reference(reference):
      why = (f'config.eval.fid_reference={reference} holds statistics only; '
             'this metric compares samples with reference images one by one')
      self.skipped = {name: why for name in NEED_REFERENCE_FEATURES}
      return reference_stats.load(reference, feature_dim(self.kind)), None, None
    read, count = fid_protocol.reference_images(config, self.held_out_images)
    statistics, features = fid_protocol.reference_features(
        self.extract, read, count, config.eval.num_fid_samples,
        chunk=fid_protocol.chunk_size(config))
    return statistics, features, count

  def _protocol(self, config: ml_collections.ConfigDict, network: str,
                count: int | None) -> dict[str, Any]:
    features = self.real_features
    record = fid_protocol.protocol(config, self.kind, network, count or 0,
                                   0 if features is None else len(features))
    if count is None:  # a statistics file
      reference = config.eval.fid_reference
      record.update(
          name=(f'FID-{fid_protocol.count_name(config.eval.num_fid_samples)}'
                f' vs {os.path.basename(reference)} (statistics), '
                f'{self.kind}'),
          reference_data=f'statistics file {reference}',
          reference_size=None, precision_recall_reference_size=None)
    if self.kind == 'inception':
      record['resize'] = resize_lib.DESCRIPTIONS[config.eval.fid_resize]
      record['resize_mode'] = config.eval.fid_resize
      if config.eval.fid_resize != 'pytorch_fid':
        record['name'] += f', {config.eval.fid_resize} resize'
    if config.eval.density_coverage:
      record['density_coverage_k'] = precision_recall.DENSITY_COVERAGE_K
    if config.eval.kid:
      record['kid_subsets'] = kid.NUM_SUBSETS
      record['kid_max_subset_size'] = kid.MAX_SUBSET_SIZE
    if config.eval.memorisation:
      record['memorisation'] = (
          'nearest of at most '
          f'{memorisation_lib.MAX_TRAIN_IMAGES} training images; share of '
          'samples nearer than the held-out images\' '
          f'{memorisation_lib.PERCENTILE:g}st percentile')
    if self.skipped:
      record['skipped'] = dict(self.skipped)
    return record

  def score(self, fake_features: np.ndarray) -> dict[str, float]:
    """The sample metrics of generated images' features (`scores`) that
    `config.eval` asks for ('is': the Inception Score of the same
    network's classifier, the mean and spread over 10 splits).

    Args:
      fake_features: [M, D] features of generated images by `extract`.
    """
    return scores(fake_features, self.real_statistics, self.real_features,
                  self.classify, _included(self.config))

  def __call__(self, generated_images: np.ndarray) -> dict[str, float]:
    """`score` of `generated_images` ({} if 'none').

    Args:
      generated_images: float32 [M, H, W, C] in [-1, 1], or uint8.
    """
    if self.extract is None:
      return {}
    return self.score(self.extract(generated_images))

  # The FID of reconstructions.

  def reconstruction_fid(self, reconstructions: np.ndarray
                         ) -> dict[str, float]:
    """rFID: the FID of reconstructions against the same reference.

    Its protocol goes in `protocol['rfid']`.

    Args:
      reconstructions: float32 [N, H, W, C] in [-1, 1], the held-out
        images decoded from their posterior means.

    Returns:
      {'rfid': the FID}, or {} for 'none', with config.eval.rfid=False, or
      for a model without an encoder.
    """
    if (self.extract is None or not self.config.eval.rfid
        or 'rfid' in self.skipped):
      return {}
    features = self.extract(reconstructions)
    reference = self.protocol['name'].split(' vs ', 1)[1]
    self.protocol['rfid'] = {
        'name': (f'rFID-{fid_protocol.count_name(len(features))} vs '
                 f'{reference}'),
        'samples': len(features),
        'samples_are': ('the first held-out images (config.eval.'
                        'num_examples), decoded from their posterior means')}
    return {'rfid': frechet.frechet_distance(*self.real_statistics,
                                             *frechet.statistics(features))}

  # Memorisation.

  def _held_out(self) -> np.ndarray:
    if self._held_out_features is None:
      images = self.held_out_images
      if images is None:
        images = data.eval_data(self.config,
                                self.config.eval.num_examples)['image']
      self._held_out_features = self.extract(images)
    return self._held_out_features

  def _training(self) -> tuple[Any, np.ndarray, np.ndarray]:
    """(read(rows) -> images, rows, their features) of at most
    `memorisation.MAX_TRAIN_IMAGES` training images, computed once."""
    if self._train is None:
      source = data.sources.get(self.config, 'train', annotations=False)
      read = lambda rows: source[rows]['image']
      rows = np.arange(len(source))
      if len(rows) > memorisation_lib.MAX_TRAIN_IMAGES:
        rows = np.sort(np.random.default_rng(0).choice(
            rows, memorisation_lib.MAX_TRAIN_IMAGES, replace=False))
      chunk = fid_protocol.chunk_size(self.config)
      features = np.concatenate([self.extract(read(rows[i:i + chunk]))
                                 for i in range(0, len(rows), chunk)])
      self._train = read, rows, features
    return self._train

  def memorisation(self, fake_features: np.ndarray
                   ) -> memorisation_lib.Memorisation | None:
    """How much closer samples are to training images than held-out ones.

    Args:
      fake_features: [M, D] features of generated images by `extract`.

    Returns:
      The figures (None for 'none' or with config.eval.memorisation=False).
    """
    if self.extract is None or not self.config.eval.memorisation:
      return None
    return memorisation_lib.memorisation(fake_features, self._held_out(),
                                         self._training()[2])

  def training_images(self, rows: np.ndarray) -> np.ndarray:
    """The training images of rows of `memorisation`'s `nearest_train`."""
    read, kept, _ = self._training()
    return read(kept[np.asarray(rows)])

  def memorisation_picture(self, result: memorisation_lib.Memorisation,
                           samples_of: Callable[[np.ndarray], np.ndarray]
                           ) -> np.ndarray:
    """The samples closest to a training image, each beside that image.

    Args:
      result: from `memorisation`.
      samples_of: sample indices -> those samples' images (the samples are
        not kept: the evaluation decodes them again).

    Returns:
      A uint8 picture (`memorisation.pairs_picture`).
    """
    order, rows = memorisation_lib.closest_pairs(result)
    return memorisation_lib.pairs_picture(samples_of(order),
                                          self.training_images(rows))

  def write_reference(self, path: str) -> None:
    """Writes the reference's statistics as an .npz (`reference_stats`)."""
    reference_stats.save(path, *self.real_statistics,
                         self.protocol['reference_size'] or 0,
                         self.protocol['name'])


def write_reference_statistics(config: ml_collections.ConfigDict, path: str,
                               held_out_images: np.ndarray | None = None
                               ) -> dict[str, Any]:
  """Writes the FID reference statistics of `config` to `path`.

  The file holds `mu` and `sigma` as TTUR's, clean-fid's and pytorch-fid's
  files do, so that other runs (`config.eval.fid_reference=path`) and other
  tools compare against exactly these statistics.

  Args:
    config: the run's configuration (`config.eval`, `config.data`).
    path: where, an .npz (local or gs://).
    held_out_images: the held-out images, if already read.

  Returns:
    The protocol of the statistics written.

  Raises:
    errors.ConfigError: there is no feature network for this data.
  """
  quality = SampleQuality(config, held_out_images)
  if quality.extract is None:
    raise errors.ConfigError(
        f'Writing FID reference statistics to {path} needs a feature '
        f'network; config.eval.fid_features={config.eval.fid_features!r} '
        'gives none for this data.')
  quality.write_reference(path)
  logging.info('Wrote the reference statistics of %s to %s.',
               quality.protocol['name'], path)
  return quality.protocol
