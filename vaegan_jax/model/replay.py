"""Experience replay: past generated images shown to the discriminator.

A remedy for mode collapse (`config.loss.replay_size`, off by default): the
buffer keeps the last `replay_size` prior samples, and each step the
discriminator judges `replay_fraction` of a batch of them beside the fresh
ones, so it keeps punishing modes the decoder has left; the decoder's GAN
term sees only fresh samples. The buffer lives in the train state
(`TrainState.replay`), so checkpoints keep it.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

PyTree = Any


def init(config: ml_collections.ConfigDict, image_shape: tuple[int, ...],
         condition_shape: tuple[int, ...] | None) -> PyTree:
  """An empty buffer for `config`, or None without replay."""
  size = config.loss.replay_size
  if not size:
    return None
  buffer = {'images': jnp.zeros((size, *image_shape), jnp.float32),
            'count': jnp.zeros((), jnp.int32)}
  if condition_shape:
    buffer['conditions'] = jnp.zeros((size, *condition_shape), jnp.float32)
  return buffer


def sample(replay: PyTree, fresh: jax.Array, cond: jax.Array | None,
           fraction: float, rng: jax.Array
           ) -> tuple[jax.Array, jax.Array | None]:
  """`fraction` of a batch drawn from the replay buffer; this step's own
  samples (constants) while the buffer is still empty."""
  k = max(1, int(round(fraction * fresh.shape[0])))
  filled = jnp.minimum(replay['count'], replay['images'].shape[0])
  rows = jax.random.randint(rng, (k,), 0, jnp.maximum(filled, 1))
  empty = filled == 0
  images = jnp.where(empty, fresh[:k], replay['images'][rows])
  if cond is None:
    return images, None
  return images, jnp.where(empty, cond[:k], replay['conditions'][rows])


def add(replay: PyTree, fresh: jax.Array, cond: jax.Array | None) -> PyTree:
  """The buffer with this step's samples written over its oldest ones."""
  size = replay['images'].shape[0]
  m = min(size, fresh.shape[0])
  rows = (replay['count'] + jnp.arange(m)) % size
  new = dict(replay, images=replay['images'].at[rows].set(fresh[:m]),
             count=replay['count'] + m)
  if cond is not None:
    new['conditions'] = replay['conditions'].at[rows].set(cond[:m])
  return new
