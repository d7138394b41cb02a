"""Experience replay: past generated images shown to the discriminator.

A remedy for mode collapse (`config.loss.replay_size`, off by default): the
buffer keeps the last `replay_size` prior samples, and each step the
discriminator judges `replay_fraction` of a batch of them beside the fresh
ones, so it keeps punishing modes the decoder has left; the decoder's GAN
term sees only fresh samples. The buffer lives in the train state
(`TrainState.replay`), so checkpoints keep it.
"""

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Replay:
  """A ring buffer of past generated images.

  A pytree whose children are `images`, `conditions` (only when present)
  and `count`: the arrays and the paths a checkpoint holds are those of the
  dict {'images', ['conditions',] 'count'} that releases before this class
  saved, so their checkpoints restore into it.

  Attributes:
    images: [N, H, W, C] past generated images.
    conditions: [N, K] their conditions (conditional models), else None.
    count: images written so far (int32 scalar); row count % N is next.
  """
  images: jax.Array
  conditions: jax.Array | None
  count: jax.Array

  def replace(self, **fields) -> 'Replay':
    """A copy with `fields` replaced."""
    return dataclasses.replace(self, **fields)


def _keyed_children(replay: Replay):
  names = ('images', 'count') if replay.conditions is None else (
      'images', 'conditions', 'count')
  return [(jax.tree_util.GetAttrKey(n), getattr(replay, n))
          for n in names], names


def _children(replay: Replay):
  keyed, names = _keyed_children(replay)
  return [child for _, child in keyed], names


def _from_children(names, children) -> Replay:
  return Replay(**{'conditions': None, **dict(zip(names, children))})


jax.tree_util.register_pytree_with_keys(Replay, _keyed_children,
                                        _from_children, _children)


def init(size: int, image_shape: tuple[int, ...],
         condition_shape: tuple[int, ...] | None) -> Replay | None:
  """An empty buffer of `size` images, or None for size 0 (no replay)."""
  if not size:
    return None
  conditions = (jnp.zeros((size, *condition_shape), jnp.float32)
                if condition_shape else None)
  return Replay(images=jnp.zeros((size, *image_shape), jnp.float32),
                conditions=conditions, count=jnp.zeros((), jnp.int32))


def sample(replay: Replay, fresh: jax.Array, cond: jax.Array | None,
           fraction: float, rng: jax.Array
           ) -> tuple[jax.Array, jax.Array | None]:
  """`fraction` of a batch drawn from the replay buffer; this step's own
  samples (constants) while the buffer is still empty."""
  k = max(1, int(round(fraction * fresh.shape[0])))
  filled = jnp.minimum(replay.count, replay.images.shape[0])
  rows = jax.random.randint(rng, (k,), 0, jnp.maximum(filled, 1))
  empty = filled == 0
  images = jnp.where(empty, fresh[:k], replay.images[rows])
  if cond is None:
    return images, None
  return images, jnp.where(empty, cond[:k], replay.conditions[rows])


def add(replay: Replay, fresh: jax.Array, cond: jax.Array | None) -> Replay:
  """The buffer with this step's samples written over its oldest ones."""
  size = replay.images.shape[0]
  m = min(size, fresh.shape[0])
  rows = (replay.count + jnp.arange(m)) % size
  new = replay.replace(images=replay.images.at[rows].set(fresh[:m]),
                       count=replay.count + m)
  if cond is not None:
    new = new.replace(conditions=replay.conditions.at[rows].set(cond[:m]))
  return new
