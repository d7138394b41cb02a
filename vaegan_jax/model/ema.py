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

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

PyTree = Any
COLLECTIONS = ('params', 'batch_stats')


def enabled(config: ml_collections.ConfigDict) -> bool:
  """Whether `config` keeps an average of the decoder."""
  model = config.model  # a run's config.json from before the average: off
  return bool(model.get('ema_decay')) or bool(model.get('ema_halflife_images'))


def schedule(config: ml_collections.ConfigDict
             ) -> Callable[[jax.Array | int], jax.Array]:
  """β as a function of the step, from `config` read once.

  Args:
    config: uses `config.model.ema_*` and `config.train.batch_size`.

  Returns:
    step -> β (float32) of the update after train step `step` (images
    seen: step · batch_size): `ema_decay`, or the decay of
    `ema_halflife_images` (ramped up).
  """
  model = config.model
  constant, halflife = model.get('ema_decay'), model.get('ema_halflife_images')
  rampup, batch = model.get('ema_rampup'), config.train.batch_size

  def beta(step):
    if not halflife:
      return jnp.asarray(constant, jnp.float32)
    life = jnp.asarray(halflife, jnp.float32)
    if rampup:
      life = jnp.minimum(life, jnp.asarray(step, jnp.float32) * batch * rampup)
    return 0.5 ** (batch / jnp.maximum(life, 1e-8))

  return beta


def decay(config: ml_collections.ConfigDict,
          step: jax.Array | int) -> jax.Array:
  """β of the update after train step `step` (`schedule`)."""
  return schedule(config)(step)


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
