"""Experiments: configs of their runs, resumable training, the report."""

import dataclasses
import datetime
import json
import os
import pathlib
import re
import shutil

import numpy as np
import pytest
from scipy import stats

from configs import mnist
from tests import helpers
from vaegan_jax import data
import experiments
from vaegan_jax.run import validation
from experiments import definitions
from experiments import floors
from experiments import records
from experiments import report
from experiments import runner
from experiments import translation
from experiments import verdicts
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import quality
from vaegan_jax.output import writers
from vaegan_jax.store import workdir as workdir_lib

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
  shifts = (('seen', 0.1), ('unseen', 0.2))
  identity = translation.translation_errors(lambda x: x, images, shifts)
  assert identity == {'unshifted': {'mse': 0.0, 'sharpness': 1.0},
                      'seen': {'fraction': 0.1, 'mse': 0.0, 'sharpness': 1.0},
                      'unseen': {'fraction': 0.2, 'mse': 0.0,
                                 'sharpness': 1.0}}
  # A black reconstruction errs by the ink of its input.
  black = translation.translation_errors(lambda x: np.full_like(x, -1.0),
                                         images, shifts)
  ink = lambda x: float(np.mean(((x + 1) / 2) ** 2))
  assert black['unshifted']['mse'] == pytest.approx(ink(images), rel=1e-6)
  assert black['seen']['mse'] == pytest.approx(ink(shifted), rel=1e-6)
  assert black['seen']['sharpness'] == 0.0
  # The larger shift moves digits further: by up to 6 pixels, some by more
  # than 3; the degradation is each shift's value over the unshifted one.
  far = translation.translate(images, 0.2)
  assert any(not any(np.array_equal(_shift(image, dy, dx), out)
                     for dy in range(-3, 4) for dx in range(-3, 4))
             for image, out in zip(images, far))
  # A dim model (half each pixel's intensity) keeps half the sharpness of
  # every input, so a shift does not change its sharpness ratio.
  dim = translation.translation_errors(lambda x: (x - 1) / 2, images, shifts)
  assert translation.degradation(dim, 'unseen') == {
      'mse': pytest.approx(ink(far) / ink(images), rel=1e-5),
      'sharpness': pytest.approx(1.0)}
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
  result = runner.Result(TINY.runs[0], 0, '', None, None, {'sessions': []},
                         records, [], {})
  assert result.final('loss/kl') == 100.0  # only step 100 is past 90
  assert result.final('loss/kl', fraction=0.25) == 90.0  # 80, 90 and 100
  assert result.final('loss/gan_d') is None


def test_each_run_repeats_over_seeds_in_its_own_folder(tmp_path):
  config = mnist.get_config()
  config.seed = 3
  assert runner.seeds(config, 3) == [3, 4, 5]
  with pytest.raises(ValueError, match='--seeds=0'):
    runner.seeds(config, 0)
  run = definitions.COMPARE.runs[0]
  assert runner.run_config(config, run, 4).seed == 4
  assert runner.run_dir('w', run, 4) == os.path.join('w', 'runs', 'vae',
                                                     'seed_4')
  for seed in (10, 2):
    os.makedirs(runner.run_dir(str(tmp_path), run, seed))
  os.makedirs(tmp_path / 'runs' / 'vae' / 'seed_x')
  assert runner.found_seeds(str(tmp_path), run) == [2, 10]
  assert runner.found_seeds(str(tmp_path), definitions.COMPARE.runs[1]) == []
  tuning = (definitions.FEATURES, definitions.TUNE)
  seed_claims = [e for e in definitions.EXPERIMENTS.values()
                 if e not in tuning]
  assert all(e.seeds >= 3 for e in seed_claims)
  assert definitions.COMPARE.seeds == 5
  assert all(e.defaults['eval.every'] <= 200 for e in seed_claims)
  assert all(e.defaults.get('eval.split', 'test') == 'test'
             for e in seed_claims)
  # The experiments that choose settings do so on validation: features
  # over 3 seeds, tune one seed per trial, the same trials for each model.
  assert [e.seeds for e in tuning] == [3, 1]
  assert all(e.defaults['eval.split'] == 'validation' for e in tuning)
  trials = {}
  for run in definitions.TUNE.runs:
    model = next(m for m, *_ in sorted(definitions.TUNE_MODELS, key=lambda m:
                                       -len(m[0])) if run.name.startswith(m))
    trials.setdefault(model, []).append(run.name[len(model) + 1:])
  assert len(trials) == 4
  assert all(t == ['third', 'default', 'triple', 'lr'] for t in
             trials.values())


def test_log_files_keep_each_evaluation_with_its_losses():
  metrics = [{'step': 10, 'loss/kl': 1.23456789, 'grad_norm/encoder': 3.0,
              'perf/steps_per_sec': 2.0},
             {'step': 20, 'loss/kl': 2.0, 'perf/steps_per_sec': 2.5},
             {'step': 20, 'eval/fid': 50.123456789, 'eval/kl': 7.0},
             {'step': 10, 'loss/kl': 1.5}]  # a resumed run logs step 10 again
  evaluations, losses = records.log_files(metrics)
  assert evaluations == [{'step': 20, 'fid': 50.1235, 'kl': 7.0,
                          'loss/kl': 2.0}]
  assert losses == [{'step': 10, 'loss/kl': 1.5},
                    {'step': 20, 'loss/kl': 2.0, 'perf/steps_per_sec': 2.5}]


def _seed_claims():
  """(experiment, seed file, quoted text) of every claim's quotation."""
  for experiment in definitions.EXPERIMENTS.values():
    claim = experiment.claim
    if claim.startswith('Not a seed\'s claim'):  # the project's own target
      continue
    names = re.findall(r'\d{3}_[0-9a-f]{16}\.txt', claim)
    assert names, f'{experiment.name}: its claim names no seed file'
    for part in re.split(r'(\d{3}_[0-9a-f]{16}\.txt)', claim)[1:]:
      if part in names:
        name = part
        continue
      for quote in re.findall(r'"([^"]+)"', part.split('Tested here')[0]):
        yield experiment.name, name, quote


SEEDS_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), '..', 'shared', 'seeds')


@pytest.mark.skipif(not os.path.isdir(SEEDS_DIR),
                    reason='the seed texts are not beside this checkout')
def test_claims_quote_their_seeds_word_for_word():
  quotes = list(_seed_claims())
  assert len(quotes) >= 9
  for experiment, name, quote in quotes:
    with open(os.path.join(SEEDS_DIR, name), encoding='utf-8') as f:
      text = ' '.join(f.read().split())
    assert ' '.join(quote.split()) in text, (experiment, name, quote)


# A fake experiment whose runs' files are written by hand: no training.
FAKE = definitions.Experiment(
    name='translation', title='Fake', claim='Fake runs make a report.',
    description='Two runs of three seeds.', runs=definitions.TRANSLATION.runs,
    defaults={}, sections=('losses', 'translation'))
STEPS = 600


def _fake_seed(directory, config, seed, offset):
  """A finished seed's record files, and decoys a report must not read."""
  rng = np.random.default_rng(seed + int(offset))
  os.makedirs(directory)
  with open(os.path.join(directory, 'config.json'), 'w') as f:
    json.dump(workdir_lib.as_dict(config), f)
  fid = {200: 90 + offset, 400: 60 + offset, 600: 40 + offset + seed}
  with open(os.path.join(directory, runner.EVAL_METRICS_FILE), 'w') as f:
    json.dump({'step': STEPS, 'fid': fid[600], 'precision': 0.5 + seed / 10,
               'recall': 0.4, 'recon_mse': 0.05, 'kl': 20.0 + seed,
               'active_units': 8}, f)
  with open(os.path.join(directory, runner.TIMING_FILE), 'w') as f:
    json.dump({'sessions': [{
        'began': f'2001-01-0{seed + 1}T10:00:00+00:00',
        'ended': f'2001-01-0{seed + 1}T10:05:00+00:00', 'seconds': 300.0,
        'step': STEPS, 'machine': 'a test machine',
        'command': 'python -m experiments fake'}], 'step': STEPS,
               'num_steps': STEPS}, f)
  metrics = [{'step': s, 'loss/gan_g': 2 + rng.random(), 'loss/kl': 20.0,
              'loss/gan_d': 0.3, 'perf/steps_per_sec': 3.0}
             for s in range(10, STEPS + 1, 10)]
  metrics += [{'step': s, 'eval/fid': f} for s, f in fid.items()]
  evaluations, losses = records.log_files(metrics)
  for name, lines in ((runner.EVALUATIONS_FILE, evaluations),
                      (runner.LOSSES_FILE, losses)):
    with open(os.path.join(directory, name), 'w') as f:
      f.writelines(json.dumps(r) + '\n' for r in lines)
  with open(os.path.join(directory, runner.MEASURES_FILE), 'w') as f:
    sharp = 0.5 + offset / 100 + seed / 100
    json.dump({'translation': {
        'unshifted': {'mse': 0.05, 'sharpness': 0.9},
        'seen': {'fraction': 0.1, 'mse': 0.1 - (offset + seed) / 1000,
                 'sharpness': sharp},
        'unseen': {'fraction': 0.2, 'mse': 0.2 - (offset + seed) / 500,
                   'sharpness': sharp / 2}}}, f)
  digits = lambda n: rng.integers(0, 256, (n, 28, 28, 1), np.uint8)
  np.savez(os.path.join(directory, runner.PICTURES_FILE),
           held_out=digits(8), reconstructions=digits(8),
           translation_inputs=digits(12), translated_seen=digits(12),
           reconstructions_seen=digits(12), translated_unseen=digits(12),
           reconstructions_unseen=digits(12))
  writers.save_png(os.path.join(directory, runner.SAMPLES_FILE),
                   digits(1)[0])
  # Decoys: a workdir's big files, which the copies leave out.
  with open(os.path.join(directory, 'metrics.jsonl'), 'w') as f:
    f.write('{"step": 600, "eval/fid": 1.0}\n')
  os.makedirs(os.path.join(directory, 'checkpoints', '600'))


@pytest.fixture
def fake_workdir(tmp_path):
  config = helpers.tiny_config(train__num_steps=STEPS, eval__every=200,
                               eval__fid_features='digits')
  workdir = tmp_path / 'workdir'
  for run, offset in zip(FAKE.runs, (0.0, 10.0)):
    for seed in range(3):
      _fake_seed(runner.run_dir(str(workdir), run, seed),
                 runner.run_config(config, run, seed), seed, offset)
  return workdir


def _outputs(folder):
  return {name: (folder / name).read_bytes() for name in sorted(
      os.listdir(folder)) if name.endswith(('.md', '.png'))}


def test_the_report_is_written_again_byte_for_byte_from_the_copies(
    fake_workdir, tmp_path):
  report.write(FAKE, str(fake_workdir))
  first = _outputs(fake_workdir)
  assert set(first) == {'report.md', 'samples.png', 'reconstructions.png',
                        'losses.png', 'translation.png', 'fid_steps.png'}
  docs = tmp_path / 'docs'
  for run in FAKE.runs:
    for seed in runner.found_seeds(str(fake_workdir), run):
      copied = records.export(runner.run_dir(str(fake_workdir), run, seed),
                              runner.run_dir(str(docs), run, seed))
      assert copied == list(runner.RECORD_FILES)
  assert not list(docs.glob('runs/*/*/checkpoints'))
  assert not list(docs.glob('runs/*/*/metrics.jsonl'))
  report.write(FAKE, str(docs))
  assert _outputs(docs) == first
  for name in first:  # and again in the same folder
    (docs / name).unlink()
  report.write(FAKE, str(docs))
  assert _outputs(docs) == first
  text = first['report.md'].decode()
  # Means and 95% intervals over the three seeds: FID 40, 41, 42.
  half = stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
  assert f'| VAE | 3 | 41.00 ± {half:.2f} |' in text
  assert '**Here.** The claim holds here' in text
  assert '| VAE | 90.0 ± 0.0 | 60.0 ± 0.0 | 41.0 ± ' in text
  assert 'FID still falls at the end for VAE, VAE-GAN' in text
  assert 'trained by | `python -m experiments fake`' in text
  # A setting the runs share is stated once; one they differ in says so,
  # with the overrides beside it: translation's runs have their own lr.
  assert '| optimiser | adam, lr by run, schedule constant |' in text
  assert '`optim.lr=0.0003`' in text and '`optim.lr=0.0006`' in text
  assert '| GAN loss | minimax, equilibrium gating on, γ ' in text


def test_a_run_stopped_by_the_collapse_watch_counts_as_finished(tmp_path):
  config = mnist.get_config()
  config.train.num_steps, config.eval.stop_on_collapse = 1000, True
  kls = [(100, 4.0), (200, 0.3), (300, 0.2), (400, 0.1)]
  (tmp_path / 'metrics.jsonl').write_text(''.join(
      json.dumps({'step': s, 'eval/kl': kl}) + '\n' for s, kl in kls))
  reason = runner.collapse_stop(config, str(tmp_path), 400)
  assert reason.startswith('posterior collapse at step 400')
  # Two low evaluations of three, a signal, or no watch: not a collapse.
  assert runner.collapse_stop(config, str(tmp_path), 300) is None
  assert runner.collapse_stop(config, str(tmp_path), 1000) is None
  config.eval.stop_on_collapse = False
  assert runner.collapse_stop(config, str(tmp_path), 400) is None
  (tmp_path / runner.TIMING_FILE).write_text(json.dumps(
      {'sessions': [], 'step': 400, 'stopped': reason}))
  assert runner.is_finished(str(tmp_path), 1000)
  result = runner.Result(definitions.KL_COLLAPSE.runs[2], 0, str(tmp_path),
                         config, {'fid': 50.0},
                         runner.read_timing(str(tmp_path)), [], [], {})
  assert result.finished
  result.timing.pop('stopped')
  assert not result.finished


def test_a_stability_verdict_also_sees_the_seeds_that_diverged(
    fake_workdir, monkeypatch):
  run = FAKE.runs[0]
  timing = runner.read_timing(runner.run_dir(str(fake_workdir), run, 2))
  timing['error'] = 'non-finite losses at step 3'
  (fake_workdir / 'runs' / run.name / 'seed_2' / runner.TIMING_FILE
   ).write_text(json.dumps(timing))
  seen = {}
  monkeypatch.setitem(verdicts.VERDICTS, FAKE.name, lambda groups: seen.update(
      {n: sorted(r.seed for r in s) for n, s in groups.items()}) or 'seen')
  report.write(FAKE, str(fake_workdir))
  assert seen[run.name] == [0, 1]
  report.write(dataclasses.replace(FAKE, counts_failures=True),
               str(fake_workdir))
  assert seen[run.name] == [0, 1, 2]


def test_the_report_says_when_the_rule_is_newer_than_the_runs(fake_workdir,
                                                                 monkeypatch):
  committed = datetime.datetime(2001, 1, 1, 12, tzinfo=datetime.timezone.utc)
  monkeypatch.setattr(report, 'rule_commit',
                      lambda name: ('abc123', committed, False))
  text = open(report.write(FAKE, str(fake_workdir))).read()
  assert ('used `experiments/verdicts.py`; the lines it rests on (its '
          'shared part and `translation_claim` with its constants) last '
          'changed in commit `abc123` (2001-01-01T12:00:00+00:00). The runs '
          'began 2001-01-01T10:00:00+00:00') in text
  assert 'The rule\'s commit is newer than the runs\' first results' in text
  committed = datetime.datetime(2000, 12, 31, tzinfo=datetime.timezone.utc)
  text = open(report.write(FAKE, str(fake_workdir))).read()
  assert 'The rule was committed before the runs began.' in text
  assert 'newer than the runs' not in text
  monkeypatch.setattr(report, 'rule_commit',
                      lambda name: ('abc123', committed, True))
  text = open(report.write(FAKE, str(fake_workdir))).read()
  assert 'has changes not committed' in text


def test_the_rule_commit_is_read_from_git():
  found = report.rule_commit('features')
  if found is None:
    pytest.skip('not a git checkout')
  sha, when, _ = found
  assert re.fullmatch('[0-9a-f]{40}', sha) and when.tzinfo is not None


def test_a_verdict_rests_on_the_shared_lines_and_its_own():
  with open(os.path.join(helpers.ROOT, report.VERDICTS_PATH)) as f:
    lines = f.read().splitlines()
  text = lambda a, b: '\n'.join(lines[a - 1:b])
  (top, shared_end), (start, end) = report.rule_lines('features')
  shared, own = text(top, shared_end), text(start, end)
  assert top == 1 and 'ALPHA = ' in shared and 'def compare_groups(' in shared
  assert 'def compare(' not in shared and 'COMPARE_VAES' not in shared
  # Its constants and its function; no other verdict.
  assert 'TARGET_FID = ' in own and 'def features(' in own
  assert 'def collapse(' not in own and 'def still_falling(' not in own
  assert lines[end].strip() == '' and 'ALPHA = ' not in own
  # The first verdict's constants and helpers, before it, are its own.
  own = text(*report.rule_lines('compare')[1])
  assert 'COMPARE_VAES = ' in own and 'def _vae_against_gan(' in own
  assert own.rstrip().endswith('+ _vae_against_gan(groups, vaes))')
  assert report.rule_lines('no_such_experiment') == [(1, len(lines))]
  # A helper in another verdict's lines is among the lines of each that
  # uses it: easier uses gan_loss's `stability`.
  spans = report.rule_lines('easier')
  used = '\n'.join(text(a, b) for a, b in spans[2:])
  assert 'def stability(' in used and 'def failed(' in used
  assert 'FAILED_FID = ' in used and 'def gan_loss(' not in used


def test_floors_are_measured_once_per_protocol(tmp_path, monkeypatch):
  measured = []
  def measure(config):
    measured.append(config.eval.split)
    return {'protocol': floors.protocol(config), 'train_images': 4000,
            'eval_images': 500, 'metrics': {'fid': 6.44, 'precision': 0.893,
                                            'recall': 0.8821}}
  monkeypatch.setattr(floors, 'measure', measure)
  config = mnist.get_config()
  assert floors.line(floors.read(str(tmp_path))) == ''
  floors.write(config, str(tmp_path))
  floors.write(config, str(tmp_path))
  assert measured == ['test']
  config.eval.split = 'validation'
  assert floors.write(config, str(tmp_path))['protocol']['eval_split'] == (
      'validation')
  assert measured == ['test', 'validation']
  assert floors.line(floors.read(str(tmp_path))) == (
      '**Floors.** The 4,000 real training images scored as samples against '
      'the 500 images of the validation split the runs are scored on: FID '
      '6.4, precision 0.893, recall 0.882 (`floors.json`): what real digits '
      'reach on this protocol, the best a model can be expected to.')


@pytest.fixture(scope='module')
def tiny_workdir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('experiment'))
  docs = str(tmp_path_factory.mktemp('docs'))
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
                           command='python -m experiments tiny', seeds=2,
                           docs=docs)
  assert path == os.path.join(docs, 'report.md')
  return workdir, docs, config


def _table_row(report_text, label):
  return next(line for line in report_text.splitlines()
              if line.startswith(f'| {label} |'))


@pytest.mark.slow  # whole training runs
def test_a_tiny_experiment_writes_its_report(tiny_workdir):
  workdir, docs, config = tiny_workdir
  with open(os.path.join(docs, 'report.md')) as f:
    text = f.read()
  for figure in ('samples', 'reconstructions', 'losses', 'translation',
                 'fid_steps'):
    assert f']({figure}.png)' in text
    assert os.path.getsize(os.path.join(docs, f'{figure}.png')) > 1000
  assert text.splitlines()[2] == '**Claim.** Tiny runs write a report.'
  for label in ('VAE', 'VAE-GAN'):
    seeds, fid, precision = _table_row(text, label).split(' | ')[1:4]
    assert seeds == '2' and float(fid.split(' ± ')[0]) > 0
    assert 0 <= float(precision.split(' ± ')[0]) <= 1
  assert _table_row(text, 'GAN').startswith('| GAN | 0 |')
  assert '| training | steps 2, batch 8, epochs ' in text
  mse = _table_row(text.split('## Translated')[1], 'VAE').split(' | ')
  assert 0 < float(mse[2].split(' ± ')[0]) < 1
  for seed in (0, 1):
    seed_dir = os.path.join(workdir, 'runs', 'vae', f'seed_{seed}')
    with open(os.path.join(seed_dir, runner.TIMING_FILE)) as f:
      timing = json.load(f)
    assert timing['step'] == 2 and timing['sessions'][0]['seconds'] > 0
    assert runner.read_result(TINY.runs[0], seed, seed_dir).config.seed == seed
    copied = os.path.join(docs, 'runs', 'vae', f'seed_{seed}')
    assert sorted(os.listdir(copied)) == sorted(runner.RECORD_FILES)
  # The floors: the training digits scored against the evaluated ones.
  found = floors.read(docs)
  assert found['protocol'] == floors.protocol(config)
  assert found['train_images'] == len(data.train_data(config)['image'])
  assert found['eval_images'] == 64
  assert 0 < found['metrics']['fid'] and found['metrics']['precision'] > 0.5
  assert f'FID {found["metrics"]["fid"]:.1f}, precision ' in text
  # From the copies alone, the same report again.
  before = _outputs(pathlib.Path(docs))
  report.write(TINY, docs)
  assert _outputs(pathlib.Path(docs)) == before


@pytest.mark.slow  # whole training runs
def test_rerunning_skips_finished_runs(tiny_workdir, monkeypatch):
  workdir, docs, config = tiny_workdir
  def no_training(*args):
    raise AssertionError('a finished run was trained again')
  monkeypatch.setattr(runner.train, 'train_and_evaluate', no_training)
  os.remove(os.path.join(docs, 'report.md'))
  experiments.run(TINY, config, workdir, runs=['vae', 'vaegan'], seeds=2,
                  docs=docs)
  assert os.path.exists(os.path.join(docs, 'report.md'))


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
  path = experiments.run(experiment, config, str(tmp_path / 'x'), seeds=1)
  with open(path) as f:
    text = f.read()
  row = next(line for line in text.splitlines()
             if line.startswith('| labelled as asked'))
  shares = [float(v) for v in row.strip('| ').split(' | ')[1:]]
  assert len(shares) == 11 and all(0 <= s <= 1 for s in shares)
  assert os.path.getsize(tmp_path / 'x' / 'classes_conditional.png') > 1000


def test_a_committed_report_is_written_again_from_its_committed_files(
    tmp_path):
  committed = pathlib.Path(helpers.ROOT) / 'docs' / 'tune'
  copy = tmp_path / 'tune'
  shutil.copytree(committed, copy)
  written = [n for n in _outputs(copy) if n != report.NOTES_FILE]
  for name in written:  # what the report writes; its notes are an input
    (copy / name).unlink()
  report.write(definitions.TUNE, str(copy))
  # The rule's paragraph reads git, which a shallow checkout may lack.
  rule = lambda text: [line for line in text.decode().splitlines()
                       if not line.startswith('**The rule.**')]
  again, before = _outputs(copy), _outputs(committed)
  assert sorted(again) == sorted(before)
  assert rule(again.pop('report.md')) == rule(before.pop('report.md'))
  assert again == before  # the figures, byte for byte
