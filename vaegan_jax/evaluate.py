"""Evaluation during training: pictures and held-out metrics."""

import functools
from typing import Any

import jax
import ml_collections
import numpy as np

from vaegan_jax import images
from vaegan_jax import models
from vaegan_jax import parallel
from vaegan_jax import writers


class Evaluator:
  """Writes pictures and returns metrics every `config.eval.every` steps.

  Args:
    config: the run's configuration.
    workdir: the run's directory.
    mesh: the device mesh.
    writer: where pictures and metrics go.
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str,
               mesh: Any, writer: writers.MetricWriter):
    self.config = config
    self.workdir = workdir
    self.writer = writer
    self.nets = models.build(config)
    noise_rng = jax.random.fold_in(jax.random.key(config.seed), 2)
    self.prior_noise = parallel.replicate(jax.random.normal(
        noise_rng, (64, models.latent_dim(config))), mesh)
    self._decode = jax.jit(functools.partial(self.nets.decoder.apply,
                                             train=False))

  def due(self, step: int) -> bool:
    return self.config.eval.every > 0 and step % self.config.eval.every == 0

  def run(self, state, step: int) -> dict[str, float]:
    """Writes the pictures of `state` at `step`; returns eval metrics."""
    variables = {'params': state.params['decoder'],
                 'batch_stats': state.batch_stats['decoder']}
    samples = np.asarray(jax.device_get(
        self._decode(variables, self.prior_noise)))
    self.writer.write_images(step, {
        'samples_4x4': images.grid(samples[:16], 4),
        'samples_8x8': images.grid(samples, 8),
    })
    return {}
