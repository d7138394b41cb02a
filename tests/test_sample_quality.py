"""`metrics.SampleQuality`: the metrics `config.eval.fid_features` asks for."""

import glob
import os

import jax
import numpy as np
import pytest
from PIL import Image

from tests import helpers
from vaegan_jax import data
from vaegan_jax import metrics
from vaegan_jax.output import sample_files
from vaegan_jax.metrics import classifier_cache
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import extractors
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import inception_score
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
  # The Inception Score from the classifier's own logits, of 8-bit images.
  classifier = classifier_cache.load(glob.glob(os.path.join(
      tmp_path, 'digits_classifier_*.npz'))[0])
  logits, _ = digits_classifier.DigitsCNN().apply(
      {'params': classifier.params}, extractors.quantize(held_out))
  expected = inception_score.inception_score(np.asarray(logits))
  np.testing.assert_allclose([same['is'], same['is_std']], expected,
                             rtol=1e-4)
  assert same['is'] > 2.0  # real digits of 10 classes


def _untrained_digits_extractor():
  settings = digits_classifier.Settings()
  params = digits_classifier.DigitsCNN().init(
      jax.random.key(0), np.zeros((1, 28, 28, 1), np.float32))['params']
  classifier = digits_classifier.Classifier(params, settings, 0.0)
  return metrics.feature_extractor('digits', classifier=classifier,
                                   batch_size=16)


def test_features_are_those_of_the_saved_pngs(tmp_path):
  extract = _untrained_digits_extractor()
  samples = np.random.default_rng(0).uniform(-1, 1, (20, 28, 28, 1))
  files = sample_files.SampleFiles(str(tmp_path), 'samples', ['png'])
  files.add(samples)
  files.close()
  pngs = np.stack([np.asarray(Image.open(tmp_path / 'samples' / f'{i:06d}.png'))
                   for i in range(20)])[..., None]
  assert pngs.dtype == np.uint8
  np.testing.assert_array_equal(extract(samples.astype(np.float32)),
                                extract(pngs))
  np.testing.assert_array_equal(metrics.quantize(pngs),
                                pngs / np.float32(127.5) - 1)


def test_running_statistics_equal_those_of_all_rows():
  features = np.random.default_rng(1).normal(0.5, 0.2, (300, 7))
  running = frechet.RunningStatistics()
  for start in range(0, 300, 64):
    running.add(features[start:start + 64])
  mu, sigma = running.result()
  expected_mu, expected_sigma = frechet.statistics(features)
  np.testing.assert_allclose(mu, expected_mu, rtol=1e-12)
  np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize('reference', ['eval', 'train'])
def test_reference_split_statistics_and_protocol(tmp_path, monkeypatch,
                                                 reference):
  monkeypatch.setattr(quality, 'CLASSIFIER_SETTINGS',
                      digits_classifier.Settings(num_steps=50))
  config = _config(eval__fid_features='digits', eval__num_examples=300,
                   eval__fid_reference=reference, eval__num_fid_samples=1000,
                   eval__classifier_dir=str(tmp_path))
  held_out = data.eval_data(config, 300)['image']
  sample_quality = metrics.SampleQuality(config, held_out)
  real = (held_out if reference == 'eval' else
          data.train_data(config)['image'])
  assert len(real) == (300 if reference == 'eval' else 4500)
  features = sample_quality.extract(real)
  for got, expected in zip(sample_quality.real_statistics,
                           frechet.statistics(features)):
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
  # Precision and recall: all of them, or a subset of the samples' size.
  assert len(sample_quality.real_features) == min(len(real), 1000)
  protocol = sample_quality.protocol
  assert protocol['reference'] == reference
  assert protocol['reference_size'] == len(real)
  assert protocol['samples'] == 1000 and protocol['features'] == 'digits'
  assert protocol['name'] == (f'FID-1k vs {reference} ({len(real)} images), '
                              'digits')
  assert 'uint8' in protocol['pixels']
