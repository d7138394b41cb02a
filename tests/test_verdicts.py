"""The reports' verdicts: each follows its own numbers."""

import ml_collections
import numpy as np
import pytest

from experiments import definitions
from experiments import runner
from experiments import verdicts


def _results(experiment, metrics, losses=None):
  """Finished-looking results of `experiment`'s runs with these metrics (and
  a training log ending at these losses)."""
  out = []
  for run in experiment.runs:
    config = ml_collections.ConfigDict({
        'loss': {'blend_lambda': run.overrides.get('loss.blend_lambda', 0.0)},
        'optim': {'name': run.overrides.get('optim.name', 'adam')}})
    records = [{'step': 100, **(losses or {}).get(run.name, {})}]
    out.append(runner.Result(run, f'/runs/{run.name}', config,
                             metrics[run.name], {'sessions': []}, records))
  return out


def test_compare_holds_only_when_the_vaegan_scores_best():
  good = {'vae': {'fid': 200.0}, 'gan': {'fid': 40.0}, 'vaegan': {'fid': 30.0}}
  text = verdicts.compare(_results(definitions.COMPARE, good))
  assert text.startswith('The claim holds here') and '30.0' in text
  bad = {**good, 'gan': {'fid': 20.0}}
  text = verdicts.compare(_results(definitions.COMPARE, bad))
  assert text.startswith('The claim does not hold here') and 'GAN gives' in text


def test_ablation_reads_its_ends_and_its_best_encoder():
  fid = {0.0: 200.0, 0.25: 90.0, 0.5: 60.0, 0.75: 70.0, 1.0: 40.0}
  metrics = {f'lambda_{lam}': {'fid': f} for lam, f in fid.items()}
  text = verdicts.ablation(_results(definitions.ABLATION, metrics))
  assert text.startswith('The claim holds here')
  assert 'does not fall steadily' in text and 'λ = 0.5 (FID 60.0)' in text
  metrics['lambda_1.0'] = {'fid': 250.0}
  text = verdicts.ablation(_results(definitions.ABLATION, metrics))
  assert text.startswith('The claim does not hold here')


def test_feature_layer_holds_when_the_third_layer_is_best():
  metrics = {'layer_1': {'fid': 50.0}, 'layer_2': {'fid': 40.0},
             'layer_3': {'fid': 30.0}}
  results = _results(definitions.FEATURE_LAYER, metrics)
  assert verdicts.feature_layer(results).startswith('The claim holds')
  metrics['layer_1'] = {'fid': 10.0}
  text = verdicts.feature_layer(_results(definitions.FEATURE_LAYER, metrics))
  assert text.startswith('The claim does not hold') and 'is Dis_1' in text


def test_collapse_counts_the_remedies_that_raise_recall_and_lower_fid():
  metrics = {'none': {'fid': 30.0, 'recall': 0.7},
             'minibatch_std': {'fid': 25.0, 'recall': 0.8},
             'replay': {'fid': 35.0, 'recall': 0.8},
             'both': {'fid': 20.0, 'recall': 0.6}}
  text = verdicts.collapse(_results(definitions.COLLAPSE, metrics))
  assert text.startswith(
      'The claim does not hold here for every setting: it holds for 1 of the 3')
  for name in ('replay', 'both'):
    metrics[name] = {'fid': 29.0, 'recall': 0.71}
  text = verdicts.collapse(_results(definitions.COLLAPSE, metrics))
  assert text.startswith('The claim holds here for every remedy')


def test_lr_is_stable_when_no_loss_changes_by_half_across_rates():
  metrics = {r.name: {'fid': 50.0} for r in definitions.LR.runs}
  metrics['rmsprop_6e-4'] = {'fid': 10.0}
  losses = {r.name: {'loss/gan_g': 2.0, 'loss/kl': 20.0, 'loss/gan_d': 0.2}
            for r in definitions.LR.runs}
  losses['adam_6e-4'] = {**losses['adam_6e-4'], 'loss/kl': 29.0}
  text = verdicts.lr(_results(definitions.LR, metrics, losses))
  assert text.startswith('The claim holds here')
  assert 'Adam loss/kl, a factor 1.45' in text
  assert "RMSprop, 6e-4's (10.0)" in text
  assert 'the losses are within a factor 1.5 (widest: loss/kl at 6e-4, 1.45)' in text
  losses['rmsprop_1.5e-4'] = {**losses['rmsprop_1.5e-4'], 'loss/gan_d': 0.1}
  text = verdicts.lr(_results(definitions.LR, metrics, losses))
  assert text.startswith('The claim does not hold here')
  assert 'RMSprop loss/gan_d, a factor 2.00' in text
  assert 'NOT within a factor 1.5 (widest: loss/gan_d at 1.5e-4, 2.00)' in text


def test_conditional_holds_at_the_threshold(monkeypatch):
  accuracy = np.full(10, 0.95)
  accuracy[3] = 0.5
  monkeypatch.setattr(verdicts.conditional, 'class_accuracy',
                      lambda directory: (accuracy, None))
  results = _results(definitions.CONDITIONAL, {'conditional': {}})
  text = verdicts.conditional_claim(results)
  assert text.startswith('The claim does not hold') and 'class is 3' in text
  accuracy[3] = 0.95
  assert verdicts.conditional_claim(results).startswith('The claim holds')


def test_translation_holds_when_the_vaegan_keeps_more_sharpness(monkeypatch):
  numbers = {'/runs/vae': {'mse_translated': 0.01, 'sharpness_translated': 0.6},
             '/runs/vaegan': {'mse_translated': 0.02,
                              'sharpness_translated': 0.9}}
  monkeypatch.setattr(verdicts.translation, 'run_errors',
                      lambda directory, fraction: numbers[directory])
  results = _results(definitions.TRANSLATION, {'vae': {}, 'vaegan': {}})
  assert verdicts.translation_claim(results).startswith('The claim holds')
  numbers['/runs/vaegan']['sharpness_translated'] = 0.5
  assert verdicts.translation_claim(results).startswith(
      'The claim does not hold')


@pytest.mark.parametrize('name', sorted(definitions.EXPERIMENTS))
def test_every_experiment_has_a_verdict(name):
  assert name in verdicts.VERDICTS
