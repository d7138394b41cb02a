"""KID, density, coverage, rFID and memorisation in a run's evaluation."""

import json
import os

import numpy as np
import pytest

import vaegan_jax
from tests import helpers
from vaegan_jax import data
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import quality
from vaegan_jax.metrics import reference_stats
from vaegan_jax.run import modes
from vaegan_jax.run import train
from vaegan_jax.run import validation


def _config(**overrides):
  fields = dict(train__num_steps=3, train__log_every=1, eval__every=1,
                eval__num_examples=64, eval__batch_size=32,
                eval__num_fid_samples=256, eval__fid_features='digits',
                train__keep_checkpoints=1)
  return helpers.tiny_config(**{**fields, **overrides})


@pytest.mark.slow
def test_a_run_records_the_new_metrics_and_keeps_the_best_by_kid(
    tmp_path, monkeypatch):
  monkeypatch.setattr(quality, 'CLASSIFIER_SETTINGS',
                      digits_classifier.Settings(num_steps=50))
  config = _config(eval__classifier_dir=str(tmp_path / 'classifier'),
                   eval__best_metric='kid')
  run = tmp_path / 'run'
  train.train_and_evaluate(config, str(run))
  with open(run / 'eval_metrics.json') as f:
    record = json.load(f)
  for name in ('kid', 'kid_std', 'density', 'coverage', 'rfid',
               'memorisation_share', 'memorisation_median_ratio'):
    assert np.isfinite(record[name]), name
  assert 0 <= record['coverage'] <= 1
  assert 0 <= record['memorisation_share'] <= 1
  protocol = record['fid_protocol']
  assert protocol['rfid']['name'] == 'rFID-64 vs eval (64 images), digits'
  assert protocol['density_coverage_k'] == 5 and 'skipped' not in protocol
  # The samples nearest a training image, beside it, at every evaluation.
  kept = sorted(os.listdir(run / 'pictures'))
  assert [n for n in kept if n.startswith('memorisation_')] == [
      f'memorisation_step_{s:06d}.png' for s in (1, 2, 3)]
  lines = [json.loads(l) for l in open(run / 'metrics.jsonl')]
  kids = {r['step']: r['eval/kid'] for r in lines if 'eval/kid' in r}
  assert sorted(kids) == [1, 2, 3]
  assert all('eval/rfid' in r for r in lines if 'eval/kid' in r)
  assert vaegan_jax.load(str(run), 'best').step == min(kids, key=kids.get)
  # rFID is the FID of the held-out images decoded from their posterior
  # means, against the reference the FID uses.
  model = vaegan_jax.load(str(run), 'latest')
  held = data.eval_data(config, 64)['image']
  expected = quality.SampleQuality(config, held).reconstruction_fid(
      model.decode(model.encode(held)[0]))['rfid']
  assert record['rfid'] == pytest.approx(expected, rel=1e-6)
  # --mode=evaluate writes the reference statistics others can score
  # against; scored against that file, the same checkpoint gets the same FID.
  stats = str(tmp_path / 'reference.npz')
  config.eval.write_reference_stats = stats
  first = modes.evaluate_checkpoint(config, str(run), 'latest')
  mu, sigma = reference_stats.load(stats)[:2]
  assert mu.ndim == 1 and sigma.shape == (len(mu), len(mu))
  config.eval.write_reference_stats = None
  config.eval.fid_reference = stats
  again = modes.evaluate_checkpoint(config, str(run), 'latest')
  assert again['fid'] == pytest.approx(first['fid'], rel=1e-4)
  assert 'kid' not in again  # KID needs the reference's features


@pytest.mark.slow
def test_switched_off_metrics_are_not_computed(tmp_path, monkeypatch):
  monkeypatch.setattr(quality, 'CLASSIFIER_SETTINGS',
                      digits_classifier.Settings(num_steps=50))
  config = _config(train__num_steps=1, eval__kid=False,
                   eval__density_coverage=False, eval__rfid=False,
                   eval__memorisation=False,
                   eval__classifier_dir=str(tmp_path / 'classifier'))
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  with open(tmp_path / 'run' / 'eval_metrics.json') as f:
    record = json.load(f)
  assert 'fid' in record and 'precision' in record
  assert not {'kid', 'density', 'coverage', 'rfid',
              'memorisation_share'} & set(record)
  assert not any(n.startswith('memorisation')
                 for n in os.listdir(tmp_path / 'run' / 'pictures'))


def test_the_reference_may_be_a_statistics_file_and_the_resize_a_mode():
  config = helpers.tiny_config(eval__fid_reference='/data/fid_stats.npz',
                               eval__fid_resize='clean')
  assert validation.problems(config, 1, 1) == []
  config = helpers.tiny_config(eval__fid_reference='stats.txt',
                               eval__fid_resize='lanczos')
  found = ' '.join(validation.problems(config, 1, 1))
  assert "config.eval.fid_reference='stats.txt' must be one of" in found
  assert 'an .npz of FID statistics' in found
  assert "config.eval.fid_resize='lanczos' must be one of" in found
