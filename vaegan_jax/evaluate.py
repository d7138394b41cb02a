"""Evaluation: pictures and held-out metrics, during training and on demand.

Pictures (PNG in the workdir, and in TensorBoard): samples of fixed prior
noise (4x4 and 8x8), held-out images above their reconstructions, linear and
spherical interpolations between held-out pairs, random walks in the latent
space, loss curves, and attribute vectors where the data has attributes.
The samples and reconstructions of every evaluation are kept in
`pictures/`, and the samples animated over training in a GIF.

Metrics on the held-out split: pixel MSE and PSNR of reconstructions, KL per
latent dimension and active units, the IWAE bound (`metrics/iwae.py`), and
sample quality (FID, precision, recall) in the feature space
`config.eval.fid_features` selects.
"""

import json
from typing import Any, Sequence

import jax
import ml_collections
import numpy as np
from absl import logging

from vaegan_jax import checkpoint as checkpoint_lib
from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax import export
from vaegan_jax import images as images_lib
from vaegan_jax import inference
from vaegan_jax import metrics
from vaegan_jax import parallel
from vaegan_jax import plots
from vaegan_jax import sample_files
from vaegan_jax import validation
from vaegan_jax import writers
from vaegan_jax.metrics import held_out as held_out_metrics
from vaegan_jax.metrics import iwae
from vaegan_jax.metrics import quality

# Seeds of the fixed noise, so pictures of one run are comparable over time.
_PRIOR_SEED, _WALK_SEED, _FID_SEED = 11, 12, quality.SAMPLE_SEED
# Pictures of every evaluation kept in <workdir>/pictures/, and the animation
# of the fixed-noise samples over training made from them.
KEPT_PICTURES = ('samples_8x8', 'reconstructions')
ANIMATION_FILE = 'samples_over_training.gif'


def _interleave_rows(top: np.ndarray, bottom: np.ndarray,
                     columns: int) -> np.ndarray:
  """Rows of `top` and `bottom` alternating, `columns` images per row."""
  rows = []
  for start in range(0, len(top), columns):
    rows += [top[start:start + columns], bottom[start:start + columns]]
  return np.concatenate(rows)


class Evaluator:
  """Writes pictures and computes held-out metrics of a train state.

  Args:
    config: the run's configuration.
    workdir: where eval_metrics.json goes.
    mesh: the device mesh.
    writer: where pictures and metrics go.
    metrics_file: the training log the loss curves are drawn from (default:
      `workdir/metrics.jsonl`).
    keep_pictures: keep `KEPT_PICTURES` of every evaluation in
      `workdir/pictures/` and animate the samples (`ANIMATION_FILE`).
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str,
               mesh: Any, writer: writers.MetricWriter,
               metrics_file: str | None = None, keep_pictures: bool = True):
    self.config = config
    self.keep_pictures = keep_pictures
    self.cfg = config.eval
    self.workdir = workdir
    self.metrics_file = metrics_file or str(
        files.path(workdir) / writers.METRICS_FILE)
    self.writer = writer
    self.infer = inference.Inference(config, mesh, self.cfg.batch_size)
    held_out = data.eval_data(config, self.cfg.num_examples)
    self.held_out = held_out['image']
    # A conditional model's conditions: the held-out images' own, and for
    # the fixed prior noise each class in turn.
    self.conditions = (data.conditions.from_example(
        held_out, config.model.num_conditions)
                       if config.model.conditional else None)
    self.pictured = self.held_out[:16]
    self._quality = None
    self._iwae = (iwae.IWAE(config, self.infer.mesh)
                  if self.cfg.iwae_samples and iwae.likelihood_space(config)
                  else None)

  def _held_out_conditions(self, rows: slice | np.ndarray | None = None
                           ) -> np.ndarray | None:
    if self.conditions is None:
      return None
    return self.conditions if rows is None else self.conditions[rows]

  def due(self, step: int) -> bool:
    return self.cfg.every > 0 and step % self.cfg.every == 0

  # Pictures.

  def _interpolations(self, state, codes: np.ndarray) -> dict[str, np.ndarray]:
    steps = self.cfg.interpolation_steps
    pairs = [(codes[i], codes[i + 1]) for i in range(0, 8, 2)]
    # A conditional model interpolates each pair in its first image's class.
    conditions = self._held_out_conditions(np.repeat(np.arange(0, 8, 2),
                                                     steps))
    return {f'interpolation_{method}': images_lib.grid(self.infer.decode(
        state, np.concatenate([inference.interpolate(a, b, steps, method)
                               for a, b in pairs]), conditions), steps)
            for method in inference.INTERPOLATIONS}

  def _random_walks(self, state) -> np.ndarray:
    rng = np.random.default_rng(_WALK_SEED)
    start = rng.standard_normal((4, 1, self.infer.latent_dim))
    steps = rng.standard_normal((4, 11, self.infer.latent_dim)) * 0.35
    walks = np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1)
    z = walks.reshape(-1, self.infer.latent_dim).astype(np.float32)
    conditions = self.infer.default_conditions(4)
    if conditions is not None:
      conditions = np.repeat(conditions, 12, axis=0)
    return images_lib.grid(self.infer.decode(state, z, conditions), 12)

  def _attribute_pictures(self, state, codes: np.ndarray
                          ) -> dict[str, np.ndarray]:
    names = list(self.cfg.attributes)
    if not names:
      return {}
    train = data.train_data(self.config, self.cfg.attribute_examples)
    if 'attributes' not in train:
      return {}
    known = train['attribute_names']
    unknown = [n for n in names if n not in known]
    if unknown:
      raise ValueError(f'config.eval.attributes names {unknown}, which the '
                       f'data does not have; it has {known}.')
    columns = [known.index(n) for n in names]
    train_conditions = (data.conditions.from_example(
        train, self.config.model.num_conditions)
                        if self.conditions is not None else None)
    mean, _ = self.infer.encode(state, train['image'], train_conditions)
    vectors = inference.attribute_vectors(mean,
                                          train['attributes'][:, columns])
    base = codes[:8]
    conditions = self._held_out_conditions(np.tile(np.arange(8), 3))
    out = {}
    for name, vector in zip(names, vectors):
      z = np.concatenate([base, base + vector, base - vector])
      decoded = self.infer.decode(state, z.astype(np.float32), conditions)
      rows = np.concatenate([self.pictured[:8], decoded])
      out[f'attribute_{name}'] = images_lib.grid(rows, 8)
    return out

  def pictures(self, state, codes: np.ndarray) -> dict[str, np.ndarray]:
    """All pictures of `state`; `codes` are the held-out posterior means."""
    samples = self.infer.sample(state, 64, _PRIOR_SEED)
    recon = self.infer.decode(state, codes[:len(self.pictured)],
                              self._held_out_conditions(
                                  slice(0, len(self.pictured))))
    out = {
        'samples_4x4': images_lib.grid(samples[:16], 4),
        'samples_8x8': images_lib.grid(samples, 8),
        'reconstructions': images_lib.grid(
            _interleave_rows(self.pictured, recon, 8), 8),
        'random_walks': self._random_walks(state),
        **self._interpolations(state, codes),
        **self._attribute_pictures(state, codes),
    }
    self.writer.flush()  # the loss curves read what was written
    if files.path(self.metrics_file).exists():
      records = writers.read_jsonl(self.metrics_file)
      if records:
        out['loss_curves'] = plots.loss_curves(records)
    return out

  # Metrics.

  def _sample_quality(self, state) -> dict[str, Any]:
    if self._quality is None:
      self._quality = metrics.SampleQuality(self.config, self.held_out)
    if self._quality.extract is None:  # no feature network for this data
      return {}
    # Decoded and scored in chunks: 50,000 samples need not fit in memory. A
    # conditional model samples the held-out images' conditions in turn.
    num = self.cfg.num_fid_samples
    codes = self.infer.prior(num, _FID_SEED)
    conditions = self._held_out_conditions(np.arange(num) %
                                           len(self.held_out))
    chunk = quality.chunk_size(self.config)
    features = np.concatenate([
        self._quality.extract(self.infer.decode(
            state, codes[i:i + chunk],
            None if conditions is None else conditions[i:i + chunk]))
        for i in range(0, num, chunk)])
    return {**self._quality.score(features),
            'fid_protocol': self._quality.protocol}

  def metrics(self, state, mean: np.ndarray, logvar: np.ndarray
              ) -> dict[str, Any]:
    """Held-out metrics of `state` (posterior of the held-out images given)."""
    kl = held_out_metrics.kl_per_dimension(mean, logvar)
    recon = self.infer.decode(state, mean, self._held_out_conditions())
    return {
        **held_out_metrics.pixel_errors(self.held_out, recon),
        'kl': float(kl.sum()),
        'kl_per_dim': kl.tolist(),
        'active_units': held_out_metrics.active_units(mean),
        **self._iwae_bound(state),
        **self._sample_quality(state),
    }

  def _iwae_bound(self, state) -> dict[str, float]:
    if self._iwae is None:
      return {}
    rows = slice(0, self.cfg.iwae_examples)
    bounds = self._iwae(state, self.held_out[rows],
                        self._held_out_conditions(rows))
    return {'iwae': float(np.mean(bounds))}

  def run(self, state, step: int) -> dict[str, float]:
    """Writes pictures and metrics of `state` at `step`.

    Returns:
      The scalar metrics (for checkpoint selection).
    """
    mean, logvar = self.infer.encode(state, self.held_out,
                                     self._held_out_conditions())
    results = self.metrics(state, mean, logvar)
    pictures = self.pictures(state, mean)
    self.writer.write_images(step, pictures)
    if self.keep_pictures:
      self.writer.keep_images(step, {k: pictures[k] for k in KEPT_PICTURES})
      self.writer.write_animation('samples_8x8', ANIMATION_FILE)
    scalars = {k: v for k, v in results.items() if np.isscalar(v)}
    notes = ({'eval/fid_protocol': results['fid_protocol']['name']}
             if 'fid_protocol' in results else None)
    self.writer.write_scalars(step, {f'eval/{k}': v
                                     for k, v in scalars.items()}, notes)
    if self.writer.enabled:
      files.write_text(files.path(self.workdir) / 'eval_metrics.json',
                       json.dumps({'step': step, **results}, indent=1))
    logging.info('eval at step %d: %s', step, ' '.join(
        f'{k}={v:.4g}' for k, v in sorted(scalars.items())))
    return {k: float(v) for k, v in scalars.items()}


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                        checkpoint: str | int = 'latest') -> dict[str, float]:
  """Writes the pictures and metrics of one checkpoint of a run.

  Args:
    config: the run's configuration (eval fields may differ).
    workdir: the run's directory.
    checkpoint: 'latest', 'best' or a step.

  Returns:
    The scalar metrics; everything is written to
    `workdir/evaluation/step_<step>/` (eval_metrics.json and PNG files).
  """
  validation.validate(config)
  config = data.with_conditions(config)
  mesh = parallel.make_mesh()
  state, step = checkpoint_lib.restore_run(config, workdir, checkpoint, mesh)
  out = str(files.path(workdir) / 'evaluation' / f'step_{step}')
  writer = writers.MetricWriter(out, enabled=jax.process_index() == 0)
  try:
    evaluator = Evaluator(config, out, mesh, writer,
                          str(files.path(workdir) / writers.METRICS_FILE),
                          keep_pictures=False)
    results = evaluator.run(state, step)
  finally:
    writer.close()
  logging.info('Wrote the evaluation of step %d to %s', step, out)
  return results


def sample_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                      checkpoint: str | int = 'latest', num: int = 64,
                      seed: int = 0, formats: Sequence[str] = ('grid',),
                      output_dir: str | None = None) -> str:
  """Decodes `num` prior samples of a checkpoint into files.

  Args:
    config: the run's configuration.
    workdir: the run's directory.
    checkpoint: 'latest', 'best' or a step.
    num: how many samples.
    seed: the prior noise's seed (`quality.SAMPLE_SEED`, 13, gives the
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
  validation.validate(config)
  if num < 1:
    raise errors.UserError(f'--num_samples={num}: ask for at least 1.')
  try:
    formats = sample_files.parse_formats(formats)
  except ValueError as e:
    raise errors.UserError(f'--sample_format: {e}') from None
  config = data.with_conditions(config)
  mesh = parallel.make_mesh()
  state, step = checkpoint_lib.restore_run(config, workdir, checkpoint, mesh)
  infer = inference.Inference(config, mesh, config.eval.batch_size)
  columns, conditions = None, None
  if config.model.conditional:  # `num` of each class, a row per class
    classes = config.model.num_conditions
    columns, conditions = num, np.repeat(np.arange(classes), num)
    num *= classes
  codes = infer.prior(num, seed)
  out = output_dir or str(files.path(workdir) / 'samples')
  out_files = (sample_files.SampleFiles(out, f'step_{step}_seed_{seed}',
                                        formats, columns)
               if jax.process_index() == 0 else None)
  chunk = quality.chunk_size(config)
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


def export_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                      checkpoint: str | int = 'latest',
                      output_dir: str | None = None) -> str:
  """Writes one checkpoint's networks and the model config to one file.

  Args:
    config: the run's configuration.
    workdir: the run's directory.
    checkpoint: 'latest', 'best' or a step.
    output_dir: where the file goes (default: `workdir/export`).

  Returns:
    The path, `<output_dir>/model_step_<step>.msgpack` (see `export.load`).
  """
  validation.validate(config)
  state, step = checkpoint_lib.restore_run(config, workdir, checkpoint)
  path = str(files.path(output_dir or files.path(workdir) / 'export') /
             f'model_step_{step}.msgpack')
  if jax.process_index() == 0:
    export.save(path, config, state, step)
  logging.info('Exported the networks of step %d to %s', step, path)
  return path
