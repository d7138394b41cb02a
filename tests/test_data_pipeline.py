"""The training stream: order, resumption, sharding, augmentation, checks."""

import itertools
import json

import numpy as np

from configs import mnist
from vaegan_jax import data


def _config(batch_size=8, seed=0, **data_fields):
  config = mnist.get_config()
  config.seed = seed
  config.train.batch_size = batch_size
  for key, value in data_fields.items():
    config.data[key] = value
  return config


def _batches(config, num, **kwargs):
  iterator = data.train_iterator(config, **kwargs)
  return [next(iterator)['image'] for _ in range(num)]


def test_batches_have_the_right_shape_dtype_and_range():
  config = _config(batch_size=16)
  for batch in _batches(config, 3):
    assert batch.shape == (16, 28, 28, 1) and batch.dtype == np.float32
    assert -1 <= batch.min() and batch.max() <= 1


def test_same_seed_gives_the_same_batches_and_another_seed_does_not():
  first = _batches(_config(seed=3), 4)
  again = _batches(_config(seed=3), 4)
  other = _batches(_config(seed=4), 4)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(first[0], other[0])


def test_restored_state_continues_with_the_next_batch():
  config = _config(seed=1)
  uninterrupted = _batches(config, 6)
  iterator = data.train_iterator(config)
  for _ in range(4):
    next(iterator)
  state = json.loads(json.dumps(iterator.get_state()))
  resumed = data.train_iterator(config)
  resumed.set_state(state)
  np.testing.assert_array_equal(next(resumed)['image'], uninterrupted[4])
  np.testing.assert_array_equal(next(resumed)['image'], uninterrupted[5])


def test_state_does_not_depend_on_prefetching():
  config = _config(seed=1, num_threads=1, prefetch=4)
  uninterrupted = _batches(config, 4)
  iterator = data.train_iterator(config)
  next(iterator), next(iterator)
  state = iterator.get_state()
  iterator.close()
  resumed = data.train_iterator(_config(seed=1, num_threads=2, prefetch=1))
  resumed.set_state(state)
  np.testing.assert_array_equal(next(resumed)['image'], uninterrupted[2])
  # The same iterator can also be sent back to an earlier batch.
  resumed.set_state({'next_batch': 0})
  np.testing.assert_array_equal(next(resumed)['image'], uninterrupted[0])


def test_epochs_repeat_in_a_new_order():
  # 8 batches of 500 are one epoch of the 4,000 training digits.
  config = _config(batch_size=500)
  batches = _batches(config, 16)
  first = np.concatenate(batches[:8]).reshape(4000, -1)
  second = np.concatenate(batches[8:]).reshape(4000, -1)
  key = lambda rows: sorted(map(bytes, (rows * 127.5 + 127.5).astype(
      np.uint8)))
  assert key(first) == key(second)
  assert not np.array_equal(first, second)


def test_processes_read_disjoint_rows_that_make_the_global_batch():
  config = _config(batch_size=8, seed=2)
  whole = _batches(config, 3, process_index=0, process_count=1)
  halves = [_batches(config, 3, process_index=i, process_count=2)
            for i in range(2)]
  for step in range(3):
    first, second = halves[0][step], halves[1][step]
    assert first.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(np.concatenate([first, second]),
                                  whole[step])
    assert not any(np.array_equal(a, b)
                   for a, b in itertools.product(first, second))


def test_augmentation_is_fixed_by_seed_and_step_and_switched_by_config():
  plain = _batches(_config(seed=5), 3)
  flipped = _batches(_config(seed=5, random_flip=True), 3)
  again = _batches(_config(seed=5, random_flip=True), 3)
  for a, b in zip(flipped, again):
    np.testing.assert_array_equal(a, b)
  rows = [(p, f) for pb, fb in zip(plain, flipped) for p, f in zip(pb, fb)]
  assert all(np.array_equal(f, p) or np.array_equal(f, p[:, ::-1])
             for p, f in rows)
  assert any(not np.array_equal(f, p) for p, f in rows)
  shifted = _batches(_config(seed=5, random_translate=0.1), 1)[0]
  assert shifted.shape == plain[0].shape
  assert not np.array_equal(shifted, plain[0])


def test_resumed_augmentation_matches_the_uninterrupted_run():
  config = _config(seed=6, random_flip=True, random_translate=0.1)
  uninterrupted = _batches(config, 3)
  iterator = data.train_iterator(config)
  next(iterator), next(iterator)
  resumed = data.train_iterator(config)
  resumed.set_state(iterator.get_state())
  np.testing.assert_array_equal(next(resumed)['image'], uninterrupted[2])


def test_check_passes_on_good_config():
  data.check(_config(batch_size=64))
