"""One optax optimizer per network, its learning-rate schedule inside.

Each network's optimizer is an optax chain: weight decay, then RMSProp or
Adam scaling times −lr(step) (`with_learning_rate_at`). `step` is the global
training step, which the train step passes to `update` as an extra
argument: equilibrium gating reverts a skipped network's optimizer state, so
a count kept in that state would lag the global step. The schedule keeps no
state of its own, and the chain has the two states (weight decay's, the
scaling's) that checkpoints of earlier releases hold: orbax restores a
chain only into one of as many states, even empty ones.
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


def with_learning_rate_at(scale: optax.GradientTransformation,
                          schedule: Schedule
                          ) -> optax.GradientTransformationExtraArgs:
  """`scale`'s updates times −schedule(step), `step` an extra argument.

  Args:
    scale: the update direction's scaling (RMSProp, Adam); its state is
      this transformation's state.
    schedule: the learning rate as a function of the global step.

  Returns:
    A transformation whose `update(updates, state, params, *, step)` takes
    the global step (`optax.chain` forwards it).
  """
  scale = optax.with_extra_args_support(scale)

  def update(updates, state, params=None, *, step, **extra_args):
    updates, state = scale.update(updates, state, params, **extra_args)
    lr = schedule(step)
    return jax.tree.map(lambda u: -lr * u, updates), state

  return optax.GradientTransformationExtraArgs(scale.init, update)


def scaling(optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """RMSProp or Adam scaling, as `optim.name` says."""
  if optim.name == 'rmsprop':
    return optax.scale_by_rms(decay=optim.rmsprop_decay, eps=optim.eps)
  if optim.name == 'adam':
    return optax.scale_by_adam(b1=optim.b1, b2=optim.b2, eps=optim.eps)
  raise ValueError(f'Unknown config.optim.name={optim.name!r}; choose one '
                   f'of {OPTIMIZERS}.')


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
          ) -> tuple[dict[str, optax.GradientTransformationExtraArgs],
                     dict[str, Schedule]]:
  """The optimizer and the learning-rate schedule of each network.

  Args:
    config: uses `config.optim`.

  Returns:
    ({network: optimizer, whose update takes `step=` the global step},
    {network: its schedule, for the logged learning rate}) keyed by
    `networks.NETWORKS`.
  """
  optim = config.optim
  schedules = {net: schedule(optim, learning_rate(optim, net))
               for net in networks.NETWORKS}
  optimizers = {net: optax.chain(
      optax.add_decayed_weights(optim.weight_decay, _kernel_mask),
      with_learning_rate_at(scaling(optim), schedules[net]))
                for net in networks.NETWORKS}
  return optimizers, schedules
