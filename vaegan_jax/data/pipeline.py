"""The training stream: a grain pipeline over a source's example indices.

    range(N) -> shuffle (seeded by config.seed; a new order every epoch)
      -> repeat forever -> batches of the per-process size -> read the rows
      -> augment -> scale to [-1, 1] -> this process's share -> prefetch

With P processes the global batch k is the process batches kP ... kP+P-1 in
process order: together they are the rows a one-process run with the same
global batch size reads at step k. Each process reads only its own rows.
Augmentation draws from a generator keyed by config.seed and the batch's
position in the stream, so it is fixed by the seed and the step (for a given
number of processes). The iterator's state is the position of its next batch
(grain's `get_state`), so an iterator restored after batch N yields batch
N + 1.
"""

import grain
import ml_collections
import numpy as np

from vaegan_jax.data import augment
from vaegan_jax.data import preprocess
from vaegan_jax.data.errors import DataError


class ReadImages(grain.transforms.Map):
  """A batch of indices -> {'image': uint8 [n, H, W, C]}."""

  def __init__(self, source):
    self._source = source

  def map(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    return {'image': self._source[indices]['image']}


class Augment(grain.transforms.RandomMap):
  """Random horizontal flips and translations of a uint8 batch."""

  def __init__(self, flip: bool, translate: float):
    self._flip = flip
    self._translate = translate

  def random_map(self, batch: dict[str, np.ndarray],
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    images = batch['image']
    if self._flip:
      images = augment.random_flip(images, rng)
    if self._translate:
      images = augment.random_translate(images, self._translate, rng)
    return {'image': images}


class ToFloat(grain.transforms.Map):
  """uint8 images -> float32 in [-1, 1]."""

  def map(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {'image': preprocess.to_float(batch['image'])}


def per_process_batch_size(batch_size: int, process_count: int) -> int:
  """The rows each process reads of a global batch.

  Raises:
    DataError: `batch_size` is not divisible by `process_count`.
  """
  if batch_size < 1 or batch_size % process_count:
    raise DataError(
        f'config.train.batch_size={batch_size} cannot be split evenly '
        f'across the {process_count} processes; use a multiple of '
        f'{process_count}.')
  return batch_size // process_count


def train_dataset(source, config: ml_collections.ConfigDict,
                  process_index: int, process_count: int) -> grain.IterDataset:
  """The endless, shuffled, augmented batches of one process.

  Args:
    source: the training split (`len(source)`, `source[indices]`).
    config: the run's configuration: `config.seed`,
      `config.train.batch_size`, `config.data.{random_flip,
      random_translate, num_threads, prefetch, num_workers}`.
    process_index: this process, in [0, process_count).
    process_count: the number of processes reading the data.

  Returns:
    A grain `IterDataset` of {'image': float32 [batch_size // process_count,
    H, W, C]}.
  """
  data = config.data
  batch_size = per_process_batch_size(config.train.batch_size, process_count)
  ds = grain.MapDataset.range(len(source)).seed(config.seed % 2**32)
  ds = ds.shuffle().repeat().batch(batch_size).map(ReadImages(source))
  if data.random_flip or data.random_translate:
    ds = ds.random_map(Augment(bool(data.random_flip),
                               float(data.random_translate)))
  ds = ds.map(ToFloat())[process_index::process_count]
  ds = ds.to_iter_dataset(grain.ReadOptions(
      num_threads=data.num_threads, prefetch_buffer_size=data.prefetch))
  if data.num_workers:
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=data.num_workers))
  return ds
