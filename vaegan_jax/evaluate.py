"""Evaluation: pictures and held-out metrics, during training and on demand.

Pictures (PNG in the workdir, and in TensorBoard): samples of fixed prior
noise (4x4 and 8x8), held-out images above their reconstructions, linear and
spherical interpolations between held-out pairs, random walks in the latent
space, loss curves, and attribute vectors where the data has attributes.

Metrics on the held-out split: pixel MSE and PSNR of reconstructions, KL per
latent dimension and active units, and sample quality (FID, precision,
recall) in the feature space `config.eval.fid_features` selects.
"""

import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from vaegan_jax import checkpoint as checkpoint_lib
from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax import images as images_lib
from vaegan_jax import inference
from vaegan_jax import metrics
from vaegan_jax import parallel
from vaegan_jax import plots
from vaegan_jax import validation
from vaegan_jax import writers
from vaegan_jax.metrics import held_out as held_out_metrics
from vaegan_jax.metrics import quality

# Seeds of the fixed noise, so pictures of one run are comparable over time.
_PRIOR_SEED, _WALK_SEED, _FID_SEED = 11, 12, 13


def _interleave_rows(top: np.ndarray, bottom: np.ndarray,
                     columns: int) -> np.ndarray:
  """Rows of `top` and `bottom` alternating, `columns` images per row."""
  rows = []
  for start in range(0, len(top), columns):
    rows += [top[start:start + columns], bottom[start:start + columns]]
  return np.concatenate(rows)


def _check_attributes(names: list[str], known: list[str] | None) -> None:
  """Raises ConfigError for attribute names the data does not have."""
  unknown = [n for n in names if known is not None and n not in known]
  if unknown:
    raise errors.ConfigError(
        f'config.eval.attributes names {unknown}, which the data does not '
        f'have; it has {known}.')


class Evaluator:
  """Writes pictures and computes held-out metrics of a train state.

  Args:
    config: the run's configuration.
    workdir: where eval_metrics.json goes.
    mesh: the device mesh.
    writer: where pictures and metrics go.
    metrics_file: the training log the loss curves are drawn from (default:
      `workdir/metrics.jsonl`).
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str,
               mesh: Any, writer: writers.MetricWriter,
               metrics_file: str | None = None):
    self.config = config
    self.cfg = config.eval
    self.workdir = workdir
    self.metrics_file = metrics_file or os.path.join(workdir, 'metrics.jsonl')
    self.writer = writer
    self.infer = inference.Inference(config, mesh, self.cfg.batch_size)
    held_out = data.eval_data(config, self.cfg.num_examples)
    if len(held_out['image']) < validation.MIN_EVAL_EXAMPLES:
      raise errors.DataError(
          f'The held-out split of {data.sources.describe(config)} has '
          f'{len(held_out["image"])} images; the evaluation needs at least '
          f'{validation.MIN_EVAL_EXAMPLES}: raise config.data.'
          'holdout_fraction (or list more test images in '
          'config.data.partition_file).')
    _check_attributes(list(self.cfg.attributes),
                      held_out.get('attribute_names'))
    self.held_out = held_out['image']
    self.pictured = self.held_out[:16]
    self.prior = self.infer.prior(64, _PRIOR_SEED)
    self._quality = None

  def due(self, step: int) -> bool:
    return self.cfg.every > 0 and step % self.cfg.every == 0

  # Pictures.

  def _interpolations(self, state, codes: np.ndarray) -> dict[str, np.ndarray]:
    steps = self.cfg.interpolation_steps
    pairs = [(codes[i], codes[i + 1]) for i in range(0, 8, 2)]
    return {f'interpolation_{method}': images_lib.grid(self.infer.decode(
        state, np.concatenate([inference.interpolate(a, b, steps, method)
                               for a, b in pairs])), steps)
            for method in inference.INTERPOLATIONS}

  def _random_walks(self, state) -> np.ndarray:
    rng = np.random.default_rng(_WALK_SEED)
    start = rng.standard_normal((4, 1, self.infer.latent_dim))
    steps = rng.standard_normal((4, 11, self.infer.latent_dim)) * 0.35
    walks = np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1)
    z = walks.reshape(-1, self.infer.latent_dim).astype(np.float32)
    return images_lib.grid(self.infer.decode(state, z), 12)

  def _attribute_pictures(self, state, codes: np.ndarray
                          ) -> dict[str, np.ndarray]:
    names = list(self.cfg.attributes)
    if not names:
      return {}
    train = data.train_data(self.config, self.cfg.attribute_examples)
    if 'attributes' not in train:
      return {}
    known = train['attribute_names']
    _check_attributes(names, known)
    columns = [known.index(n) for n in names]
    mean, _ = self.infer.encode(state, train['image'])
    vectors = inference.attribute_vectors(mean, train['attributes'][:, columns])
    base = codes[:8]
    out = {}
    for name, vector in zip(names, vectors):
      z = np.concatenate([base, base + vector, base - vector])
      decoded = self.infer.decode(state, z.astype(np.float32))
      rows = np.concatenate([self.pictured[:8], decoded])
      out[f'attribute_{name}'] = images_lib.grid(rows, 8)
    return out

  def pictures(self, state, codes: np.ndarray) -> dict[str, np.ndarray]:
    """All pictures of `state`; `codes` are the held-out posterior means."""
    samples = self.infer.decode(state, self.prior)
    recon = self.infer.decode(state, codes[:len(self.pictured)])
    out = {
        'samples_4x4': images_lib.grid(samples[:16], 4),
        'samples_8x8': images_lib.grid(samples, 8),
        'reconstructions': images_lib.grid(
            _interleave_rows(self.pictured, recon, 8), 8),
        'random_walks': self._random_walks(state),
        **self._interpolations(state, codes),
        **self._attribute_pictures(state, codes),
    }
    if os.path.exists(self.metrics_file):
      records = writers.read_jsonl(self.metrics_file)
      if records:
        out['loss_curves'] = plots.loss_curves(records)
    return out

  # Metrics.

  def _sample_quality(self, state) -> dict[str, float]:
    if self._quality is None:
      self._quality = metrics.SampleQuality(self.config, self.held_out)
    if self._quality.extract is None:  # no feature network for this data
      return {}
    fakes = self.infer.sample(state, self.cfg.num_fid_samples, _FID_SEED)
    return self._quality(fakes)

  def metrics(self, state, mean: np.ndarray, logvar: np.ndarray
              ) -> dict[str, Any]:
    """Held-out metrics of `state` (posterior of the held-out images given)."""
    kl = held_out_metrics.kl_per_dimension(mean, logvar)
    recon = self.infer.decode(state, mean)
    return {
        **held_out_metrics.pixel_errors(self.held_out, recon),
        'kl': float(kl.sum()),
        'kl_per_dim': kl.tolist(),
        'active_units': held_out_metrics.active_units(mean),
        **self._sample_quality(state),
    }

  def run(self, state, step: int) -> dict[str, float]:
    """Writes pictures and metrics of `state` at `step`.

    Returns:
      The scalar metrics (for checkpoint selection).
    """
    mean, logvar = self.infer.encode(state, self.held_out)
    results = self.metrics(state, mean, logvar)
    self.writer.write_images(step, self.pictures(state, mean))
    scalars = {k: v for k, v in results.items() if np.isscalar(v)}
    self.writer.write_scalars(step, {f'eval/{k}': v
                                     for k, v in scalars.items()})
    if self.writer.enabled:
      with open(os.path.join(self.workdir, 'eval_metrics.json'), 'w') as f:
        json.dump({'step': step, **results}, f, indent=1)
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
  quality.check_files(config)
  mesh = parallel.make_mesh()
  state, step = checkpoint_lib.restore_run(config, workdir, checkpoint, mesh)
  out = os.path.join(workdir, 'evaluation', f'step_{step}')
  with errors.storage_errors(out, 'Free space there, then run the same '
                             'command again.'):
    writer = writers.MetricWriter(out, enabled=jax.process_index() == 0)
    try:
      evaluator = Evaluator(config, out, mesh, writer,
                            os.path.join(workdir, 'metrics.jsonl'))
      results = evaluator.run(state, step)
    finally:
      writer.close()
  logging.info('Wrote the evaluation of step %d to %s', step, out)
  return results


def sample_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                      checkpoint: str | int = 'latest', num: int = 64,
                      seed: int = 0) -> str:
  """Decodes `num` prior samples of a checkpoint to a PNG grid and a .npy.

  Returns:
    The PNG's path, `workdir/samples/step_<step>_seed_<seed>.png`.
  """
  validation.validate(config)
  if not (isinstance(num, int) and num >= 1):
    raise errors.UserError(f'--num_samples={num} must be an integer >= 1.')
  mesh = parallel.make_mesh()
  state, step = checkpoint_lib.restore_run(config, workdir, checkpoint, mesh)
  samples = inference.Inference(config, mesh, config.eval.batch_size).sample(
      state, num, seed)
  out = os.path.join(workdir, 'samples')
  path = os.path.join(out, f'step_{step}_seed_{seed}')
  if jax.process_index() == 0:
    with errors.storage_errors(out, 'Free space there, then run the same '
                               'command again.'):
      os.makedirs(out, exist_ok=True)
      np.save(path + '.npy', samples)
      writers.save_png(path + '.png', images_lib.grid(
          samples, int(np.ceil(np.sqrt(num)))))
  logging.info('Wrote %d samples of step %d to %s.png', num, step, path)
  return path + '.png'
