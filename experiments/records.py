"""A finished run's small files: written from its workdir, copied elsewhere.

`write` derives, from a finished seed's workdir (its metrics.jsonl and its
trained model), the files a report reads besides config.json,
eval_metrics.json, timing.json and samples_4x4.png: evaluations.jsonl,
losses.jsonl, measures.json and pictures.npz (`runner.RECORD_FILES`).
`export` copies those files, and nothing else, to another folder (e.g.
docs/<experiment>/runs/<name>/seed_<k>/, committed), from which
`report.write` makes the same report as from the workdir.
"""

import io
import json
from typing import Any

import numpy as np

import vaegan_jax
from vaegan_jax import data
from vaegan_jax import files
from vaegan_jax.data import images as images_lib
from vaegan_jax.output import writers
from experiments import conditional
from experiments import definitions
from experiments import latent
from experiments import prior_gap
from experiments import runner
from experiments import translation

RECONSTRUCTED = 8  # held-out digits in the reconstruction figures
TRANSLATED = 12  # and in the translation figure
SHOWN_PER_CLASS = conditional.SHOWN_PER_CLASS
# Training-log values kept in losses.jsonl (rounded: the log's own noise is
# far larger than the digits dropped).
LOG_PREFIXES = ('loss/', 'perf/steps_per_sec')
DIGITS = 6


def _round(value: Any) -> Any:
  if isinstance(value, float):
    return float(f'{value:.{DIGITS}g}')
  return value


def _lines(records) -> str:
  return ''.join(json.dumps(r, sort_keys=True) + '\n' for r in records)


def log_files(metrics_records: list[dict[str, Any]]
              ) -> tuple[list[dict], list[dict]]:
  """evaluations.jsonl's and losses.jsonl's records from metrics.jsonl's.

  Args:
    metrics_records: a run's metrics.jsonl records: the training log's
      (step, loss/..., perf/...) and the evaluations' (step, eval/...).

  Returns:
    (each evaluation: its step, its metrics without the 'eval/' prefix,
    and the training log's losses of the same step; the training log: its
    step, losses and speed), values rounded to 6 significant digits. A
    step logged twice (a resumed run) keeps its last record.
  """
  losses, evaluations = {}, {}
  for record in metrics_records:
    step = int(record['step'])
    logged = {k: _round(v) for k, v in record.items()
              if k.startswith(LOG_PREFIXES)}
    if logged:
      losses[step] = {'step': step, **logged}
    scores = {k[len('eval/'):]: _round(v) for k, v in record.items()
              if k.startswith('eval/') and isinstance(v, (int, float))}
    if scores:
      evaluations[step] = {'step': step, **scores}
  for step, record in evaluations.items():
    record.update({k: v for k, v in losses.get(step, {}).items()
                   if k.startswith('loss/')})
  return ([evaluations[s] for s in sorted(evaluations)],
          [losses[s] for s in sorted(losses)])


def _pictures(result: runner.Result, experiment: definitions.Experiment
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  """The trained model's pictures (uint8) and measures for the report."""
  pictures, measures = {}, {}
  config = result.config
  model = None
  if result.reconstructs:
    model = vaegan_jax.load(result.directory)
    held_out = data.eval_data(config, RECONSTRUCTED)
    conditions = (data.conditions.from_example(
        held_out, model.config.model.num_conditions)
                  if model.config.model.conditional else None)
    pictures['held_out'] = images_lib.to_uint8(held_out['image'])
    pictures['reconstructions'] = images_lib.to_uint8(
        model.reconstruct(held_out['image'], conditions))
  if 'translation' in experiment.sections and model is not None:
    measures['translation'] = translation.run_errors(
        result.directory, definitions.TRANSLATIONS)
    images = data.eval_data(config, TRANSLATED)['image']
    pictures['translation_inputs'] = images_lib.to_uint8(images)
    for name, fraction in definitions.TRANSLATIONS:
      shifted = translation.translate(images, fraction)
      pictures[f'translated_{name}'] = images_lib.to_uint8(shifted)
      pictures[f'reconstructions_{name}'] = images_lib.to_uint8(
          model.reconstruct(shifted))
  if 'prior_gap' in experiment.sections and model is not None:
    measures['prior_gap'] = prior_gap.measure(result.directory)
  if 'latent' in experiment.sections:
    measures.update(latent.measure(result.directory))
  if 'conditional' in experiment.sections:
    accuracy, samples = conditional.class_accuracy(result.directory)
    measures['class_accuracy'] = [float(a) for a in accuracy]
    pictures['classes'] = images_lib.to_uint8(
        samples[:, :SHOWN_PER_CLASS])
  return pictures, measures


def write(result: runner.Result, experiment: definitions.Experiment) -> None:
  """Writes a finished seed's derived record files into its workdir.

  Args:
    result: the seed, read from its workdir (`runner.read_result`).
    experiment: its experiment (which sections need which measures).
  """
  folder = files.path(result.directory)
  path = folder / writers.METRICS_FILE
  records = writers.read_jsonl(str(path)) if path.exists() else []
  evaluations, losses = log_files(records)
  files.write_text(folder / runner.EVALUATIONS_FILE, _lines(evaluations))
  files.write_text(folder / runner.LOSSES_FILE, _lines(losses))
  pictures, measures = _pictures(result, experiment)
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **pictures)
  files.write_bytes(folder / runner.PICTURES_FILE, buffer.getvalue())
  # Written last: its presence says the seed's records are complete.
  files.write_text(folder / runner.MEASURES_FILE,
                   json.dumps(measures, indent=1, sort_keys=True))


def is_written(directory: str) -> bool:
  """Whether `write` finished for the seed in `directory`."""
  return (files.path(directory) / runner.MEASURES_FILE).exists()


def export(directory: str, destination: str) -> list[str]:
  """Copies a seed's `runner.RECORD_FILES` (those it has) to `destination`.

  Args:
    directory: the seed's workdir.
    destination: the folder to copy them to (created if missing).

  Returns:
    The names of the files copied.
  """
  copied = []
  for name in runner.RECORD_FILES:
    source = files.path(directory) / name
    if source.exists():
      files.write_bytes(files.path(destination) / name, source.read_bytes())
      copied.append(name)
  return copied


def read_pictures(result: runner.Result) -> dict[str, np.ndarray]:
  """A seed's pictures.npz as uint8 arrays ({} if it has none)."""
  path = files.path(result.directory) / runner.PICTURES_FILE
  if not path.exists():
    return {}
  with np.load(io.BytesIO(path.read_bytes())) as stored:
    return {k: stored[k] for k in stored.files}
