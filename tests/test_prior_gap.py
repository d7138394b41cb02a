"""The prior-gap measure: reconstructions and prior samples scored alike."""

import types

import numpy as np
import pytest

from experiments import prior_gap
from tests import helpers
from vaegan_jax import data
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import quality


@pytest.mark.slow  # the digits classifier's features
def test_perfect_reconstructions_score_above_noise_samples(tmp_path,
                                                           monkeypatch):
  monkeypatch.setattr(quality, 'CLASSIFIER_SETTINGS',
                      digits_classifier.Settings(num_steps=50))
  config = helpers.tiny_config(
      eval__fid_features='digits', eval__num_examples=200,
      eval__classifier_dir=str(tmp_path))
  train = data.train_data(config)['image'][:300]
  decoded = {}

  def decode(codes):  # each code's own training digit: perfect
    decoded['codes'] = codes
    return train[np.asarray(codes[:, 0], int)]

  def encode(images):
    codes = np.zeros((len(images), 8), np.float32)
    codes[:, 0] = np.arange(len(images))
    return codes, np.log(np.full_like(codes, 0.5))

  noise = np.random.default_rng(0).uniform(-1, 1, train.shape)
  model = types.SimpleNamespace(
      config=config, encode=encode, decode=decode,
      sample=lambda num, seed: noise[:num].astype(np.float32))
  monkeypatch.setattr(prior_gap.vaegan_jax, 'load', lambda workdir: model)
  gap = prior_gap.measure('run', count=300)
  assert decoded['codes'].shape == (300, 8)  # the posterior means decoded
  reconstructions, samples = gap['reconstructions'], gap['samples']
  assert reconstructions['precision'] > 0.7 and samples['precision'] < 0.1
  assert reconstructions['fid'] < samples['fid'] / 5
  # Codes 0..299 on one axis, variance 0.5 on every axis.
  assert gap['code_mean'] == pytest.approx(149.5 / 8)
  assert gap['code_second_moment'] == pytest.approx(
      (np.mean(np.arange(300.0) ** 2) + 8 * 0.5) / 8, rel=1e-5)
