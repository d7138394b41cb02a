"""A run's workdir: its config.json, read by the trainer and by `load`.

`config.json` holds the configuration of the run's latest start. A run that
starts again with a different configuration moves the earlier file to
`config_history/` (named by the time it was replaced) and logs the fields
that changed.
"""

import datetime
import json
from typing import Any

import ml_collections

from vaegan_jax import errors
from vaegan_jax import files

CONFIG_FILE = 'config.json'
HISTORY_DIR = 'config_history'


def _tuples(value: Any) -> Any:
  """JSON lists back to the tuples the configs use."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def _flat(tree: dict[str, Any], prefix: str = '') -> dict[str, Any]:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f'{prefix}{key}.'))
    else:
      out[prefix + key] = value
  return out


def as_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The configuration as JSON would store it."""
  return json.loads(config.to_json_best_effort())


def read_config_dict(workdir: str) -> dict[str, Any] | None:
  """The workdir's config.json as a dict, or None if it has none."""
  path = files.path(workdir) / CONFIG_FILE
  if not path.exists():
    return None
  return json.loads(path.read_text())


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """The configuration the run in `workdir` was started with.

  Raises:
    errors.WorkdirError: `workdir` holds no config.json.
  """
  config = read_config_dict(workdir)
  if config is None:
    raise errors.WorkdirError(
        f'{files.path(workdir) / CONFIG_FILE} does not exist: {workdir} is '
        'not the workdir of a vaegan_jax run.')
  return ml_collections.ConfigDict(_tuples(config))


def config_changes(previous: dict[str, Any] | None,
                   config: ml_collections.ConfigDict) -> list[str]:
  """'config.<field>: old -> new' for every field that differs."""
  if previous is None:
    return []
  old, new = _flat(previous), _flat(as_dict(config))
  return [f'config.{k}: {old.get(k)!r} -> {new.get(k)!r}'
          for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Writes config.json, moving a different earlier one to config_history/.

  Args:
    workdir: the run's directory (created if missing), local or on cloud
      storage.
    config: the configuration the run starts with.
  """
  root = files.path(workdir)
  root.mkdir(parents=True, exist_ok=True)
  path = root / CONFIG_FILE
  text = config.to_json_best_effort(indent=2, sort_keys=True)
  if path.exists():
    previous = path.read_text()
    if json.loads(previous) == json.loads(text):
      return
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')
    # Copied, then replaced: cloud storage has no folders to move into.
    files.write_text(root / HISTORY_DIR / f'config-{stamp}.json', previous)
  files.write_text(path, text)
