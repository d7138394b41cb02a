"""The data: sources, preprocessing, and the training stream.

`config.data.name` picks the source, a row of `sources.TABLE`:
  'bundled_mnist': 5,000 MNIST digits shipped with the package (`bundled`);
  'folder': a directory tree of images, e.g. CelebA's (`folder`, `cache`);
  any other name: a TFDS dataset read with `tfds.data_source`
    (`tfds_source`), e.g. 'mnist', 'fashion_mnist', 'cifar10', 'celeb_a'.

Public functions:
  check(config): raises `DataError` in seconds if the data cannot be read.
  train_iterator(config): endless batches {'image': float32 [B/P, H, W, C]}
    in [-1, 1] with `get_state()` / `set_state()` for checkpoints.
  DevicePrefetch(iterator, mesh): those batches copied onto the devices
    ahead of the step.
  train_data(config, n), eval_data(config, n): the first n examples of a
    split as numpy arrays, with 'label' or 'attributes' where there are some.
  prepare(config): makes a folder's cache ahead of training.
"""

import concurrent.futures

import jax
import ml_collections
import numpy as np

from vaegan_jax.data import conditions
from vaegan_jax.data import pipeline
from vaegan_jax.data import preprocess
from vaegan_jax.data import sources
from vaegan_jax.data.device_prefetch import DevicePrefetch
from vaegan_jax.errors import DataError

_READ_CHUNK = 256  # examples per read of train_data / eval_data


def _check_batch_size(config: ml_collections.ConfigDict,
                      num_examples: int) -> None:
  batch_size = config.train.batch_size
  if batch_size > num_examples:
    raise DataError(
        f'config.train.batch_size={batch_size} is larger than the '
        f'{num_examples} training examples of {sources.describe(config)}; '
        f'use a batch size of at most {num_examples}.')


def check(config: ml_collections.ConfigDict) -> None:
  """Checks in seconds that training can read the data as configured.

  Nothing is decoded: a folder is only listed, a TFDS dataset only opened.
  The config's fields are assumed valid (`validation.validate`).

  Args:
    config: the run's configuration.

  Raises:
    DataError: with what to do, if the data is missing or not prepared, a
      folder is empty or holds no images, or the batch size exceeds the
      training split.
  """
  _check_batch_size(config, sources.size(config, 'train'))


def with_conditions(config: ml_collections.ConfigDict
                    ) -> ml_collections.ConfigDict:
  """`config` with `model.num_conditions` taken from the data (the number of
  classes, else of attributes) if a conditional model leaves it at None.

  Raises:
    DataError: a conditional model on data without labels or attributes.
  """
  if not config.model.conditional or config.model.num_conditions:
    return config
  found = conditions.count(sources.get(config, 'train'))
  if not found:
    conditions.from_example({}, 0)  # raises the error that says what to do
  config = config.copy_and_resolve_references()
  config.model.num_conditions = found
  return config


def train_iterator(config: ml_collections.ConfigDict, *,
                   process_index: int | None = None,
                   process_count: int | None = None):
  """The endless stream of training batches of this process.

  Epochs repeat, each in a new order fixed by `config.seed`; augmentation is
  switched by `config.data.{random_flip, random_translate}`.

  Args:
    config: the run's configuration.
    process_index: which share of each global batch to read; default
      `jax.process_index()`.
    process_count: into how many shares the batch is split; default
      `jax.process_count()`.

  Returns:
    An iterator of {'image': float32 [config.train.batch_size //
    process_count, H, W, C] in [-1, 1]} (and 'condition' float32 [.., K]
    for a conditional model); `get_state()` returns a
    JSON-serialisable dict, and `set_state(state)` on a new iterator makes
    it continue where the first one was; `close()` stops its prefetching.
  """
  if process_index is None:
    process_index = jax.process_index()
  if process_count is None:
    process_count = jax.process_count()
  source = sources.get(config, 'train',
                       annotations=config.model.conditional)
  return pipeline.TrainIterator(lambda start: pipeline.train_dataset(
      source, config, process_index, process_count, start))


def _arrays(config: ml_collections.ConfigDict, split: str,
            max_examples: int | None) -> dict:
  source = sources.get(config, split)
  num = len(source) if max_examples is None else min(max_examples,
                                                     len(source))
  if num < 1:
    raise DataError(f'The {split} split of {sources.describe(config)} has no '
                    f'examples (see {sources.held_out(config)}).')
  chunks = [np.arange(i, min(i + _READ_CHUNK, num))
            for i in range(0, num, _READ_CHUNK)]
  threads = max(1, config.data.num_threads)
  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    parts = list(pool.map(source.__getitem__, chunks))
  out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  out['image'] = preprocess.to_float(out['image'])
  if source.attribute_names:
    out['attribute_names'] = list(source.attribute_names)
  return out


def train_data(config: ml_collections.ConfigDict,
               max_examples: int | None = None) -> dict:
  """The first examples of the training split, in a fixed order.

  Args:
    config: the run's configuration.
    max_examples: how many (default: all).

  Returns:
    {'image': float32 [N, H, W, C] in [-1, 1]}, plus 'label' int32 [N] where
    the data has labels, and 'attributes' int32 [N, K] (1: has it) with
    'attribute_names' (K str) where it has attributes (CelebA: K = 40).
  """
  return _arrays(config, 'train', max_examples)


def eval_data(config: ml_collections.ConfigDict,
              max_examples: int | None = None) -> dict:
  """The first examples of the held-out split, in a fixed order.

  Held out: the TFDS 'test' split (`config.data.eval_split`), the partition
  file's test images, or a fixed `config.data.holdout_fraction`.

  Args:
    config: the run's configuration.
    max_examples: how many (default: all).

  Returns:
    As `train_data`.
  """
  return _arrays(config, 'eval', max_examples)


def prepare(config: ml_collections.ConfigDict) -> None:
  """Does once what a first run would (a folder's cache is decoded: its
  row's `prepare` in `sources.TABLE`), then checks the data.

  Args:
    config: the run's configuration.
  """
  row = sources.find(config)
  if row.prepare is not None:
    row.prepare(config)
  check(config)


__all__ = ['DataError', 'DevicePrefetch', 'check', 'eval_data', 'prepare',
           'train_data', 'train_iterator', 'with_conditions']
