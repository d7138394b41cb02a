"""An experiment's report: report.md and its figures, from its runs' files.

The report reads only each seed's small files (`runner.RECORD_FILES`), so
it can be written from a workdir or from a folder of their copies (the
committed docs/<experiment>/), and writing it again from the same files
gives the same bytes: nothing in it depends on the day it is written. The
figures are PNG files next to report.md, linked relatively. A `notes.md`
in the folder, if there is one, is included as the report's observations.
"""

import ast
import datetime
import os
import subprocess
from typing import Callable, Sequence

import ml_collections
import numpy as np

from vaegan_jax import files
from vaegan_jax.data import arrays
from vaegan_jax.data import images as images_lib
from vaegan_jax.data import sources
from vaegan_jax.model import architectures
from vaegan_jax.metrics import quality
from vaegan_jax.output import writers
from experiments import conditional
from experiments import definitions
from experiments import figures
from experiments import floors
from experiments import latent
from experiments import prior_gap
from experiments import records
from experiments import runner
from experiments import translation
from experiments import verdicts

NOTES_FILE = 'notes.md'
REPORT_FILE = 'report.md'
VERDICTS_PATH = 'experiments/verdicts.py'
# The table's columns from eval_metrics.json: (key, header, digits, only
# where the encoder is trained).
QUALITY = (('fid', 'FID ↓', 2, False), ('precision', 'precision ↑', 3, False),
           ('recall', 'recall ↑', 3, False),
           ('recon_mse', 'recon MSE ↓', 4, True),
           ('kl', 'KL (nats)', 1, True),
           ('active_units', 'active units', 1, True))


def _number(value: float | None, digits: int) -> str:
  return 'n/a' if value is None else f'{value:.{digits}f}'


def _summary(values: Sequence[float | None], digits: int) -> str:
  summary = verdicts.summarise(values)
  return 'n/a' if summary is None else summary.text(digits)


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(int(round(seconds)), 60)
  return f'{minutes}:{seconds:02d}'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join('---' for _ in header) + '|']
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines)


def _status(result: runner.Result) -> str:
  if result.timing.get('error'):
    return (f'failed: {result.timing["error"].split(". ")[0]} (delete its '
            f'folder to try again)')
  if result.config is None:
    return 'not run'
  if result.metrics is None or not result.finished:
    return (f'unfinished (step {result.timing.get("step", 0)} of '
            f'{result.config.train.num_steps})')
  return 'finished'


def _label(experiment: definitions.Experiment, name: str) -> str:
  return next(r.label for r in experiment.runs if r.name == name)


# When the runs began and when the rule was committed.


def _time(text: str) -> datetime.datetime:
  """An ISO time; one without a UTC offset is this machine's local time."""
  value = datetime.datetime.fromisoformat(text)
  return value if value.tzinfo else value.astimezone()


def first_began(groups: dict[str, list[runner.Result]]
                ) -> datetime.datetime | None:
  """When the first session of any seed began (None: no sessions)."""
  times = [_time(s['began']) for seeds in groups.values() for r in seeds
           for s in r.timing['sessions'] if 'began' in s]
  return min(times) if times else None


def _git(*args: str) -> str | None:
  root = os.path.dirname(os.path.dirname(os.path.abspath(verdicts.__file__)))
  try:
    out = subprocess.run(['git', *args], cwd=root, capture_output=True,
                         text=True, timeout=30, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


# The line of verdicts.py after its shared part.
VERDICTS_MARKER = '# The verdicts, each after its own constants and helpers'


def rule_lines(name: str) -> list[tuple[int, int]]:
  """The lines of verdicts.py that experiment `name`'s verdict rests on.

  Ranges (first, last), 1-based: the shared part, from the top to the
  line before `VERDICTS_MARKER` (the test, the intervals and the helpers
  every verdict uses); the verdict's own, from the end of the verdict
  before it (or the marker) to the end of its function (a verdict's
  constants and helpers come before it); and any definition below the
  marker that those lines use, and that it uses in turn (helpers another
  verdict's lines hold). An experiment without a verdict (or whose verdict
  is not a function of the file) rests on the whole file.
  """
  root = os.path.dirname(os.path.dirname(os.path.abspath(verdicts.__file__)))
  with open(os.path.join(root, VERDICTS_PATH)) as f:
    source = f.read()
  body = ast.parse(source).body
  verdict = verdicts.VERDICTS.get(name)
  functions = {n.name: n for n in body if isinstance(n, ast.FunctionDef)}
  if verdict is None or verdict.__name__ not in functions:
    return [(1, body[-1].end_lineno)]
  marker = next(i for i, line in enumerate(source.splitlines(), 1)
                if line.startswith(VERDICTS_MARKER))
  names = {v.__name__ for v in verdicts.VERDICTS.values()}
  ends = [marker] + [n.end_lineno for n in functions.values()
                     if n.name in names]
  own = functions[verdict.__name__]
  start = max(e for e in ends if e < own.lineno) + 1
  spans = [(1, marker - 1), (start, own.end_lineno)]
  defined = {}  # name -> its top-level definition below the marker
  for node in body:
    if node.lineno > marker:
      targets = (node.targets if isinstance(node, ast.Assign) else [node])
      for target in targets:
        defined[getattr(target, 'id', getattr(target, 'name', None))] = node
  todo = [n for n in body if start <= n.lineno <= own.end_lineno]
  while todo:
    used = {n.id for node in todo for n in ast.walk(node)
            if isinstance(n, ast.Name)}
    todo = []
    for node in {id(defined[u]): defined[u] for u in used
                 if u in defined}.values():
      span = (node.lineno, node.end_lineno)
      if not any(a <= span[0] and span[1] <= b for a, b in spans):
        spans.append(span)
        todo.append(node)
  return spans


def rule_commit(name: str) -> tuple[str, datetime.datetime, bool] | None:
  """(hash, commit time, whether the file has changes not committed) of the
  newest commit of the lines of experiments/verdicts.py that experiment
  `name`'s verdict rests on (`rule_lines`); None outside a git checkout.
  Each range is logged alone: git 2.39 aborts on some sets of ranges of
  one file."""
  found = []
  for a, b in rule_lines(name):
    line = _git('log', '-1', '--format=%H %cI', '--no-patch',
                f'-L{a},{b}:{VERDICTS_PATH}')
    if not line:
      return None
    commit, when = line.split()
    found.append((_time(when), commit))
  when, commit = max(found)
  dirty = bool(_git('status', '--porcelain', '--', VERDICTS_PATH))
  return commit, when, dirty


def rule_provenance(name: str, began: datetime.datetime | None) -> str:
  """The report's paragraph on when its rule was committed.

  Args:
    name: the experiment's name.
    began: when the runs' first session began (their first results came
      after it).

  Returns:
    Markdown: the commit of verdicts.py the verdict used, the time the runs
    began, and, plainly, whether the rule is newer than the runs.
  """
  commit = rule_commit(name)
  when = began.isoformat() if began else 'unknown'
  if commit is None:
    return (f'**The rule.** The verdict\'s rule is `{VERDICTS_PATH}`, '
            f'whose commit is unknown (not a git checkout). The runs began '
            f'{when}.')
  sha, committed, dirty = commit
  verdict = verdicts.VERDICTS.get(name)
  lines = (f'its shared part and `{verdict.__name__}` with its constants'
           if verdict else 'all of it')
  text = (f'**The rule.** The verdict above used `{VERDICTS_PATH}`; the '
          f'lines it rests on ({lines}) last changed in commit `{sha}` '
          f'({committed.isoformat()}). The runs began {when}, and their '
          f'first results came after.')
  if dirty:
    text += (f' **`{VERDICTS_PATH}` has changes not committed: the rule '
             f'that made this verdict is not in git.**')
  if began is not None and committed > began:
    text += (' **The rule\'s commit is newer than the runs\' first results: '
             'it may have been written with them in view.**')
  elif began is not None:
    text += ' The rule was committed before the runs began.'
  return text


# Sections.


def _networks(config) -> str:
  spec = architectures.resolve(config.model)
  return (f'`{config.model.arch}`: latent {spec["latent_dim"]}; encoder '
          f'convs {spec["encoder_widths"]}, dense {spec["encoder_dense"]}; '
          f'decoder base width {spec["decoder_base_width"]}, deconvs '
          f'{spec["decoder_widths"]}; discriminator convs '
          f'{spec["discriminator_widths"]}, dense '
          f'{spec["discriminator_dense"]}')


def _feature_layer(config) -> list[tuple[str, str]]:
  spec = architectures.resolve(config.model)
  return [('conv', f'{spec["dis_feature_layer"]}')]


def _data(config) -> str:
  train_size = sources.size(config, 'train')
  part = arrays.eval_part(config)
  scored = min(config.eval.num_examples, sources.size(config, 'eval'))
  validation = arrays.validation_size(config)
  return (f'`{config.data.name}`, {config.data.image_size}x'
          f'{config.data.image_size}x{config.data.channels}: {train_size:,} '
          f'training images'
          + (f', {validation:,} validation images' if validation else '')
          + f'; evaluated on {scored:,} images of the {part} split')


def _per_run(all_seeds: Sequence[runner.Result],
             pieces: Callable[[ml_collections.ConfigDict],
                              list[tuple[str, str]]]) -> str:
  """A settings row from `pieces(config)`, (name, value) pairs: each value the
  runs share once, and "<name> by run" for one they differ in (the overrides
  in "what the runs change" say how)."""
  by_run = {}
  for r in all_seeds:
    if r.config is not None:
      by_run.setdefault(r.run.name, pieces(r.config))
  rows = list(by_run.values())
  texts = []
  for i, (name, value) in enumerate(rows[0]):
    if all(row[i][1] == value for row in rows):
      texts.append(f'{name} {value}' if name else value)
    else:
      texts.append(f'{name} by run' if name else 'by run')
  return ', '.join(texts)


def _training(config: ml_collections.ConfigDict) -> list[tuple[str, str]]:
  steps, batch = config.train.num_steps, config.train.batch_size
  return [('steps', f'{steps:,}'), ('batch', f'{batch}'),
          ('epochs', f'{steps * batch / sources.size(config, "train"):.1f}'),
          ('evaluated every', f'{config.eval.every or steps:,} steps')]


def _optimiser(config: ml_collections.ConfigDict) -> list[tuple[str, str]]:
  optim = config.optim
  return [('', optim.name), ('lr', f'{optim.lr:g}'),
          ('schedule', optim.schedule)]


def _gan_loss(config: ml_collections.ConfigDict) -> list[tuple[str, str]]:
  loss = config.loss
  return [('', loss.gan),
          ('equilibrium gating', 'on' if loss.equilibrium_gating else 'off'),
          ('γ', f'{loss.gamma:g}')]


def _sample_quality(config: ml_collections.ConfigDict
                    ) -> list[tuple[str, str]]:
  fid = quality.resolve_kind(config)
  if fid == 'none':
    return [('', 'not measured')]
  return [('', f'{fid} features'),
          ('', f'{config.eval.num_fid_samples:,} samples against the '
               f'evaluated images')]


def _settings(experiment: definitions.Experiment,
              all_seeds: Sequence[runner.Result], commands: list[str]) -> str:
  """The report's settings table: what the runs share, and "by run" where
  they differ, with the overrides that make them differ."""
  sessions = [s for r in all_seeds for s in r.timing['sessions']]
  machines = sorted({s['machine'] for s in sessions if 'machine' in s})
  seeds = sorted({r.seed for r in all_seeds})
  varied = '; '.join(
      f'{r.label}: ' + ', '.join(f'`{k}={v}`' for k, v in r.overrides.items())
      for r in experiment.runs)
  rows = [
      ('data', _per_run(all_seeds, lambda c: [('', _data(c))])),
      ('networks', _per_run(all_seeds, lambda c: [('', _networks(c))])),
      ('L_llike on Dis_l at', _per_run(all_seeds, _feature_layer)),
      ('training', _per_run(all_seeds, _training)),
      ('seeds', ', '.join(str(s) for s in seeds)
                + ' (`config.seed`; each run repeated with each)'),
      ('optimiser', _per_run(all_seeds, _optimiser)),
      ('GAN loss', _per_run(all_seeds, _gan_loss)),
      ('sample quality', _per_run(all_seeds, _sample_quality)),
      ('what the runs change', varied),
      ('trained by', '; '.join(f'`{c}`' for c in commands) or 'unknown'),
      ('machine', '; '.join(machines) or 'unknown'),
      ('wall time, all seeds', _duration(sum(r.wall_seconds
                                             for r in all_seeds))),
  ]
  return '## Settings\n\n' + _table(('', ''), rows)


def _quality_table(experiment, groups, finished) -> str:
  rows, notes = [], []
  for name, seeds in groups.items():
    done = finished[name]
    for r in seeds:
      if r not in done:
        notes.append(f'- {r.run.label}, seed {r.seed}: {_status(r)}')
    if not done:
      rows.append([_label(experiment, name), '0'] + [''] * (len(QUALITY) + 2))
      continue
    encoder = done[0].reconstructs
    cells = [_summary([r.metrics.get(k) for r in done], digits)
             if encoder or not needs_encoder else 'n/a'
             for k, _, digits, needs_encoder in QUALITY]
    speeds = [r.steps_per_second for r in done
              if r.steps_per_second is not None]
    rows.append([done[0].run.label, str(len(done))] + cells + [
        _number(float(np.median(speeds)) if speeds else None, 2),
        _duration(sum(r.wall_seconds for r in done))])
  header = (('run', 'seeds') + tuple(h for _, h, _, _ in QUALITY)
            + ('steps/s', 'wall time'))
  parts = ['## Results', '', _table(header, rows), '',
           'Each cell is the mean over the finished seeds ± half the width '
           f'of its {verdicts.CONFIDENCE:.0%} confidence interval (Student t '
           'with seeds − 1 degrees of freedom; the mean alone for one seed), '
           'at the last step. FID, precision and recall (k = 3) compare the '
           'features of generated samples with those of the evaluated '
           'images. recon MSE is the pixel MSE (pixels in [0, 1]) of those '
           'images decoded from their posterior mean; KL is summed over '
           'latent dimensions and active units count those whose posterior '
           'mean varies across images (n/a where the encoder is not '
           'trained). Steps/s is the median training speed of the seeds; '
           'wall time adds up their whole runs: start-up, compiling, '
           'training and evaluations.']
  if notes:
    parts += ['', 'Not in the table:', ''] + notes
  return '\n'.join(parts)


def _fid_section(experiment, finished, root) -> str:
  conditions = [(_label(experiment, n), s) for n, s in finished.items() if s]
  steps = sorted({int(e['step']) for _, seeds in conditions for r in seeds
                  for e in r.evaluations if e.get('fid') is not None})
  if not steps:
    return ''
  figures.fid_figure(conditions, files.path(root) / 'fid_steps.png')
  rows, falling = [], []
  for label, seeds in conditions:
    by_step = {}
    for r in seeds:
      for e in r.evaluations:
        if e.get('fid') is not None:
          by_step.setdefault(int(e['step']), []).append(e['fid'])
    still = verdicts.still_falling(by_step)
    if still:
      falling.append(label)
    rows.append([label] + [_summary(by_step.get(s, []), 1) for s in steps]
                + [{True: 'yes', False: 'no', None: 'n/a'}[still]])
  header = ['run'] + [f'step {s:,}' for s in steps] + ['still falling']
  verdict = (f'FID still falls at the end for {", ".join(falling)}: longer '
             f'training would change these numbers.' if falling else
             'FID no longer falls at the end for any run.')
  return '\n'.join([
      '## FID during training', '', '![FID against the step, the mean over '
      'the seeds of each run](fid_steps.png)', '', _table(header, rows), '',
      f'{verdict} The rule (`verdicts.still_falling`): still falling where '
      f'the mean FID at the last evaluation is below the mean at the one '
      f'before by more than half the width of the last one\'s '
      f'{verdicts.CONFIDENCE:.0%} confidence interval.'])


def _first_seeds(finished) -> list[runner.Result]:
  """The finished seed with the lowest number of each run."""
  return [seeds[0] for seeds in finished.values() if seeds]


def _samples_section(experiment, finished, root) -> str:
  shown = [r for r in _first_seeds(finished)
           if (files.path(r.directory) / runner.SAMPLES_FILE).exists()]
  if not shown:
    return ''
  figures.samples_figure(shown, files.path(root) / 'samples.png')
  return ('## Samples\n\n![16 samples of each run](samples.png)\n\n'
          'The same 16 draws from the prior N(0, I), decoded by each run\'s '
          'decoder after its last step (its lowest seed: '
          + ', '.join(f'{r.run.label} {r.seed}' for r in shown) + ').')


def _reconstructions_section(experiment, finished, root) -> str:
  shown = [(r, records.read_pictures(r)) for r in _first_seeds(finished)]
  shown = [(r, p) for r, p in shown if 'reconstructions' in p]
  if not shown:
    return ''
  rows = [('held-out', shown[0][1]['held_out'])] + [
      (r.run.label, p['reconstructions']) for r, p in shown]
  figures.rows_figure(rows, files.path(root) / 'reconstructions.png')
  return ('## Reconstructions\n\n![evaluated digits and reconstructions]'
          '(reconstructions.png)\n\nThe first evaluated digits (top) and '
          'each model\'s reconstruction (its lowest seed): the decoded '
          'posterior mean.')


def _losses_section(experiment, finished, root) -> str:
  rows = []
  for seeds in finished.values():
    if seeds:
      rows.append([seeds[0].run.label] + [
          _summary([r.final(k) for r in seeds], 4)
          if seeds[0].computes(k) else 'n/a' for k, _ in figures.LOSSES]
                  + [_summary([r.metrics.get('fid') for r in seeds], 2)])
  conditions = [(s[0].run.label, s) for s in finished.values() if s]
  figures.losses_figure(conditions, files.path(root) / 'losses.png')
  header = (['run'] + [f'{title} `{key}`' for key, title in figures.LOSSES]
            + ['FID'])
  gan = conditions[0][1][0].config.loss.gan
  term = {'minimax': 'the mean of log(1 − D(x̂)) over its generated batches '
                     '(more negative: the discriminator is fooled more)',
          'non_saturating': 'the mean of −log D(x̂) over its generated '
                            'batches (lower: the discriminator is fooled '
                            'more)'}.get(gan, f'its {gan} loss')
  return '\n'.join([
      '## Losses at the end of training', '', _table(header, rows), '',
      f'Each loss is, for each seed, the mean of the training log over the '
      f'last 10% of the steps; the table shows their mean over the seeds ± '
      f'the {verdicts.CONFIDENCE:.0%} interval. With the `{gan}` GAN loss '
      f'the decoder\'s term is {term}, and the discriminator\'s is its loss '
      f'on real and generated images.', '',
      '![losses during training, the mean over the seeds](losses.png)'])


def _translation_section(experiment, finished, root) -> str:
  measured = {n: [r for r in s if 'translation' in r.measures]
              for n, s in finished.items()}
  measured = {n: s for n, s in measured.items() if s}
  if not measured:
    return ''
  shifts = definitions.TRANSLATIONS
  span = {name: f'±{fraction:.0%} ({name})' for name, fraction in shifts}
  tables = []
  for key, digits, what in (('mse', 4, 'MSE'), ('sharpness', 2, 'sharpness')):
    rows = []
    for seeds in measured.values():
      errors = [r.measures['translation'] for r in seeds]
      rows.append(
          [seeds[0].run.label, str(len(seeds)),
           _summary([e['unshifted'][key] for e in errors], digits)]
          + [_summary([e[name][key] for e in errors], digits)
             for name, _ in shifts]
          + [_summary([translation.degradation(e, name)[key]
                       for e in errors], 2) for name, _ in shifts])
    header = (('model', 'seeds', f'{what}, unshifted')
              + tuple(f'{what}, {span[n]}' for n, _ in shifts)
              + tuple(f'ratio, {span[n]}' for n, _ in shifts))
    tables += [_table(header, rows), '']
  shown = [(r, records.read_pictures(r)) for r in _first_seeds(measured)]
  pictures = shown[0][1]
  figure = [('evaluated', pictures['translation_inputs'])]
  for name, _ in shifts:
    figure.append((f'shifted {span[name]}', pictures[f'translated_{name}']))
    figure += [(r.run.label, p[f'reconstructions_{name}']) for r, p in shown]
  figures.rows_figure(figure, files.path(root) / 'translation.png')
  return '\n'.join([
      '## Translated test digits', ''] + tables + [
      f'All test digits, as they are and shifted by up to the fraction of '
      f'the size shown along each axis (fixed shifts, seed '
      f'{translation.SEED}); the models trained with shifts up to '
      f'±{definitions.TRANSLATE:.0%}. MSE: pixel MSE of each reconstruction '
      f'against its own input, pixels in [0, 1]. Sharpness: the mean '
      f'difference of neighbouring pixels of the reconstructions over that '
      f'of their inputs (1: as sharp as the input; lower: blurrier). Ratio: '
      f'the value on the shifted digits over the unshifted one, for each '
      f'seed: how much the shift affects the model (1: not at all; an MSE '
      f'ratio above 1 and a sharpness ratio below 1 are worse). Mean over '
      f'the seeds ± the {verdicts.CONFIDENCE:.0%} interval.', '',
      '![translated digits and reconstructions](translation.png)', '',
      'Test digits, the same shifted by each amount, and each model\'s '
      'reconstruction of the shifted ones (its lowest seed).'])


def _conditional_section(experiment, finished, root) -> str:
  parts = ['## Each class', '']
  for name, seeds in finished.items():
    seeds = [r for r in seeds if 'class_accuracy' in r.measures]
    if not seeds:
      continue
    accuracy = np.asarray([r.measures['class_accuracy'] for r in seeds])
    picture = records.read_pictures(seeds[0])['classes']
    shown = picture.reshape(-1, *picture.shape[2:])
    figure = f'classes_{name}.png'
    writers.save_png(files.path(root) / figure,
                     images_lib.grid(shown, picture.shape[1]))
    label = seeds[0].run.label
    parts += [
        f'![{label}: {picture.shape[1]} samples of each class, a row per '
        f'class]({figure})', '',
        f'{label}: row k holds samples asked for class k (seed '
        f'{seeds[0].seed}). The digits classifier (the FID network\'s) '
        f'labels {conditional.SAMPLES_PER_CLASS:,} samples of each '
        f'class; the share labelled as asked, the mean over '
        f'{len(seeds)} seed{"s" if len(seeds) != 1 else ""}:', '',
        _table(['class'] + [str(k) for k in range(accuracy.shape[1])]
               + ['all'],
               [['labelled as asked'] + [f'{a:.2f}'
                                         for a in accuracy.mean(axis=0)]
                + [f'{accuracy.mean():.3f}']]), '']
  return '\n'.join(parts).rstrip() if len(parts) > 2 else ''


def _prior_gap_section(experiment, finished, root) -> str:
  del root  # Unused: a table only.
  rows = []
  for seeds in finished.values():
    seeds = [r for r in seeds if 'prior_gap' in r.measures]
    if not seeds:
      continue
    gaps = [r.measures['prior_gap'] for r in seeds]
    rows.append([seeds[0].run.label, str(len(seeds))] + [
        _summary([g[kind][k] for g in gaps], digits)
        for kind in ('reconstructions', 'samples')
        for k, digits in (('fid', 1), ('precision', 3), ('recall', 3))] + [
            _summary([g['code_second_moment'] for g in gaps], 2)])
  if not rows:
    return ''
  header = ('run', 'seeds', 'reconstructions: FID', 'precision', 'recall',
            'samples: FID', 'precision', 'recall', 'codes\' E[μ² + σ²]')
  return '\n'.join([
      '## Prior samples against reconstructions', '', _table(header, rows),
      '', f'The decoded posterior means of {prior_gap.COUNT:,} training '
      f'digits, and {prior_gap.COUNT:,} decoded prior samples, each scored '
      'against the evaluated digits, through the same decoder (the moving '
      'average where a run keeps one). Where reconstructions score far '
      'above samples, the decoder can draw digits but the prior\'s codes '
      'land where no digit was encoded. The last column is the encoded '
      'digits\' second moment per latent dimension (the prior\'s is 1). '
      f'Mean over the seeds ± the {verdicts.CONFIDENCE:.0%} interval.'])


def _latent_section(experiment, finished, root) -> str:
  del experiment, root  # Unused: a table only.
  rows = []
  for seeds in finished.values():
    seeds = [r for r in seeds if 'coverage' in r.measures]
    if not seeds:
      continue
    shares = np.asarray([r.measures['coverage']['shares'] for r in seeds])
    smooth = [r.measures['smoothness'] for r in seeds]
    encoded = [s['encoded'] for s in smooth if 'encoded' in s]
    rows.append([seeds[0].run.label, str(len(seeds)), _summary(
        [r.measures['coverage']['distance'] for r in seeds], 3),
                 f'{shares.min(axis=1).mean():.3f}',
                 f'{shares.max(axis=1).mean():.3f}',
                 _summary([s['prior'] for s in smooth], 2),
                 _summary(encoded, 2) if encoded else 'n/a'])
  if not rows:
    return ''
  header = ('run', 'seeds', 'class shares: distance from 10% ↓', 'rarest',
            'commonest', 'jump, prior codes ↓', 'jump, encoded digits ↓')
  return '\n'.join([
      '## Mode coverage and smoothness', '', _table(header, rows), '',
      f'`experiments/latent.py`: the digits classifier labels '
      f'{latent.SAMPLES:,} prior samples; the distance is the total '
      f'variation distance of the class shares from 10% each (0: every '
      f'class as often; 0.9: one class only), with the rarest and commonest '
      f'share (means over the seeds). The jump: {latent.PAIRS} straight '
      f'lines between two codes, each decoded at {latent.FRAMES} points, '
      f'and the largest distance between the classifier features of '
      f'neighbouring frames over their mean (1: the image changes at an '
      f'even pace; {latent.FRAMES - 1}: all at once), the median over the '
      f'lines; the codes are drawn from the prior, or are the posterior '
      f'means of evaluated digits. Mean over the seeds ± the '
      f'{verdicts.CONFIDENCE:.0%} interval.'])


SECTIONS = {'losses': _losses_section, 'translation': _translation_section,
            'conditional': _conditional_section,
            'prior_gap': _prior_gap_section, 'latent': _latent_section}


def write(experiment: definitions.Experiment, root: str) -> str:
  """Writes report.md and its figures from the runs' files under `root`.

  Args:
    experiment: the experiment.
    root: a folder with `runs/<name>/seed_<k>/` (workdirs, or copies of
      their `runner.RECORD_FILES`); report.md and its figures go there.

  Returns:
    The path of report.md.
  """
  groups = runner.collect(root, experiment)
  finished = {n: [r for r in s if r.finished] for n, s in groups.items()}
  all_seeds = [r for s in groups.values() for r in s]
  parts = [f'# {experiment.title}', '', f'**Claim.** {experiment.claim}', '']
  if any(finished.values()) and experiment.name in verdicts.VERDICTS:
    ended = finished
    if experiment.counts_failures:  # and the seeds that diverged
      ended = {n: [r for r in s if r.finished or r.timing.get('error')]
               for n, s in groups.items()}
    decided = {n: s for n, s in ended.items() if s}
    parts += [f'**Here.** {verdicts.VERDICTS[experiment.name](decided)}',
              '', rule_provenance(experiment.name, first_began(groups)), '']
  parts += [experiment.description]
  commands = sorted({s['command'] for r in all_seeds
                     for s in r.timing['sessions'] if 'command' in s})
  if any(r.config is not None for r in all_seeds):
    parts += ['', _settings(experiment, all_seeds, commands)]
  parts += ['', _quality_table(experiment, groups, finished)]
  floors_line = floors.line(floors.read(root))
  if floors_line:
    parts += ['', floors_line]
  if any(finished.values()):
    sections = [_fid_section, _samples_section, _reconstructions_section] + [
        SECTIONS[name] for name in experiment.sections]
    for section in sections:
      text = section(experiment, finished, root)
      if text:
        parts += ['', text]
  notes = files.path(root) / NOTES_FILE
  if notes.exists():
    parts += ['', '## Observations', '', notes.read_text().strip()]
  parts += ['', '## Runs', '', 'Each seed\'s files, from which this report '
            'is written (`python -m experiments ' + experiment.name
            + ' --report_only --docs=<this folder>` writes it again): '
            + ', '.join(f'`runs/{r.run.name}/seed_{r.seed}/`'
                        for r in all_seeds) + '; in each, '
            + ', '.join(f'`{f}`' for f in runner.RECORD_FILES) + '.']
  path = str(files.path(root) / REPORT_FILE)
  files.write_text(path, '\n'.join(parts) + '\n')
  return path
