"""An exponential moving average of the decoder (StyleGAN's G_ema).

    θ_ema ← β·θ_ema + (1 − β)·θ_Dec          after every train step

The average's samples are smoother than the decoder's own (Karras et al.
2018, 2020; Yazıcı et al. 2019). β is `config.model.ema_decay`, or, with
`config.model.ema_halflife_images`, StyleGAN2-ADA's half-life in images:

    β = 0.5 ** (batch_size / max(halflife, 1e-8))
    halflife = min(halflife, images_seen · ema_rampup)   with a ramp-up

so that early in training, while the decoder changes fast, the average
forgets fast too (at step 0 it is the decoder). The decoder's BatchNorm
statistics are averaged by the same rule, so the average's statistics
follow its parameters. The average lives in the train state
(`TrainState.ema`: {'params', 'batch_stats'}, or None when off).
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

PyTree = Any
COLLECTIONS = ('params', 'batch_stats')


def enabled(config: ml_collections.ConfigDict) -> bool:
  """Whether `config` keeps an average of the decoder."""
  model = config.model
  return bool(model.ema_decay) or bool(model.ema_halflife_images)


def decay(config: ml_collections.ConfigDict,
          step: jax.Array | int) -> jax.Array:
  """β of the update after train step `step` (float32 scalar).

  Args:
    config: uses `config.model.ema_*` and `config.train.batch_size`.
    step: the global step before the update (images seen: step ·
      batch_size).

  Returns:
    `ema_decay`, or the decay of `ema_halflife_images` (ramped up).
  """
  model = config.model
  if not model.ema_halflife_images:
    return jnp.asarray(model.ema_decay, jnp.float32)
  batch = config.train.batch_size
  halflife = jnp.asarray(model.ema_halflife_images, jnp.float32)
  if model.ema_rampup:
    seen = jnp.asarray(step, jnp.float32) * batch
    halflife = jnp.minimum(halflife, seen * model.ema_rampup)
  return 0.5 ** (batch / jnp.maximum(halflife, 1e-8))


def init(params: PyTree, batch_stats: PyTree) -> dict[str, PyTree]:
  """An average starting at the decoder's parameters and statistics."""
  return {'params': params, 'batch_stats': batch_stats}


def update(ema: dict[str, PyTree], params: PyTree, batch_stats: PyTree,
           beta: jax.Array) -> dict[str, PyTree]:
  """The average moved towards the decoder: β·ema + (1 − β)·decoder.

  Args:
    ema: {'params', 'batch_stats'} of the average.
    params: the decoder's parameters after this step's update.
    batch_stats: the decoder's BatchNorm statistics after this step.
    beta: the decay (`decay`).

  Returns:
    The new average, in the average's dtypes.
  """
  new = init(params, batch_stats)
  return jax.tree.map(
      lambda old, x: (x + beta * (old - x)).astype(old.dtype), ema, new)


def decoder_variables(state: Any, use_ema: bool = True
                      ) -> tuple[dict[str, PyTree], str]:
  """The decoder's variables to sample with, and which they are.

  Args:
    state: a TrainState (or anything with params, batch_stats and ema).
    use_ema: take the average where the state has one.

  Returns:
    ({'params', 'batch_stats'}, 'ema' or 'decoder').
  """
  average = getattr(state, 'ema', None)
  if use_ema and average is not None:
    return dict(average), 'ema'
  return ({'params': state.params['decoder'],
           'batch_stats': state.batch_stats['decoder']}, 'decoder')
