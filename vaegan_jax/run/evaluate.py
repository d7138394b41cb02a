"""Evaluation: pictures and held-out metrics, during training and on demand.

Pictures (PNG in the workdir, and in TensorBoard): samples of fixed prior
noise (4x4 and 8x8), held-out images above their reconstructions, linear and
spherical interpolations between held-out pairs, random walks in the latent
space, loss curves, and attribute vectors where the data has attributes.
The samples and reconstructions of every evaluation are kept in
`pictures/`, and the samples animated over training in a GIF.

Metrics: those of `metrics.registry`, group by group: on the held-out split
pixel MSE and PSNR of reconstructions, KL per latent dimension and active
units; the IWAE bound (`metrics/iwae.py`); and sample quality (FID,
precision, recall, Inception Score) in the feature space
`config.eval.fid_features` selects.
"""

import json
from typing import Any

import ml_collections
import numpy as np
from absl import logging

from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax.data import images as images_lib
from vaegan_jax.model import ema
from vaegan_jax.model import inference
from vaegan_jax import metrics
from vaegan_jax.output import plots
from vaegan_jax.run import validation
from vaegan_jax.output import writers
from vaegan_jax.metrics import fid_protocol
from vaegan_jax.metrics import iwae
from vaegan_jax.metrics import registry

# Seeds of the fixed noise, so pictures of one run are comparable over time.
_PRIOR_SEED, _WALK_SEED, _FID_SEED = 11, 12, fid_protocol.SAMPLE_SEED
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
    if len(held_out['image']) < validation.MIN_EVAL_EXAMPLES:
      raise errors.DataError(
          f'The held-out split of {data.sources.describe(config)} has '
          f'{len(held_out["image"])} images; the evaluation needs at least '
          f'{validation.MIN_EVAL_EXAMPLES}: hold out more images with '
          f'{data.sources.held_out(config)}.')
    _check_attributes(list(self.cfg.attributes),
                      held_out.get('attribute_names'))
    self.held_out = held_out['image']
    # A conditional model's conditions: the held-out images' own, and for
    # the fixed prior noise each class in turn.
    self.conditions = (data.conditions.from_example(
        held_out, config.model.num_conditions)
                       if config.model.conditional else None)
    self.pictured = self.held_out[:16]
    self._quality = None
    # Pictures the metrics make (the samples nearest a training image).
    self._pictures = {}
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
    _check_attributes(names, known)
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
                                  slice(0, len(self.pictured))),
                              average=False)
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

  def _sample_quality(self, state, reconstructions: np.ndarray
                      ) -> dict[str, Any]:
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
    chunk = fid_protocol.chunk_size(self.config)
    features = np.concatenate([
        self._quality.extract(self.infer.decode(
            state, codes[i:i + chunk],
            None if conditions is None else conditions[i:i + chunk]))
        for i in range(0, num, chunk)])
    samples = registry.Samples(
        fake=features, real=self._quality.real_features,
        real_statistics=self._quality.real_statistics,
        classify=self._quality.classify, extract=self._quality.extract,
        reconstructions=reconstructions)
    produced = {**self._quality.score(features),
                **self._quality.reconstruction_fid(reconstructions)}
    memorised = self._quality.memorisation(features)
    if memorised is not None:
      produced.update(memorised.record())
      self._pictures['memorisation'] = self._quality.memorisation_picture(
          memorised, lambda rows: self.infer.decode(
              state, codes[rows], None if conditions is None
              else conditions[rows]))
    return {**registry.evaluate('samples', samples, produced),
            'fid_protocol': self._quality.protocol}

  def metrics(self, state, mean: np.ndarray, logvar: np.ndarray
              ) -> dict[str, Any]:
    """Held-out metrics of `state` (posterior of the held-out images given).

    Returns:
      The metrics of `metrics.registry`'s groups 'held_out', 'iwae' (if
      `config.eval.iwae_samples`) and 'samples' (if there is a feature
      network), in its order, and 'fid_protocol' beside the last.
    """
    recon = self.infer.decode(state, mean, self._held_out_conditions(),
                              average=False)
    context = registry.HeldOut(images=self.held_out, reconstructions=recon,
                               mean=mean, logvar=logvar)
    return {
        **registry.evaluate('held_out', context),
        **self._iwae_bound(state),
        **self._sample_quality(state, recon),
    }

  def _iwae_bound(self, state) -> dict[str, float]:
    if self._iwae is None:
      return {}
    rows = slice(0, self.cfg.iwae_examples)
    bounds = self._iwae(state, self.held_out[rows],
                        self._held_out_conditions(rows))
    return registry.evaluate('iwae', registry.Bounds(np.asarray(bounds)))

  def run(self, state, step: int) -> dict[str, float]:
    """Writes pictures and metrics of `state` at `step`.

    Returns:
      The scalar metrics (for checkpoint selection).
    """
    mean, logvar = self.infer.encode(state, self.held_out,
                                     self._held_out_conditions())
    results = self.metrics(state, mean, logvar)
    # Samples, interpolations and walks: the decoder's average where the run
    # keeps one; reconstructions: the decoder the encoder was trained with.
    results['decoders'] = {'samples': ema.decoder_variables(state)[1],
                           'reconstructions': 'decoder'}
    pictures = {**self.pictures(state, mean), **self._pictures}
    self.writer.write_images(step, pictures)
    if self.keep_pictures:
      self.writer.keep_images(step, {k: pictures[k] for k in KEPT_PICTURES
                                     + tuple(self._pictures)})
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
