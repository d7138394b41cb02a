"""The training loop."""

import time

import jax
import ml_collections
import numpy as np
from absl import logging

from vaegan_jax import parallel
from vaegan_jax import state as state_lib
from vaegan_jax import step as step_lib


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
  """Trains for `config.train.num_steps` steps on random images.

  Args:
    config: the run's configuration.
    workdir: directory for the run's outputs.
  """
  del workdir
  mesh = parallel.make_mesh()
  parallel.check_batch_size(config.train.batch_size, mesh)
  rng = jax.random.key(config.seed)
  init_rng, step_rng = jax.random.split(rng)
  state = parallel.replicate(
      state_lib.create_train_state(config, init_rng), mesh)
  train_step = parallel.jit_train_step(step_lib.make_train_step(config), mesh)
  data_rng = np.random.default_rng(config.seed)
  shape = (config.train.batch_size, *state_lib.image_shape(config))
  for i in range(config.train.num_steps):
    images = data_rng.uniform(-1, 1, shape).astype(np.float32)
    start = time.time()
    state, metrics = train_step(state, parallel.shard_batch(
        {'image': images}, mesh), step_rng)
    metrics = jax.device_get(metrics)
    logging.info('step %d (%.2fs): %s', i + 1, time.time() - start,
                 {k: round(float(v), 4) for k, v in sorted(metrics.items())})
  return state
