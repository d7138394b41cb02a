"""TFDS datasets through tfds.data_source, on TFDS's mock data."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from configs import celeba
from configs import cifar10
from configs import fashion_mnist
from configs import mnist
from vaegan_jax import data
from vaegan_jax.data import tfds_source


@pytest.fixture
def mock_tfds():
  with tfds.testing.mock_data(num_examples=24,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    yield


def _config(get_config, batch_size=8, **data_fields):
  config = get_config()
  config.train.batch_size = batch_size
  for key, value in data_fields.items():
    config.data[key] = value
  return config


@pytest.mark.parametrize('get_config,shape', [
    (lambda: _config(mnist.get_config, name='mnist'), (28, 28, 1)),
    (fashion_mnist.get_config, (28, 28, 1)),
    (cifar10.get_config, (32, 32, 3)),
])
def test_labelled_datasets_give_scaled_batches_and_labels(
    mock_tfds, get_config, shape):
  config = get_config()
  config.train.batch_size = 8
  data.check(config)
  batch = next(data.train_iterator(config))['image']
  assert batch.shape == (8, *shape) and batch.dtype == np.float32
  assert -1 <= batch.min() and batch.max() <= 1
  held_out = data.eval_data(config, max_examples=5)
  assert held_out['image'].shape == (5, *shape)
  assert held_out['label'].shape == (5,)


def test_celeb_a_is_cropped_to_64_and_keeps_its_40_attributes(mock_tfds):
  config = _config(celeba.get_config)
  batch = next(data.train_iterator(config))['image']
  assert batch.shape == (8, 64, 64, 3)
  held_out = data.eval_data(config, max_examples=6)
  assert held_out['attributes'].shape == (6, 40)
  assert set(np.unique(held_out['attributes'])) <= {0, 1}
  assert len(held_out['attribute_names']) == 40
  assert 'Smiling' in held_out['attribute_names']


def test_celeb_a_trains_on_train_and_validation_and_holds_out_test():
  config = celeba.get_config()
  assert tfds_source.split_name(config, 'train') == 'train+validation'
  assert tfds_source.split_name(config, 'eval') == 'test'
  config.data.eval_split = 'validation'
  assert tfds_source.split_name(config, 'eval') == 'validation'


def test_same_seed_same_batches_and_state_round_trip(mock_tfds):
  config = _config(mnist.get_config, name='mnist', batch_size=4)
  iterator = data.train_iterator(config)
  uninterrupted = [next(iterator)['image'] for _ in range(4)]
  again = data.train_iterator(config)
  np.testing.assert_array_equal(next(again)['image'], uninterrupted[0])
  next(again)
  resumed = data.train_iterator(config)
  resumed.set_state(json.loads(json.dumps(again.get_state())))
  np.testing.assert_array_equal(next(resumed)['image'], uninterrupted[2])
