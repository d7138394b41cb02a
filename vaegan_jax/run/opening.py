"""How every command opens a run: its config, checked; its devices; its state.

`prepare` is the set-up the four commands share (validate the config, find
the files it names, fill in the architecture's widths and the number of
conditions, make the mesh); `open_run` adds the restore of one checkpoint
for the commands that read a run (evaluate, sample, export). Training
restores inside its workdir lock with its own checkpointer (`train`).

The reading commands use the run's own configuration, the config.json in
its workdir (`run_config`), so a run started with overrides is read as it
was trained. Only `READ_OVERRIDES` may differ from it on their command
line: the evaluation's settings and where the data is.
"""

from typing import Any, Mapping, NamedTuple

import ml_collections
from absl import logging
from jax.sharding import Mesh

from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax import parallel
from vaegan_jax.metrics import quality
from vaegan_jax.model import architectures
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import validation
from vaegan_jax.store import restore
from vaegan_jax.store import workdir as workdir_lib

COMMANDS = ('train', 'evaluate', 'sample', 'export')
# Fields (a prefix ending in '.' covers a section) that a reading command may
# set to another value than the run had: they change neither the networks
# nor what the checkpoint holds.
READ_OVERRIDES = ('eval.', 'data.tfds_data_dir', 'data.path',
                  'data.attributes_file', 'data.partition_file',
                  'data.cache_dir', 'data.prepare_threads',
                  'data.num_threads', 'data.prefetch', 'data.num_workers')


class OpenRun(NamedTuple):
  """A run opened by a reading command."""
  config: ml_collections.ConfigDict
  mesh: Mesh
  state: state_lib.TrainState
  step: int


def prepare(config: ml_collections.ConfigDict, command: str
            ) -> tuple[ml_collections.ConfigDict, Mesh]:
  """Checks `config` for `command` and completes it; makes the mesh.

  Args:
    config: the configuration.
    command: one of `COMMANDS`; train also checks its data, train and
      evaluate the feature files an evaluation reads.

  Returns:
    (config with the architecture's widths and the number of conditions
    filled in, mesh of all devices).
  """
  validation.validate(config)
  if command == 'train':
    data.check(config)
  if command in ('train', 'evaluate'):
    quality.check_files(config)
  config = data.with_conditions(architectures.with_architecture(config))
  return config, parallel.make_mesh()


def open_run(config: ml_collections.ConfigDict | None, workdir: str,
             command: str, checkpoint: str | int = 'latest') -> OpenRun:
  """Opens one checkpoint of the run in `workdir` for a reading command.

  Args:
    config: the run's configuration (None: its config.json).
    workdir: the run's directory.
    command: 'evaluate', 'sample' or 'export'.
    checkpoint: 'latest', 'best' or a step.

  Returns:
    The completed config, the mesh, the restored state and its step.
  """
  if config is None:
    config = run_config(workdir)
  config, mesh = prepare(config, command)
  state, step = restore.restore_run(config, workdir, checkpoint, mesh)
  return OpenRun(config, mesh, state, step)


def run_config(workdir: str, overrides: Mapping[str, Any] | None = None,
               defaults: ml_collections.ConfigDict | None = None
               ) -> ml_collections.ConfigDict:
  """The run's own configuration (its config.json), with `overrides`.

  Args:
    workdir: the run's directory.
    overrides: 'section.field' -> value, from the command line; those
      outside `READ_OVERRIDES` must equal the run's values.
    defaults: a configuration whose fields fill those the run's config.json
      lacks (a run of a release before the fields were added).

  Returns:
    The configuration.

  Raises:
    errors.WorkdirError: `workdir` is no run's directory.
    errors.ConfigError: an override outside `READ_OVERRIDES` differs from
      the run's value.
  """
  if not files.path(workdir).is_dir():
    raise errors.WorkdirError(
        f'{workdir} is not a directory: give the --workdir of a run.')
  config = workdir_lib.read_config(workdir)
  if defaults is not None:
    config = _filled(config, defaults)
  changes, refused = [], []
  for key, value in (overrides or {}).items():
    old = _get(config, key)
    if _same(old, value):
      continue
    change = f'config.{key}: {old!r} -> {value!r}'
    allowed = any(key.startswith(p) if p.endswith('.') else key == p
                  for p in READ_OVERRIDES)
    (changes if allowed else refused).append(change)
    if allowed:
      _set(config, key, value)
  if refused:
    raise errors.ConfigError(
        f'The run in {workdir} was trained with other values (its '
        f'config.json): {"; ".join(refused)}. Evaluate, sample and export '
        'read the run\'s own config: drop these overrides (only config.eval.*'
        ' and where the data is may differ).')
  if changes:
    logging.info('The run\'s config.json with: %s', '; '.join(changes))
  return config


def _filled(config: ml_collections.ConfigDict,
            defaults: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with the fields only `defaults` has, logged."""
  run, base = workdir_lib.as_dict(config), workdir_lib.as_dict(defaults)
  added = sorted(set(workdir_lib.flat(base)) - set(workdir_lib.flat(run)))
  if not added:
    return config
  logging.info('The run\'s config.json predates %d fields; they take the '
               'defaults: %s.', len(added), ', '.join(
                   f'config.{k}={workdir_lib.flat(base)[k]!r}'
                   for k in added))
  return workdir_lib.config_from_dict(_merged(base, run))


def _merged(base: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
  out = dict(base)
  for key, value in run.items():
    both = isinstance(value, dict) and isinstance(base.get(key), dict)
    out[key] = _merged(base[key], value) if both else value
  return out


def _same(old: Any, new: Any) -> bool:
  if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
    return list(old) == list(new)
  return old == new


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
  node = config
  for part in key.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return None
    node = node[part]
  return node


def _set(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
  *sections, field = key.split('.')
  node = config
  for part in sections:
    node = node[part]
  with node.ignore_type():
    node[field] = value
