"""`metrics.SampleQuality`: the metrics `config.eval.fid_features` asks for."""

import glob
import os

import numpy as np
import pytest

from tests import helpers
from vaegan_jax import data
from vaegan_jax import metrics
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import quality


def _config(**overrides):
  return helpers.tiny_config(**{'eval__batch_size': 64, **overrides})


def test_auto_picks_digits_for_28x28_gray_and_inception_given_weights():
  assert quality.resolve_kind(_config(eval__fid_features='auto')) == 'digits'
  colour = _config(eval__fid_features='auto', data__image_size=32,
                   data__channels=3)
  assert quality.resolve_kind(colour) == 'none'
  colour.eval.inception_weights = 'inception_fid.npz'
  assert quality.resolve_kind(colour) == 'inception'


def test_digits_quality_of_held_out_against_itself_and_noise(tmp_path,
                                                             monkeypatch):
  # A short schedule: this test checks the wiring, not the classifier.
  monkeypatch.setattr(quality, 'CLASSIFIER_SETTINGS',
                      digits_classifier.Settings(num_steps=50))
  config = _config(eval__fid_features='digits',
                   eval__classifier_dir=str(tmp_path))
  held_out = data.eval_data(config, 200)['image']
  sample_quality = metrics.SampleQuality(config, held_out)
  assert len(glob.glob(os.path.join(tmp_path, 'digits_classifier_*.npz'))) == 1
  same = sample_quality(held_out)
  assert same['fid'] == pytest.approx(0.0, abs=1e-6)
  assert same['precision'] == same['recall'] == 1.0
  noise = np.random.default_rng(0).uniform(-1, 1, held_out.shape)
  assert sample_quality(noise.astype(np.float32))['fid'] > 10.0
