"""The digits classifier on the 5,000 real MNIST digits bundled with the
package, and the offline digits FID, precision and recall on its features."""

import os
import time

import flax.linen as nn
import jax
import numpy as np
import pytest

from tests import helpers
from vaegan_jax import metrics
from vaegan_jax import parallel
from vaegan_jax.data import bundled
from vaegan_jax.metrics import classifier_cache
from vaegan_jax.metrics import digits_classifier as dc

NUM_HELD_OUT = 500


@pytest.fixture(scope='module')
def digits():
  """(train images, train labels, held-out images, held-out labels).

  Each row is 784 pixel values 0-255, then the label; the rows are
  shuffled with a fixed seed and split 4,500 / 500.
  """
  images, labels = bundled.load()
  rows = np.concatenate([images.reshape(-1, 784), labels[:, None]],
                        axis=1).astype(np.int64)
  rows = rows[np.random.default_rng(0).permutation(len(rows))]
  images = (rows[:, :784].reshape(-1, 28, 28, 1) / 127.5 - 1).astype(
      np.float32)
  labels = rows[:, 784]
  return (images[:-NUM_HELD_OUT], labels[:-NUM_HELD_OUT],
          images[-NUM_HELD_OUT:], labels[-NUM_HELD_OUT:])


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('digits_cache'))


@pytest.fixture(scope='module')
def trained(digits, cache_dir):
  start = time.time()
  with helpers.optimised_compilation():
    classifier = classifier_cache.load_or_train(*digits, cache_dir=cache_dir)
  return classifier, time.time() - start


@pytest.mark.slow  # trains the classifier to full accuracy (about 10 s)
def test_held_out_accuracy_is_at_least_97_percent(trained, digits):
  classifier, seconds = trained
  print(f'digits classifier: held-out accuracy '
        f'{classifier.held_out_accuracy:.4f}, trained in {seconds:.1f}s')
  assert classifier.held_out_accuracy >= 0.97
  assert classifier.held_out_accuracy == dc.accuracy(
      classifier.params, digits[2], digits[3], classifier.settings)


@pytest.mark.slow  # trains the classifier to full accuracy (about 10 s)
def test_cache_loads_the_same_classifier_quickly(trained, digits, cache_dir):
  classifier, _ = trained
  start = time.time()
  loaded = classifier_cache.load_or_train(*digits, cache_dir=cache_dir)
  assert time.time() - start < 2.0
  assert loaded.path == classifier.path and os.path.exists(loaded.path)
  assert loaded.settings == classifier.settings
  assert loaded.held_out_accuracy == classifier.held_out_accuracy
  jax.tree.map(np.testing.assert_array_equal, loaded.params,
               jax.tree.map(np.asarray, classifier.params))


def test_cache_key_follows_settings_and_data(digits):
  images, labels = digits[0][:100], digits[1][:100]
  key = classifier_cache.cache_key(dc.Settings(), images, labels)
  assert key == classifier_cache.cache_key(dc.Settings(), images.copy(), labels.copy())
  assert key != classifier_cache.cache_key(dc.Settings(seed=1), images, labels)
  assert key != classifier_cache.cache_key(dc.Settings(num_steps=10), images, labels)
  assert key != classifier_cache.cache_key(dc.Settings(), images[::-1], labels)


def test_conv3x3_is_a_same_padded_convolution():
  x = np.random.default_rng(0).normal(size=(2, 9, 7, 3)).astype(np.float32)
  ours = dc.Conv3x3(5)
  params = ours.init(jax.random.key(0), x)['params']
  kernel = params['Dense_0']['kernel'].reshape(3, 3, 3, 5)
  conv_params = {'kernel': kernel, 'bias': params['Dense_0']['bias']}
  expected = nn.Conv(5, (3, 3), padding='SAME').apply(
      {'params': conv_params}, x)
  np.testing.assert_allclose(ours.apply({'params': params}, x), expected,
                             rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # trains the classifier to full accuracy (about 10 s)
def test_features_are_batched_and_sharded_consistently(trained, digits):
  classifier, _ = trained
  images = digits[2][:150]
  direct = dc.apply_fn(classifier.settings)(
      {'params': classifier.params}, images)
  batched = metrics.feature_extractor('digits', classifier=classifier,
                                      batch_size=64)(images)
  assert batched.shape == (150, classifier.settings.dense)
  np.testing.assert_allclose(batched, direct, rtol=1e-5, atol=1e-5)
  mesh = parallel.make_mesh()
  sharded = metrics.feature_extractor('digits', classifier=classifier,
                                      batch_size=8 * len(jax.devices()),
                                      mesh=mesh)(images)
  np.testing.assert_allclose(sharded, direct, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # trains the classifier to full accuracy (about 10 s)
def test_digits_fid_precision_recall_rank_real_above_degraded(trained,
                                                              digits):
  classifier, _ = trained
  extract = metrics.feature_extractor('digits', classifier=classifier)
  train_images, train_labels, held_out, _ = digits
  real = extract(held_out)
  rng = np.random.default_rng(0)
  same = metrics.sample_quality(real, extract(train_images[:1000]))
  noise = metrics.sample_quality(real, extract(
      rng.uniform(-1, 1, held_out.shape).astype(np.float32)))
  # Only digits 0-4, as a generator that dropped half the modes.
  half = train_images[train_labels < 5][:1000]
  dropped = metrics.sample_quality(real, extract(half))
  print(f'digits features: real {same}, half the classes {dropped}, '
        f'noise {noise}')
  assert same['fid'] < dropped['fid'] < noise['fid']
  assert same['precision'] > 0.7 and same['recall'] > 0.7
  assert noise['precision'] < 0.05
  assert dropped['recall'] < same['recall'] - 0.25
