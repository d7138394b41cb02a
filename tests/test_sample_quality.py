"""`metrics.SampleQuality`: the metrics `config.eval.fid_features` asks for."""

import glob
import os

import flax.linen as nn
import jax
import numpy as np
import pytest
from PIL import Image

from tests import helpers
from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax import metrics
from vaegan_jax.data import images as images_lib
from vaegan_jax.output import sample_files
from vaegan_jax.metrics import classifier_cache
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import extractors
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import inception_score
from vaegan_jax.metrics import memorisation
from vaegan_jax.metrics import quality
from vaegan_jax.metrics import resize


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
  assert len(real) == (300 if reference == 'eval' else 4000)
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


def _digits_quality(tmp_path, monkeypatch, held_out_count=300, **overrides):
  monkeypatch.setattr(quality, 'CLASSIFIER_SETTINGS',
                      digits_classifier.Settings(num_steps=50))
  config = _config(eval__fid_features='digits',
                   eval__num_examples=held_out_count,
                   eval__num_fid_samples=1000,
                   eval__classifier_dir=str(tmp_path / 'classifier'),
                   **overrides)
  held_out = data.eval_data(config, held_out_count)['image']
  return config, held_out, metrics.SampleQuality(config, held_out)


def test_new_metrics_of_held_out_against_itself_and_their_switches(
    tmp_path, monkeypatch):
  config, held_out, sample_quality = _digits_quality(tmp_path, monkeypatch)
  same = sample_quality(held_out)
  assert same['density'] == pytest.approx(1.0, abs=0.01)
  assert same['coverage'] == 1.0
  protocol = sample_quality.protocol
  assert protocol['density_coverage_k'] == 5
  assert protocol['kid_subsets'] == 100
  # Training digits: the same distribution, other images.
  digits = sample_quality(data.train_data(config)['image'][:1000])
  noise = np.random.default_rng(0).uniform(-1, 1, held_out.shape)
  noisy = sample_quality(noise.astype(np.float32))
  assert abs(digits['kid']) < 3 * digits['kid_std']
  assert noisy['kid'] > 100 * abs(digits['kid']) and noisy['coverage'] < 0.5
  config.eval.kid = config.eval.density_coverage = False
  assert set(sample_quality(held_out)) == {'fid', 'precision', 'recall',
                                           'is', 'is_std'}


def test_reconstruction_fid_and_its_protocol(tmp_path, monkeypatch):
  _, held_out, sample_quality = _digits_quality(tmp_path, monkeypatch)
  same = sample_quality.reconstruction_fid(held_out)
  assert same['rfid'] == pytest.approx(0.0, abs=1e-6)
  assert (sample_quality.protocol['rfid']['name']
          == 'rFID-300 vs eval (300 images), digits')
  blurred = (held_out + np.roll(held_out, 1, axis=1)) / 2
  assert sample_quality.reconstruction_fid(blurred)['rfid'] > 1.0
  sample_quality.config.eval.rfid = False
  assert sample_quality.reconstruction_fid(held_out) == {}
  sample_quality.config.eval.memorisation = False
  assert sample_quality.memorisation(sample_quality.real_features) is None


def test_no_reconstruction_fid_without_an_encoder(tmp_path, monkeypatch):
  _, held_out, sample_quality = _digits_quality(tmp_path, monkeypatch,
                                                loss__objective='gan')
  assert sample_quality.reconstruction_fid(held_out) == {}
  assert 'trains no encoder' in sample_quality.protocol['skipped']['rfid']


def test_memorisation_of_training_copies_and_held_out_images(tmp_path,
                                                           monkeypatch):
  config, held_out, sample_quality = _digits_quality(tmp_path, monkeypatch)
  train = data.train_data(config)['image']
  copies = sample_quality.memorisation(sample_quality.extract(train[:400]))
  assert copies.share == 1.0 and copies.median_ratio == 0.0
  order, rows = memorisation.closest_pairs(copies, count=4)
  pictured = sample_quality.training_images(rows)
  np.testing.assert_array_equal(metrics.quantize(pictured), train[:400][order])
  # The held-out images themselves: the closest 1% of them.
  own = sample_quality.memorisation(sample_quality.extract(held_out))
  assert own.share == pytest.approx(0.01, abs=0.004)
  assert own.median_ratio == pytest.approx(1.0)


def test_statistics_file_as_reference(tmp_path, monkeypatch):
  _, held_out, by_images = _digits_quality(tmp_path, monkeypatch)
  path = str(tmp_path / 'reference.npz')
  written = quality.write_reference_statistics(by_images.config, path,
                                               held_out)
  assert written['name'] == 'FID-1k vs eval (300 images), digits'
  _, _, by_file = _digits_quality(tmp_path, monkeypatch,
                                  eval__fid_reference=path)
  noise = np.random.default_rng(1).uniform(-1, 1, held_out.shape)
  features = by_images.extract(noise.astype(np.float32))
  got, expected = by_file.score(features), by_images.score(features)
  assert got['fid'] == pytest.approx(expected['fid'], rel=1e-9)
  assert set(got) == {'fid', 'is', 'is_std'}
  assert by_file.reconstruction_fid(held_out)['rfid'] == pytest.approx(
      0.0, abs=1e-6)
  protocol = by_file.protocol
  assert protocol['name'] == 'FID-1k vs reference.npz (statistics), digits'
  assert set(protocol['skipped']) == set(quality.NEED_REFERENCE_FEATURES)
  assert 'holds statistics only' in protocol['skipped']['kid']


def test_statistics_file_of_other_features_stops_before_training(tmp_path):
  path = str(tmp_path / 'inception_stats.npz')
  np.savez(path, mu=np.zeros(2048), sigma=np.eye(2048))
  config = _config(eval__fid_features='digits', eval__fid_reference=path,
                   eval__classifier_dir=str(tmp_path))
  with pytest.raises(errors.BadFileError,
                     match='statistics are 2048-dimensional but the features '
                           'of config.eval.fid_features are 128-dimensional'):
    quality.check_files(config)


def test_clean_resize_extractor_feeds_the_network_clean_fid_pixels(
    monkeypatch):
  class ChannelMeans(nn.Module):  # stands in for the Inception network

    @nn.compact
    def __call__(self, x):
      return x.mean(axis=(1, 2))

  monkeypatch.setattr(extractors.inception, 'FIDInceptionV3', ChannelMeans)
  extract = extractors._clean_extractor({}, batch_size=3, mesh=None)
  images = np.random.default_rng(0).uniform(-1, 1, (5, 28, 28, 1))
  expected = resize.clean_resize(images_lib.to_uint8(images)).mean(axis=(1, 2))
  np.testing.assert_allclose(extract(images.astype(np.float32)), expected,
                             rtol=1e-5, atol=1e-6)


def test_clean_resize_is_named_in_the_protocol(monkeypatch):
  # Eight pixels stand in for the Inception features: this checks the record.
  pixels = lambda images: np.asarray(images, np.float32).reshape(
      len(images), -1)[:, :8]
  monkeypatch.setattr(extractors, 'inception_extractor',
                      lambda *args, **kwargs: pixels)
  monkeypatch.setattr(extractors, 'inception_head', lambda path: None)
  config = _config(eval__fid_features='inception', data__image_size=32,
                   data__channels=3, eval__inception_weights='w.npz',
                   eval__fid_resize='clean', eval__num_examples=64,
                   eval__num_fid_samples=64)
  held_out = data.eval_data(config, 64)['image']
  protocol = metrics.SampleQuality(config, held_out).protocol
  assert protocol['name'] == ('FID-64 vs eval (64 images), inception, '
                              'clean resize')
  assert protocol['resize_mode'] == 'clean'
  assert protocol['resize'].startswith('PIL bicubic with antialiasing')
