"""Experiments: configs of their runs, resumable training, the report."""

import json
import os
import re

import numpy as np
import pytest

from configs import mnist
from tests import helpers
from vaegan_jax import data
import experiments
from vaegan_jax.run import validation
from experiments import definitions
from experiments import runner
from experiments import translation
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import quality

# Two runs of the translation experiment's kind, and one left out with
# --runs: the report must show the first two and say the third did not run.
TINY = definitions.Experiment(
    name='tiny', title='Tiny', claim='Tiny runs write a report.',
    description='Two runs and one not run.',
    runs=definitions.TRANSLATION.runs + (
        definitions.Run('gan', 'GAN', {'loss.objective': 'gan'}),),
    defaults={}, sections=('losses', 'translation'))


def test_defaults_give_way_to_the_command_line_and_runs_to_neither():
  base = mnist.get_config()
  base.train.num_steps = 7
  config = runner.experiment_config(definitions.LR, base,
                                    keep={'train.num_steps'})
  assert config.train.num_steps == 7 and base.train.log_every == 50
  assert config.train.log_every == definitions.LR.defaults['train.log_every']
  runs = [runner.run_config(config, r) for r in definitions.LR.runs]
  assert [(c.optim.name, c.optim.lr) for c in runs] == [
      (name, lr) for name in ('adam', 'rmsprop')
      for lr in (1.5e-4, 3e-4, 6e-4)]
  assert all(c.train.num_steps == 7 for c in runs)


@pytest.mark.parametrize('name', sorted(definitions.EXPERIMENTS))
def test_every_run_of_every_experiment_is_a_valid_config(name):
  experiment = definitions.EXPERIMENTS[name]
  config = runner.experiment_config(experiment, mnist.get_config())
  names = [r.name for r in experiment.runs]
  assert len(set(names)) == len(names)
  for run in experiment.runs:
    run_config = runner.run_config(config, run)
    validation.validate(run_config, device_count=1, process_count=1)
    data.check(run_config)


def _shift(image, dy, dx):
  """The image moved down dy and right dx pixels, black coming in."""
  out = np.full_like(image, -1.0)
  h, w = image.shape[:2]
  out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = image[
      max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
  return out


def test_translation_shifts_like_training_and_scores_known_models():
  images = data.eval_data(mnist.get_config(), 32)['image']
  shifted = translation.translate(images, 0.1)
  np.testing.assert_array_equal(shifted, translation.translate(images, 0.1))
  # ±10% of 28 pixels: each digit moved by some (dy, dx) in [-3, 3]^2.
  moved = 0
  for image, out in zip(images, shifted):
    shifts = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
              if np.array_equal(_shift(image, dy, dx), out)]
    assert shifts, 'not a shift of at most 3 pixels'
    moved += (0, 0) not in shifts
  assert moved > 24
  identity = translation.translation_errors(lambda x: x, images, 0.1)
  assert identity == {'mse': 0.0, 'mse_translated': 0.0,
                      'sharpness_translated': 1.0}
  # A black reconstruction errs by the ink of its input.
  black = translation.translation_errors(lambda x: np.full_like(x, -1.0),
                                         images, 0.1)
  ink = lambda x: float(np.mean(((x + 1) / 2) ** 2))
  assert black['mse'] == pytest.approx(ink(images), rel=1e-6)
  assert black['mse_translated'] == pytest.approx(ink(shifted), rel=1e-6)
  assert black['sharpness_translated'] == 0.0
  # Blur (a 3x3 box filter) keeps the ink and loses the edges.
  padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode='edge')
  box = sum(padded[:, i:i + 28, j:j + 28] for i in range(3)
            for j in range(3)) / 9
  assert translation.sharpness(box) < 0.8 * translation.sharpness(images)


def test_a_run_is_finished_when_it_reached_its_steps_or_failed(tmp_path):
  assert not runner.is_finished(str(tmp_path), 10)
  (tmp_path / runner.TIMING_FILE).write_text(json.dumps(
      {'sessions': [], 'step': 6}))
  assert not runner.is_finished(str(tmp_path), 10)
  assert runner.is_finished(str(tmp_path), 6)
  (tmp_path / runner.TIMING_FILE).write_text(json.dumps(
      {'sessions': [], 'step': 6, 'error': 'Non-finite values at step 7'}))
  assert runner.is_finished(str(tmp_path), 10)


def test_final_losses_average_the_last_tenth_of_the_log():
  records = [{'step': s, 'loss/kl': float(s)} for s in range(10, 101, 10)]
  result = runner.Result(TINY.runs[0], '', None, None, {'sessions': []},
                         records)
  assert result.final('loss/kl') == 100.0  # only step 100 is past 90
  assert result.final('loss/kl', fraction=0.25) == 90.0  # 80, 90 and 100
  assert result.final('loss/gan_d') is None


@pytest.fixture(scope='module')
def tiny_workdir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('experiment'))
  config = helpers.tiny_config(
      train__num_steps=2, train__log_every=1, eval__every=0,
      eval__fid_features='digits', eval__num_fid_samples=64,
      eval__num_examples=64, eval__batch_size=32,
      eval__classifier_dir=str(tmp_path_factory.mktemp('classifier')))
  with pytest.MonkeyPatch.context() as mp:
    # A short classifier schedule: the test checks the wiring, not the FID.
    mp.setattr(quality, 'CLASSIFIER_SETTINGS',
               digits_classifier.Settings(num_steps=50))
    path = experiments.run(TINY, config, workdir, runs=['vae', 'vaegan'],
                           command='python -m experiments tiny')
  assert path == os.path.join(workdir, 'report.md')
  return workdir, config


def _table_row(report, label):
  return next(line for line in report.splitlines()
              if line.startswith(f'| {label} |'))


@pytest.mark.slow  # a whole training run
def test_a_tiny_experiment_writes_its_report(tiny_workdir):
  workdir, _ = tiny_workdir
  with open(os.path.join(workdir, 'report.md')) as f:
    report = f.read()
  for figure in ('samples', 'reconstructions', 'losses', 'translation'):
    assert f']({figure}.png)' in report
    assert os.path.getsize(os.path.join(workdir, f'{figure}.png')) > 1000
  assert report.splitlines()[2] == '**Claim.** Tiny runs write a report.'
  for label in ('VAE', 'VAE-GAN'):
    fid, precision = _table_row(report, label).split(' | ')[1:3]
    assert float(fid) > 0 and 0 <= float(precision) <= 1
  assert 'not run' in _table_row(report, 'GAN')
  assert re.search(r'2 steps of batch 8', report)
  mse = _table_row(report.split('## Translated')[1], 'VAE').split(' | ')
  assert 0 < float(mse[1]) < 1 and 0 < float(mse[2]) < 1
  with open(os.path.join(workdir, 'runs', 'vae', runner.TIMING_FILE)) as f:
    timing = json.load(f)
  assert timing['step'] == 2 and timing['sessions'][0]['seconds'] > 0


@pytest.mark.slow  # a whole training run
def test_rerunning_skips_finished_runs(tiny_workdir, monkeypatch):
  workdir, config = tiny_workdir
  def no_training(*args):
    raise AssertionError('a finished run was trained again')
  monkeypatch.setattr(runner.train, 'train_and_evaluate', no_training)
  os.remove(os.path.join(workdir, 'report.md'))
  experiments.run(TINY, config, workdir, runs=['vae', 'vaegan'])
  assert os.path.exists(os.path.join(workdir, 'report.md'))


@pytest.mark.slow
def test_the_conditional_section_reads_each_class(tmp_path, monkeypatch):
  from experiments import conditional  # pylint: disable=g-import-not-at-top
  from vaegan_jax.metrics import digits_classifier  # pylint: disable=g-import-not-at-top
  from vaegan_jax.metrics import quality  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(quality, 'CLASSIFIER_SETTINGS',
                      digits_classifier.Settings(num_steps=50))
  monkeypatch.setattr(conditional, 'SAMPLES_PER_CLASS', 20)
  config = helpers.tiny_config(model__conditional=True, train__num_steps=2,
                               eval__every=0, eval__fid_features='none',
                               eval__classifier_dir=str(tmp_path / 'c'))
  experiment = definitions.Experiment(
      name='cond', title='Conditional', claim='c', description='d',
      runs=(definitions.Run('conditional', 'cond', {}),), defaults={},
      sections=('conditional',))
  path = experiments.run(experiment, config, str(tmp_path / 'x'))
  with open(path) as f:
    report = f.read()
  row = next(line for line in report.splitlines()
             if line.startswith('| labelled as asked'))
  shares = [float(v) for v in row.strip('| ').split(' | ')[1:]]
  assert len(shares) == 11 and all(0 <= s <= 1 for s in shares)
  assert os.path.getsize(tmp_path / 'x' / 'classes_conditional.png') > 1000
