"""The training stream: a grain pipeline over a source's example indices.

    range(N) -> shuffle (seeded by config.seed; a new order every epoch)
      -> repeat forever -> batches of the per-process size -> read the rows
      -> augment -> scale to [-1, 1] -> this process's share -> prefetch

With P processes the global batch k is the process batches kP ... kP+P-1 in
process order: together they are the rows a one-process run with the same
global batch size reads at step k. Each process reads only its own rows.
Augmentation draws from a generator keyed by config.seed and the batch's
position in the stream, so it is fixed by the seed and the step (for a given
number of processes). `TrainIterator`'s state is the number of batches it
has given; restored, it restarts the pipeline there, so an iterator restored
after batch N yields batch N + 1, however it prefetches.
"""

from typing import Any, Callable

import grain
import ml_collections
import numpy as np

from vaegan_jax.data import augment
from vaegan_jax.data import conditions
from vaegan_jax.data import preprocess


class ReadImages(grain.transforms.Map):
  """A batch of indices -> {'image': uint8 [n, H, W, C]}, and 'condition'
  float32 [n, K] when `num_conditions` is given (a conditional model)."""

  def __init__(self, source, num_conditions: int | None = None):
    self._source = source
    self._num_conditions = num_conditions

  def map(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    example = self._source[indices]
    batch = {'image': example['image']}
    if self._num_conditions:
      batch['condition'] = conditions.from_example(example,
                                                   self._num_conditions)
    return batch


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
    return dict(batch, image=images)


class ToFloat(grain.transforms.Map):
  """uint8 images -> float32 in [-1, 1]."""

  def map(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return dict(batch, image=preprocess.to_float(batch['image']))


def train_dataset(source, config: ml_collections.ConfigDict,
                  process_index: int, process_count: int,
                  start: int = 0) -> grain.IterDataset:
  """The endless, shuffled, augmented batches of one process.

  Args:
    source: the training split (`len(source)`, `source[indices]`).
    config: the run's configuration: `config.seed`,
      `config.train.batch_size`, `config.data.{random_flip,
      random_translate, num_threads, prefetch, num_workers}`.
    process_index: this process, in [0, process_count).
    process_count: the number of processes reading the data.
    start: the first batch (0-based step) to give.

  Returns:
    A grain `IterDataset` of {'image': float32 [batch_size // process_count,
    H, W, C]}.
  """
  data = config.data
  batch_size = config.train.batch_size // process_count
  ds = grain.MapDataset.range(len(source)).seed(config.seed % 2**32)
  num_conditions = (config.model.num_conditions if config.model.conditional
                    else None)
  ds = ds.shuffle().repeat().batch(batch_size).map(
      ReadImages(source, num_conditions))
  if data.random_flip or data.random_translate:
    ds = ds.random_map(Augment(bool(data.random_flip),
                               float(data.random_translate)))
  first = start * process_count + process_index
  ds = ds.map(ToFloat())[first::process_count]
  ds = ds.to_iter_dataset(grain.ReadOptions(
      num_threads=data.num_threads, prefetch_buffer_size=data.prefetch))
  if data.num_workers:
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=data.num_workers))
  return ds


class TrainIterator:
  """Batches of a pipeline, with a state that checkpoints can hold.

  The state is {'next_batch': N}, the number of batches given so far;
  `set_state` rebuilds the pipeline to start at batch N, so it does not
  depend on how batches are prefetched (threads or processes).
  """

  def __init__(self, make_dataset: Callable[[int], grain.IterDataset]):
    """Wraps `make_dataset(start)`, the pipeline starting at batch `start`."""
    self._make_dataset = make_dataset
    self._next_batch = 0
    self._iterator = None

  def __iter__(self) -> 'TrainIterator':
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self._iterator is None:
      self._iterator = iter(self._make_dataset(self._next_batch))
    batch = next(self._iterator)
    self._next_batch += 1
    return batch

  def get_state(self) -> dict[str, Any]:
    """A JSON-serialisable position: {'next_batch': int}."""
    return {'next_batch': self._next_batch}

  def set_state(self, state: dict[str, Any]) -> None:
    """Continues from a state returned by `get_state`."""
    self.close()
    self._next_batch = int(state['next_batch'])

  def close(self) -> None:
    """Stops prefetching (threads or processes) until the next batch."""
    if self._iterator is not None and hasattr(self._iterator, 'close'):
      self._iterator.close()
    self._iterator = None
