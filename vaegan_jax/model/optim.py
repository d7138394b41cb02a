"""One optax optimizer and one learning-rate schedule per network.

The optax transformation gives the update direction (weight decay, then
RMSProp or Adam scaling); the train step multiplies it by −lr(step), where
step is the global training step. Keeping the rate out of the optimizer's
own counter keeps the schedule on the global step even when equilibrium
gating skips a network's update.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from vaegan_jax.model import networks

Schedule = Callable[[jax.Array], jax.Array]

OPTIMIZERS = ('rmsprop', 'adam')
SCHEDULES = ('constant', 'larsen', 'exponential')


def _kernel_mask(params):
  """Weight decay applies to kernels only, as in the original."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


def transform(optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The update direction of `optim.name`, before the learning rate."""
  if optim.name == 'rmsprop':
    scale = optax.scale_by_rms(decay=optim.rmsprop_decay, eps=optim.eps)
  elif optim.name == 'adam':
    scale = optax.scale_by_adam(b1=optim.b1, b2=optim.b2, eps=optim.eps)
  else:
    raise ValueError(f'Unknown config.optim.name={optim.name!r}; choose one '
                     f'of {OPTIMIZERS}.')
  return optax.chain(optax.add_decayed_weights(optim.weight_decay,
                                               _kernel_mask), scale)


def learning_rate(optim: ml_collections.ConfigDict, network: str) -> float:
  """The base learning rate of `network`: its override or `optim.lr`."""
  override = optim[network].lr
  return optim.lr if override is None else override


def schedule(optim: ml_collections.ConfigDict, base_lr: float) -> Schedule:
  """Learning rate as a function of the global step.

  'larsen' is the original's annealing, stepped once per epoch of
  `steps_per_epoch` batches: lr0 − (epoch / decay_epochs)^decay_power ·
  (lr0 − lr_end), held at lr_end afterwards. 'exponential' multiplies the
  rate by `decay_rate` every epoch, down to lr_end.
  """
  if optim.schedule == 'constant':
    return lambda step: jnp.asarray(base_lr, jnp.float32)
  epoch = lambda step: jnp.floor_divide(step, optim.steps_per_epoch)
  if optim.schedule == 'larsen':
    def larsen(step):
      frac = jnp.minimum(epoch(step) / optim.decay_epochs, 1.0)
      return base_lr - frac ** optim.decay_power * (base_lr - optim.lr_end)
    return larsen
  if optim.schedule == 'exponential':
    def exponential(step):
      lr = base_lr * optim.decay_rate ** epoch(step).astype(jnp.float32)
      return jnp.maximum(lr, optim.lr_end)
    return exponential
  raise ValueError(f'Unknown config.optim.schedule={optim.schedule!r}; '
                   f'choose one of {SCHEDULES}.')


def build(config: ml_collections.ConfigDict
          ) -> tuple[dict[str, optax.GradientTransformation],
                     dict[str, Schedule]]:
  """The optimizer and the learning-rate schedule of each network.

  Args:
    config: uses `config.optim`.

  Returns:
    ({network: transformation}, {network: schedule}) keyed by
    `networks.NETWORKS`.
  """
  tx = transform(config.optim)
  return ({net: tx for net in networks.NETWORKS},
          {net: schedule(config.optim, learning_rate(config.optim, net))
           for net in networks.NETWORKS})
