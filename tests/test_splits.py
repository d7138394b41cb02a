"""The bundled digits split three ways: training, validation and test."""

import ml_collections
import numpy as np
import pytest

from configs import mnist
from vaegan_jax import data
from vaegan_jax.data import arrays
from vaegan_jax.data import bundled
from vaegan_jax.errors import DataError
from vaegan_jax.metrics import classifier_cache
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import quality


def _config(**fields):
  config = mnist.get_config()
  for key, value in fields.items():
    section, field = key.split('__')
    config[section][field] = value
  return config


def _rows(config, split):
  return arrays.config_rows(config, bundled.NUM_DIGITS, split)


def test_three_disjoint_parts_of_the_right_sizes_and_always_the_same():
  config = _config(eval__split='validation')
  parts = {part: arrays.split_rows(5000, 0.1, 500, part)
           for part in arrays.PARTS}
  assert {p: len(r) for p, r in parts.items()} == {
      'train': 4000, 'validation': 500, 'test': 500}
  assert sorted(np.concatenate(list(parts.values()))) == list(range(5000))
  for part, rows in parts.items():
    np.testing.assert_array_equal(rows, arrays.split_rows(5000, 0.1, 500,
                                                          part))
  # The sources read them: 'eval' is the part config.eval.split names.
  np.testing.assert_array_equal(_rows(config, 'train'), parts['train'])
  np.testing.assert_array_equal(_rows(config, 'eval'), parts['validation'])
  np.testing.assert_array_equal(_rows(_config(), 'eval'), parts['test'])
  assert bundled.num_examples(config, 'train') == 4000
  assert bundled.num_examples(config, 'eval') == 500
  # Every class is in every part.
  _, labels = bundled.load()
  for rows in parts.values():
    assert len(set(labels[rows].tolist())) == 10


def test_validation_size_0_is_the_earlier_split_row_for_row():
  order = np.random.default_rng(0).permutation(5000)  # the earlier rule
  config = _config(data__validation_size=0)
  np.testing.assert_array_equal(_rows(config, 'eval'), order[:500])
  np.testing.assert_array_equal(_rows(config, 'train'), order[500:])
  np.testing.assert_array_equal(arrays.holdout_rows(5000, 0.1, 'train'),
                                order[500:])
  images, _ = bundled.load()
  train = data.train_data(config)['image']
  np.testing.assert_array_equal(
      train, data.train_data(_config(data__validation_size=0))['image'])
  assert len(train) == 4500
  np.testing.assert_array_equal((train * 127.5 + 127.5).round().astype(
      np.uint8), images[order[500:]])
  # The test digits are the same whatever the validation split.
  np.testing.assert_array_equal(_rows(_config(), 'eval'), order[:500])
  # The validation digits are the first training digits of the earlier split.
  np.testing.assert_array_equal(
      _rows(_config(eval__split='validation'), 'eval'), order[500:1000])


def test_a_config_older_than_the_fields_keeps_the_earlier_split():
  old = ml_collections.ConfigDict({'data': {'holdout_fraction': 0.1},
                                   'eval': {}})
  assert len(_rows(old, 'train')) == 4500 and len(_rows(old, 'eval')) == 500


@pytest.mark.parametrize('fields, message', [
    ({'eval__split': 'validation', 'data__validation_size': 0},
     'needs a validation split: set config.data.validation_size'),
    ({'eval__split': 'held_out'}, "config.eval.split='held_out' is not one"),
    ({'data__validation_size': 4500}, 'validation_size=4500 must be'),
    ({'data__validation_size': -1}, 'validation_size=-1 must be'),
])
def test_a_split_that_cannot_be_made_is_one_clear_line(fields, message):
  with pytest.raises(DataError, match=message) as e:
    data.check(_config(**fields)) if 'eval__split' not in fields else (
        bundled.source(_config(**fields), 'eval'))
  assert '\n' not in str(e.value)


def test_the_digits_classifier_learns_from_the_training_part_only(
    monkeypatch, tmp_path):
  given = {}

  def load_or_train(train_images, train_labels, *args):
    given['train'] = train_images
    return digits_classifier.Classifier({}, digits_classifier.Settings(), 1.0)

  monkeypatch.setattr(quality.classifier_cache, 'load_or_train',
                      load_or_train)
  quality.digits_classifier_of(_config(eval__classifier_dir=str(tmp_path)))
  images, _ = bundled.load()
  np.testing.assert_array_equal(
      (given['train'] * 127.5 + 127.5).round().astype(np.uint8),
      images[_rows(_config(), 'train')])
  key = {}
  for size in (0, 500):
    config = _config(data__validation_size=size)
    train = data.train_data(config)
    assert len(train['image']) == 4500 - size
    key[size] = classifier_cache.cache_key(
        digits_classifier.Settings(), train['image'], train['label'])
  assert key[0] != key[500]
  # Its training rows hold no validation or test digit.
  config = _config()
  train = set(_rows(config, 'train').tolist())
  assert not train & set(_rows(config, 'eval').tolist())
  assert not train & set(_rows(_config(eval__split='validation'),
                               'eval').tolist())


def test_the_fid_record_names_the_split_scored():
  from vaegan_jax.metrics import fid_protocol  # pylint: disable=g-import-not-at-top
  for split in ('test', 'validation'):
    record = fid_protocol.protocol(_config(eval__split=split), 'digits',
                                   'net', 500, 500)
    assert record['reference_data'].endswith(f', {split} split')
  record = fid_protocol.protocol(_config(eval__fid_reference='train'),
                                 'digits', 'net', 4000, 500)
  assert record['reference_data'].endswith(', train split')
