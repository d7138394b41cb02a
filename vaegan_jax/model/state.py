"""The training state: the three networks' parameters side by side."""

import dataclasses
import functools
from typing import Any, Mapping

import flax
import jax
from absl import logging
import jax.numpy as jnp
import ml_collections

from vaegan_jax.model import architectures
from vaegan_jax.model import ema as ema_lib
from vaegan_jax.model import networks
from vaegan_jax.model import optim
from vaegan_jax.model import replay as replay_lib

PyTree = Any


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue, keyed by network.

  Attributes:
    step: number of train steps taken (int32 scalar).
    params: {'encoder', 'decoder', 'discriminator'} -> parameters.
    batch_stats: the same keys -> BatchNorm running statistics.
    opt_state: the same keys -> optax optimizer state.
    replay: with `config.loss.replay_size`, the experience replay buffer
      (`replay.Replay`); else None.
    ema: with `config.model.ema_decay` (or `ema_halflife_images`), the
      decoder's moving average {'params', 'batch_stats'} (`ema`); else None.
  """
  step: jax.Array
  params: dict[str, PyTree]
  batch_stats: dict[str, PyTree]
  opt_state: dict[str, PyTree]
  replay: replay_lib.Replay | None = None
  ema: dict[str, PyTree] | None = None


def image_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  """[H, W, C] of the images `config` trains on."""
  return (config.data.image_size, config.data.image_size,
          config.data.channels)


def condition_shape(config: ml_collections.ConfigDict) -> tuple[int] | None:
  """[K] of the condition vectors of a conditional model, else None."""
  if not config.model.conditional:
    return None
  if config.model.num_conditions is None:
    raise ValueError(
        'config.model.conditional needs config.model.num_conditions (the '
        'training command takes it from the data: 10 digit classes, 40 CelebA '
        'attributes); set it when building a model from Python.')
  return (config.model.num_conditions,)


def _init(config: ml_collections.ConfigDict, rng: jax.Array) -> TrainState:
  nets = networks.build(config)
  txs, _ = optim.build(config)
  image = jnp.zeros((1, *image_shape(config)), jnp.float32)
  z = jnp.zeros((1, architectures.latent_dim(config)), jnp.float32)
  inputs = {'encoder': image, 'decoder': z, 'discriminator': image}
  condition = None
  if condition_shape(config):
    condition = jnp.zeros((1, *condition_shape(config)), jnp.float32)
  keys = dict(zip(networks.NETWORKS, jax.random.split(rng, 3)))
  variables = {net: nets.init(net, keys[net], inputs[net], condition,
                              train=False)
               for net in networks.NETWORKS}
  params = {net: v['params'] for net, v in variables.items()}
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      batch_stats={net: v.get('batch_stats', {})
                   for net, v in variables.items()},
      opt_state={net: txs[net].init(params[net]) for net in networks.NETWORKS},
      replay=replay_lib.init(config.loss.replay_size, image_shape(config),
                             condition_shape(config)),
      ema=(ema_lib.init(params['decoder'], variables['decoder'].get(
          'batch_stats', {})) if ema_lib.enabled(config) else None),
  )


def create_train_state(config: ml_collections.ConfigDict,
                       rng: jax.Array) -> TrainState:
  """Initialises the three networks and their optimizer states.

  Initialisation runs under `jax.jit`: traced once, it takes a fraction of
  the time eager initialisation of the three modules takes.

  Args:
    config: the run's configuration.
    rng: PRNG key for the parameter initialisers.

  Returns:
    A TrainState at step 0.
  """
  return jax.jit(functools.partial(_init, config))(rng)


def abstract_train_state(config: ml_collections.ConfigDict) -> TrainState:
  """Shapes and dtypes of `create_train_state(config, ...)`, computing none."""
  return jax.eval_shape(lambda: _init(config, jax.random.key(0)))


def with_sharding(abstract_state: TrainState, sharding) -> TrainState:
  """`abstract_state` with every leaf placed by `sharding`."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
      abstract_state)


def array_shapes(tree: PyTree) -> dict[str, tuple[int, ...]]:
  """The shape of every array of `tree`, by its path ('params/encoder/...')."""
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {'/'.join(str(getattr(k, 'name', getattr(k, 'key', getattr(
      k, 'idx', k)))) for k in path): tuple(x.shape) for path, x in leaves}


def shape_differences(saved: PyTree, wanted: PyTree, saved_name: str,
                      wanted_name: str) -> list[str]:
  """'path: <saved_name> (shape), <wanted_name> (shape)' for every array
  whose shape differs between two trees (or that only one has)."""
  old, new = array_shapes(saved), array_shapes(wanted)
  return [f'{k}: {saved_name} {old.get(k)}, {wanted_name} {new.get(k)}'
          for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


# Fields a checkpoint may lack although this run has them, and how they
# start then: the decoder's average from the checkpoint's decoder.
STARTED_ON_RESTORE = ('ema',)


def fields_saved(saved: PyTree, abstract_state: PyTree) -> PyTree:
  """What to restore of `abstract_state`: all of it, or, for a checkpoint
  written before a TrainState field existed (`replay`, `ema`) or with its
  option off, the fields it has.

  A field the checkpoint lacks is left None, as this run has it (the option
  it holds is off), or, for `STARTED_ON_RESTORE`, started by
  `restored_state`; `check_compatible` refuses any other difference.
  """
  if not (dataclasses.is_dataclass(abstract_state) and
          isinstance(saved, Mapping)):
    return abstract_state
  fields = [f.name for f in dataclasses.fields(abstract_state)]
  unsaved = [name for name in STARTED_ON_RESTORE
             if saved.get(name) is None
             and getattr(abstract_state, name) is not None]
  if all(name in saved for name in fields) and not unsaved:
    return abstract_state
  return {name: None if name in unsaved else getattr(abstract_state, name)
          for name in fields
          if name in saved or getattr(abstract_state, name) is not None
          and name not in unsaved}


def restored_state(abstract_state: TrainState, restored: Mapping[str, Any],
                   step: int) -> TrainState:
  """The state of the fields `fields_saved` restored, those the checkpoint
  lacks as this run has them: None, or, for `STARTED_ON_RESTORE`, the
  decoder's average started as the restored decoder (which the log says)."""
  state = abstract_state.replace(**restored)
  if abstract_state.ema is None or restored.get('ema') is not None:
    return state
  logging.warning("Checkpoint %d has no average of the decoder "
                  "(config.model.ema_decay): it starts as the checkpoint's "
                  "decoder.", step)
  copy = lambda tree: jax.tree.map(jnp.copy, tree)
  return state.replace(ema=ema_lib.init(copy(state.params['decoder']),
                                        copy(state.batch_stats['decoder'])))
