"""The protocol of an FID: what the samples and the real images are.

Published FIDs differ in the number of samples, the real images they are
compared with and how those are read; `protocol` writes all of it beside
each number. The reference's features are computed once, in chunks
(`reference_features`), so the whole training split can be the reference.
"""

from typing import Any, Callable

import ml_collections
import numpy as np

from vaegan_jax.data import arrays
from vaegan_jax.data import sources
from vaegan_jax.metrics import extractors
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import inception
from vaegan_jax.metrics import precision_recall

# The real images FID compares with: the held-out ones the evaluation reads,
# or the whole training split.
REFERENCES = ('eval', 'train')
# The prior noise of the samples an evaluation scores (`--mode=sample
# --seed=13` writes the same images), and the subset of a large reference
# that precision and recall use.
SAMPLE_SEED, _REFERENCE_SEED = 13, 0


def count_name(num: int) -> str:
  """10000 -> '10k', 50000 -> '50k', 256 -> '256' (FID-50k as papers say)."""
  return f'{num // 1000}k' if num % 1000 == 0 else str(num)


def reference_images(config: ml_collections.ConfigDict,
                      held_out_images: np.ndarray | None
                      ) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
  """(read(rows) -> images, count) of `config.eval.fid_reference`."""
  reference = config.eval.fid_reference
  if reference == 'eval' and held_out_images is not None:
    return held_out_images.__getitem__, len(held_out_images)
  source = sources.get(config, reference, annotations=False)
  count = len(source) if reference == 'train' else min(
      len(source), config.eval.num_examples)
  return (lambda rows: source[rows]['image']), count


def chunk_size(config: ml_collections.ConfigDict) -> int:
  """Images read or generated at a time for FID: a multiple of the eval
  batch, about 2,000 images."""
  batch = config.eval.batch_size
  return batch * max(1, 2048 // batch)


def reference_features(extract: extractors.FeatureFn,
                       read: Callable[[np.ndarray], np.ndarray], count: int,
                       max_kept: int, chunk: int = 2048,
                       seed: int = _REFERENCE_SEED
                       ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
  """The statistics of `count` real images' features, read in chunks.

  Args:
    extract: the feature function.
    read: rows (int array) -> their images (uint8 or float in [-1, 1]).
    count: how many images, rows 0..count-1.
    max_kept: how many rows' features to keep (a fixed random subset when
      there are more).
    chunk: rows read and extracted at a time.
    seed: fixes the subset.

  Returns:
    ((mu, sigma) of all `count` rows' features, [min(count, max_kept), D]
    features of the kept rows).
  """
  kept = np.arange(count)
  if count > max_kept:
    kept = np.sort(np.random.default_rng(seed).choice(count, max_kept,
                                                      replace=False))
  stats, kept_features = frechet.RunningStatistics(), []
  for start in range(0, count, chunk):
    rows = np.arange(start, min(start + chunk, count))
    features = extract(read(rows))
    stats.add(features)
    kept_features.append(features[np.isin(rows, kept)])
  return stats.result(), np.concatenate(kept_features)


def protocol(config: ml_collections.ConfigDict, kind: str, network: str,
                 reference_size: int, precision_recall_size: int
                 ) -> dict[str, Any]:
  """What an FID of this run is, for the record beside the number.

  Args:
    config: the run's configuration.
    kind: 'inception' or 'digits'.
    network: the feature network, in words.
    reference_size: the real images the reference Gaussian is fitted to.
    precision_recall_size: the real images precision and recall use.

  Returns:
    {'name': e.g. 'FID-50k vs train (60000 images), inception', 'samples',
    'sample_seed', 'reference' ('eval' or 'train'), 'reference_data',
    'reference_size', 'features', 'network', 'pixels', 'resize',
    'precision_recall_k', 'precision_recall_reference_size'}.
  """
  samples, reference = config.eval.num_fid_samples, config.eval.fid_reference
  if kind == 'inception':
    resize = (f'bilinear to {inception.INPUT_SIZE}x{inception.INPUT_SIZE}, '
              'no antialiasing, grayscale repeated to RGB (pytorch-fid; '
              "clean-fid's mode='legacy_pytorch')")
  else:
    resize = 'none (28x28 grayscale)'
  # The split scored: 'test' or 'validation' for the held-out images.
  part = arrays.eval_part(config) if reference == 'eval' else reference
  return {
      'name': (f'FID-{count_name(samples)} vs {reference} '
               f'({reference_size} images), {kind}'),
      'samples': samples,
      'sample_seed': SAMPLE_SEED,
      'reference': reference,
      'reference_data': f'{sources.describe(config)}, {part} split',
      'reference_size': reference_size,
      'features': kind,
      'network': network,
      'pixels': 'uint8, as saved PNGs (samples rounded to 256 levels)',
      'resize': resize,
      'precision_recall_k': precision_recall.DEFAULT_K,
      'precision_recall_reference_size': precision_recall_size,
  }
