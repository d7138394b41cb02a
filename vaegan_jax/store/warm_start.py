"""Warm starts: a new run that begins from another run's networks.

`config.init_from` names a run's workdir (its latest checkpoint) or one of
its checkpoints (`<workdir>/checkpoints/<step>`); `config.init_networks`
names which networks take that run's parameters and BatchNorm statistics
(e.g. ('decoder',): pretrain a VAE, then train the GAN from its decoder);
the decoder brings its moving average where both runs keep one (a run
without one gives its decoder as the average's start).
Everything else of the new run starts afresh: the other networks, every
optimizer state, the step and the data order. A workdir with checkpoints of
its own resumes from them instead (`train._initial_state`).
"""

from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
from absl import logging
from etils import epath

from vaegan_jax import errors
from vaegan_jax.model import ema
from vaegan_jax.store import restore
from vaegan_jax.model import state as state_lib
from vaegan_jax.store import workdir as workdir_lib

# Config fields that decide the networks' array shapes.
_SHAPE_FIELDS = ('model.', 'data.image_size', 'data.channels')


def source(path: str) -> tuple[str, str | int]:
  """The workdir and checkpoint `config.init_from` names.

  Args:
    path: a run's workdir, or `<workdir>/checkpoints/<step>`.

  Returns:
    (workdir, 'latest' or the step).

  Raises:
    errors.WorkdirError: `path` is neither.
  """
  given = epath.Path(path)
  if given.name.isdigit() and given.parent.name == 'checkpoints':
    workdir, checkpoint = given.parent.parent, int(given.name)
  else:
    workdir, checkpoint = given, 'latest'
  if not (workdir / workdir_lib.CONFIG_FILE).exists():
    raise errors.WorkdirError(
        f'config.init_from={path!r} is neither the workdir of a run (with '
        f'{workdir_lib.CONFIG_FILE} and checkpoints/) nor one of its '
        'checkpoints (<workdir>/checkpoints/<step>).')
  return str(workdir), checkpoint


def _shape_differences(old: state_lib.TrainState, new: state_lib.TrainState,
                       networks: Sequence[str]) -> list[str]:
  """'array: init_from (shape), this run (shape)' for each that differs."""
  pick = lambda s: {f'{net}/{c}': getattr(s, c)[net] for net in networks
                    for c in ('params', 'batch_stats')}
  return state_lib.shape_differences(pick(old), pick(new), 'init_from',
                                     'this run')


def initialise(state: state_lib.TrainState, config: ml_collections.ConfigDict,
               mesh) -> state_lib.TrainState:
  """`state` with `config.init_networks` taken from `config.init_from`.

  Args:
    state: a fresh state of this run (step 0), placed on `mesh`.
    config: this run's configuration; `config.init_from` is set.
    mesh: the devices.

  Returns:
    The state with those networks' parameters and BatchNorm statistics
    replaced; optimizer states and the step as they were.

  Raises:
    errors.WorkdirError: `config.init_from` is not a run or checkpoint.
    errors.CheckpointMismatch: the networks' arrays differ in shape, with
      the arrays and the config fields that differ.
  """
  workdir, checkpoint = source(config.init_from)
  source_config = workdir_lib.read_config(workdir)
  networks = tuple(config.init_networks)
  old, step = restore.restore_run(source_config, workdir, checkpoint, mesh)
  diffs = _shape_differences(old, state, networks)
  if diffs:
    fields = [c for c in workdir_lib.config_changes(
        workdir_lib.as_dict(source_config), config)
              if c.startswith(tuple('config.' + f for f in _SHAPE_FIELDS))]
    shown = '\n  '.join(diffs[:8])
    more = f'\n  ... and {len(diffs) - 8} more' if len(diffs) > 8 else ''
    changed = ('Config fields that differ (init_from -> this run):\n  '
               + '\n  '.join(fields) + '\n') if fields else ''
    raise errors.CheckpointMismatch(
        f'config.init_from={config.init_from!r} (step {step}) does not fit '
        f'this run\'s {", ".join(networks)} ({len(diffs)} arrays differ):\n'
        f'  {shown}{more}\n{changed}Use the same network fields as that '
        'run, or list only the networks that fit in config.init_networks.')
  params, batch_stats = dict(state.params), dict(state.batch_stats)
  for net in networks:
    params[net], batch_stats[net] = old.params[net], old.batch_stats[net]
  average = state.ema  # the decoder's: init_from's, or its decoder's copy
  if average is not None and 'decoder' in networks:
    average = old.ema if old.ema is not None else ema.init(
        *jax.tree.map(jnp.copy, (old.params['decoder'],
                                 old.batch_stats['decoder'])))
  count = sum(x.size for net in networks
              for x in jax.tree.leaves(old.params[net]))
  logging.info('Initialised the %s from %s, step %d (%d parameters, and '
               'BatchNorm statistics); optimizer states start afresh.',
               ', '.join(networks), workdir, step, count)
  return state.replace(params=params, batch_stats=batch_stats, ema=average)
