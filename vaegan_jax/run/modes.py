"""What main.py's --mode=evaluate, sample and export do with one checkpoint.

Each opens one checkpoint of a run (`opening.open_run`: the run's own
config, and 'latest', 'best' or a step) and writes into the run's workdir:
an evaluation's pictures and metrics (`evaluate.Evaluator`), samples in
files other FID tools read (`sample_files`), or the networks in one
self-contained file (`export`). None of them trains, takes the workdir's
lock or changes its checkpoints.
"""

from typing import Sequence

import jax
import ml_collections
import numpy as np
from absl import logging

from vaegan_jax import errors
from vaegan_jax.run import evaluate
from vaegan_jax.store import export
from vaegan_jax import files
from vaegan_jax.model import inference
from vaegan_jax.output import sample_files
from vaegan_jax.run import opening
from vaegan_jax.output import writers
from vaegan_jax.metrics import fid_protocol
from vaegan_jax.metrics import quality


def evaluate_checkpoint(config: ml_collections.ConfigDict | None, workdir: str,
                        checkpoint: str | int = 'latest') -> dict[str, float]:
  """Writes the pictures and metrics of one checkpoint of a run.

  Args:
    config: the run's configuration (eval fields may differ; None: its
      config.json, `opening.run_config`).
    workdir: the run's directory.
    checkpoint: 'latest', 'best' or a step.

  Returns:
    The scalar metrics; everything is written to
    `workdir/evaluation/step_<step>/` (eval_metrics.json and PNG files).
  """
  config, mesh, state, step = opening.open_run(config, workdir, 'evaluate',
                                               checkpoint)
  out = str(files.path(workdir) / 'evaluation' / f'step_{step}')
  with errors.storage_errors(out, 'Free space there, then run the same '
                             'command again.'):
    writer = writers.MetricWriter(out, enabled=jax.process_index() == 0)
    try:
      evaluator = evaluate.Evaluator(config, out, mesh, writer,
                            str(files.path(workdir) / writers.METRICS_FILE),
                            keep_pictures=False)
      results = evaluator.run(state, step)
    finally:
      writer.close()
  logging.info('Wrote the evaluation of step %d to %s', step, out)
  if config.eval.write_reference_stats:
    quality.write_reference_statistics(
        config, config.eval.write_reference_stats, evaluator.held_out)
  return results


def sample_checkpoint(config: ml_collections.ConfigDict | None, workdir: str,
                      checkpoint: str | int = 'latest', num: int = 64,
                      seed: int = 0, formats: Sequence[str] = ('grid',),
                      output_dir: str | None = None) -> str:
  """Decodes `num` prior samples of a checkpoint into files.

  Args:
    config: the run's configuration (None: its config.json).
    workdir: the run's directory.
    checkpoint: 'latest', 'best' or a step.
    num: how many samples.
    seed: the prior noise's seed (`fid_protocol.SAMPLE_SEED`, 13, gives the
      samples an evaluation's FID scores, for `num=config.eval.
      num_fid_samples`).
    formats: from `sample_files.FORMATS` ('grid': a PNG grid and a float
      .npy; 'png': a folder of PNG files; 'npz': uint8 under 'arr_0') or
      'all'.
    output_dir: where the files go (default: `workdir/samples`).

  A conditional model draws `num` samples of each class (or attribute), one
  row of the grid per class.

  Returns:
    The path of the grid PNG, else of the .npz, else of the PNG folder:
    `<output_dir>/step_<step>_seed_<seed>[.png|.npz|/]`.
  """
  if not (isinstance(num, int) and num >= 1):
    raise errors.UserError(f'--num_samples={num} must be an integer >= 1.')
  try:
    formats = sample_files.parse_formats(formats)
  except ValueError as e:
    raise errors.UserError(f'--sample_format: {e}') from None
  config, mesh, state, step = opening.open_run(config, workdir, 'sample',
                                               checkpoint)
  infer = inference.Inference(config, mesh, config.eval.batch_size)
  columns, conditions = None, None
  if config.model.conditional:  # `num` of each class, a row per class
    classes = config.model.num_conditions
    columns, conditions = num, np.repeat(np.arange(classes), num)
    num *= classes
  codes = infer.prior(num, seed)
  out = output_dir or str(files.path(workdir) / 'samples')
  with errors.storage_errors(out, 'Free space there, then run the same '
                             'command again.'):
    out_files = (sample_files.SampleFiles(out, f'step_{step}_seed_{seed}',
                                          formats, columns)
                 if jax.process_index() == 0 else None)
    chunk = fid_protocol.chunk_size(config)
    for start in range(0, num, chunk):  # every process decodes; one writes
      samples = infer.decode(
          state, codes[start:start + chunk],
          None if conditions is None else conditions[start:start + chunk])
      if out_files is not None:
        out_files.add(samples)
    if out_files is None:
      return ''
    written = out_files.close()
  logging.info('Wrote %d samples of step %d: %s', num, step,
               ', '.join(written))
  for fmt in ('grid', 'npz', 'png'):
    if fmt in formats:
      return str({'grid': out_files.path('.png'),
                  'npz': out_files.path('.npz'),
                  'png': out_files.folder}[fmt])


def export_checkpoint(config: ml_collections.ConfigDict | None, workdir: str,
                      checkpoint: str | int = 'latest',
                      output_dir: str | None = None) -> str:
  """Writes one checkpoint's networks and the model config to one file.

  Args:
    config: the run's configuration (None: its config.json).
    workdir: the run's directory.
    checkpoint: 'latest', 'best' or a step.
    output_dir: where the file goes (default: `workdir/export`).

  Returns:
    The path, `<output_dir>/model_step_<step>.msgpack` (see `export.load`).
  """
  config, _, state, step = opening.open_run(config, workdir, 'export',
                                            checkpoint)
  path = str(files.path(output_dir or files.path(workdir) / 'export') /
             f'model_step_{step}.msgpack')
  if jax.process_index() == 0:
    with errors.storage_errors(path, 'Free space there, then run the same '
                               'command again.'):
      export.save(path, config, state, step)
  logging.info('Exported the networks of step %d to %s', step, path)
  return path
