"""An experiment's report: report.md and its figures, in the workdir.

The figures are PNG files next to report.md, linked relatively, so the
report can be copied anywhere with them. A `notes.md` in the workdir, if
there is one, is included as the report's observations.
"""

import datetime
from typing import Sequence

import numpy as np

import vaegan_jax
from vaegan_jax.model import architectures
from vaegan_jax import data
from vaegan_jax import files
from vaegan_jax.data import sources
from experiments import conditional
from experiments import definitions
from experiments import figures
from experiments import runner
from experiments import translation
from experiments import verdicts
from vaegan_jax.metrics import quality

NOTES_FILE = 'notes.md'
REPORT_FILE = 'report.md'
RECONSTRUCTED = 8  # held-out digits in the reconstruction figures
TRANSLATED = 12  # and in the translation figure


def _number(value: float | None, digits: int) -> str:
  return 'n/a' if value is None else f'{value:.{digits}f}'


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
    return (f'failed: {result.timing["error"].split(". ")[0]} (delete '
            f'runs/{result.run.name}/ to try again)')
  if result.config is None:
    return 'not run'
  return (f'unfinished (step {result.timing.get("step", 0)} of '
          f'{result.config.train.num_steps})')


# Figures.


# Sections.


def _networks(config) -> str:
  spec = architectures.resolve(config.model)
  return (f'`{config.model.arch}`: latent {spec["latent_dim"]}; encoder '
          f'convs {spec["encoder_widths"]}, dense {spec["encoder_dense"]}; '
          f'decoder base width {spec["decoder_base_width"]}, deconvs '
          f'{spec["decoder_widths"]}; discriminator convs '
          f'{spec["discriminator_widths"]}, dense '
          f'{spec["discriminator_dense"]}, Dis_l at conv '
          f'{spec["dis_feature_layer"]}')


def _settings(experiment: definitions.Experiment,
              results: Sequence[runner.Result]) -> str:
  config = next(r.config for r in results if r.config is not None)
  train_size = sources.size(config, 'train')
  held_out = min(config.eval.num_examples, sources.size(config, 'eval'))
  steps, batch = config.train.num_steps, config.train.batch_size
  loss, optim = config.loss, config.optim
  fid = quality.resolve_kind(config)
  sessions = [s for r in results for s in r.timing['sessions']]
  machines = sorted({s['machine'] for s in sessions if 'machine' in s})
  varied = '; '.join(
      f'{r.run.label}: ' + ', '.join(f'`{k}={v}`'
                                     for k, v in r.run.overrides.items())
      for r in results)
  rows = [
      ('data', f'`{config.data.name}`, {config.data.image_size}x'
               f'{config.data.image_size}x{config.data.channels}: '
               f'{train_size:,} training and {held_out:,} held-out images'),
      ('networks', _networks(config)),
      ('training', f'{steps:,} steps of batch {batch} '
                   f'({steps * batch / train_size:.1f} epochs), seed '
                   f'{config.seed}'),
      ('optimiser', f'{optim.name}, lr {optim.lr:g}, schedule '
                    f'{optim.schedule}'),
      ('GAN loss', f'{loss.gan}, equilibrium gating '
              f'{"on" if loss.equilibrium_gating else "off"}, γ '
              f'{loss.gamma:g}'),
      ('sample quality', f'{fid} features, {config.eval.num_fid_samples:,} '
                         f'samples against the held-out images'
                         if fid != 'none' else 'not measured'),
      ('what the runs change', varied),
      ('machine', '; '.join(machines) or 'unknown'),
      ('wall time, all runs', _duration(sum(r.wall_seconds
                                            for r in results))),
  ]
  return '## Settings\n\n' + _table(('', ''), rows)


def _quality_table(results: Sequence[runner.Result]) -> str:
  rows = []
  for r in results:
    if not r.finished:
      rows.append([r.run.label, _status(r)] + [''] * 7)
      continue
    m, rec = r.metrics, r.reconstructs
    rows.append([
        r.run.label, _number(m.get('fid'), 2), _number(m.get('precision'), 3),
        _number(m.get('recall'), 3),
        _number(m['recon_mse'] if rec else None, 4),
        _number(m['kl'] if rec else None, 1),
        str(m['active_units']) if rec else 'n/a',
        _number(r.steps_per_second, 2), _duration(r.wall_seconds)])
  header = ('run', 'FID ↓', 'precision ↑', 'recall ↑', 'recon MSE ↓',
            'KL (nats)', 'active units', 'steps/s', 'wall time')
  return '\n'.join([
      '## Results', '', _table(header, rows), '',
      'FID, precision and recall (k = 3) compare the features of generated '
      'samples with those of the held-out images. recon MSE is the pixel '
      'MSE (pixels in [0, 1]) of held-out images decoded from their '
      'posterior mean; KL is summed over latent dimensions and active '
      'units count those whose posterior mean varies across images (n/a '
      'where the encoder is not trained). Steps/s is the median training '
      'speed; wall time covers the whole run: start-up, compiling, training '
      'and the final evaluation.'])


def _samples_section(results, workdir) -> str:
  figures.samples_figure(results, files.path(workdir) / 'samples.png')
  return ('## Samples\n\n![16 samples of each run](samples.png)\n\n'
          'The same 16 draws from the prior N(0, I), decoded by each run\'s '
          'decoder after its last step.')


def _held_out(config, num: int) -> np.ndarray:
  return data.eval_data(config, num)['image']


def _reconstructions_section(results, workdir) -> str:
  encoders = [r for r in results if r.reconstructs]
  if not encoders:
    return ''
  held_out = data.eval_data(encoders[0].config, RECONSTRUCTED)
  images = held_out['image']

  def reconstruct(result):
    model = vaegan_jax.load(result.directory)
    conditions = (data.conditions.from_example(
        held_out, model.config.model.num_conditions)
                  if model.config.model.conditional else None)
    return model.reconstruct(images, conditions)

  rows = [('held-out', images)] + [(r.run.label, reconstruct(r))
                                   for r in encoders]
  figures.rows_figure(rows, files.path(workdir) / 'reconstructions.png')
  return ('## Reconstructions\n\n![held-out digits and reconstructions]'
          '(reconstructions.png)\n\nThe first held-out digits (top) and '
          'each model\'s reconstruction: the decoded posterior mean.')


def _losses_section(results, workdir) -> str:
  rows = [[r.run.label] + [_number(r.final(k) if r.computes(k) else None, 4)
                           for k, _ in figures.LOSSES]
          + [_number(r.metrics.get('fid'), 2)] for r in results]
  figures.losses_figure(results, files.path(workdir) / 'losses.png')
  header = ['run'] + [f'{title} `{key}`' for key, title in figures.LOSSES] + ['FID']
  gan = results[0].config.loss.gan
  term = {'minimax': 'the mean of log(1 − D(x̂)) over its generated batches '
                     '(more negative: the discriminator is fooled more)',
          'non_saturating': 'the mean of −log D(x̂) over its generated '
                            'batches (lower: the discriminator is fooled '
                            'more)'}.get(gan, f'its {gan} loss')
  return '\n'.join([
      '## Losses at the end of training', '', _table(header, rows), '',
      f'Each loss is the mean of the training log over the last 10% of the '
      f'steps. With the `{gan}` GAN loss the decoder\'s term is {term}, and '
      f'the discriminator\'s is its loss on real and generated images.', '',
      '![losses during training](losses.png)'])


def _translation_section(results, workdir) -> str:
  encoders = [r for r in results if r.reconstructs]
  if not encoders:
    return ''
  images = _held_out(encoders[0].config, TRANSLATED)
  fraction = definitions.TRANSLATE
  shifted = translation.translate(images, fraction)
  rows, figure = [], [('held-out', images), ('translated', shifted)]
  for r in encoders:
    errors = translation.run_errors(r.directory, fraction)
    rows.append([r.run.label, _number(errors['mse'], 4),
                 _number(errors['mse_translated'], 4),
                 _number(errors['mse_translated'] / errors['mse'], 2),
                 _number(errors['sharpness_translated'], 2)])
    model = vaegan_jax.load(r.directory)
    figure.append((r.run.label, model.reconstruct(shifted)))
  figures.rows_figure(figure, files.path(workdir) / 'translation.png')
  header = ('model', 'MSE, held-out', f'MSE, translated ±{fraction:.0%}',
            'ratio', 'sharpness, translated')
  return '\n'.join([
      '## Translated held-out digits', '', _table(header, rows), '',
      f'All held-out digits, as they are and shifted by up to '
      f'±{fraction:.0%} along each axis (the training augmentation, seed '
      f'{translation.SEED}); pixel MSE of each reconstruction against its '
      f'own input, pixels in [0, 1]. Sharpness is the mean difference of '
      f'neighbouring pixels of the reconstructions of the shifted digits '
      f'over that of the shifted digits themselves (1: as sharp as the '
      f'input; lower: blurrier).', '',
      '![translated digits and reconstructions](translation.png)', '',
      'Held-out digits, the same shifted, and each model\'s reconstruction '
      'of the shifted ones.'])


SECTIONS = {'losses': _losses_section, 'translation': _translation_section,
            'conditional': conditional.section}


def write(experiment: definitions.Experiment, workdir: str,
          command: str | None = None) -> str:
  """Writes report.md and its figures from the runs found in `workdir`.

  Args:
    experiment: the experiment.
    workdir: its workdir (runs in `runs/<name>/`).
    command: the command line that made it, shown in the report.

  Returns:
    The path of report.md.
  """
  results = runner.collect(workdir, experiment)
  done = [r for r in results if r.finished]
  parts = [f'# {experiment.title}', '', f'**Claim.** {experiment.claim}', '']
  if done and experiment.name in verdicts.VERDICTS:
    parts += [f'**Here.** {verdicts.VERDICTS[experiment.name](done)}', '']
  parts += [experiment.description, '',
           f'Written {datetime.date.today().isoformat()}'
           + (f' by `{command}`' if command else '') + '.']
  if any(r.config is not None for r in results):
    parts += ['', _settings(experiment, results)]
  parts += ['', _quality_table(results)]
  if done:
    sections = [_samples_section, _reconstructions_section] + [
        SECTIONS[name] for name in experiment.sections]
    for section in sections:
      text = section(done, workdir)
      if text:
        parts += ['', text]
  notes = files.path(workdir) / NOTES_FILE
  if notes.exists():
    parts += ['', '## Observations', '', notes.read_text().strip()]
  parts += ['', '## Runs', '', 'Each run\'s workdir, with its checkpoints, '
            'pictures, metrics.jsonl and TensorBoard logs: ' + ', '.join(
                f'`runs/{r.run.name}/`' for r in results) + '.']
  path = str(files.path(workdir) / REPORT_FILE)
  files.write_text(path, '\n'.join(parts) + '\n')
  return path
