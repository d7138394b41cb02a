"""A run's workdir: its config.json, read by the trainer and by `load`.

`config.json` holds the configuration of the run's latest start. A run that
starts again with a different configuration moves the earlier file to
`config_history/` (named by the time it was replaced) and logs the fields
that changed.

`RunLock` lets one training run at a time use a workdir.
"""

import datetime
import fcntl
import json
import os
import socket
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from vaegan_jax import errors
from vaegan_jax import files

CONFIG_FILE = 'config.json'
HISTORY_DIR = 'config_history'
LOCK_FILE = 'run.lock'


def _tuples(value: Any) -> Any:
  """JSON lists back to the tuples the configs use."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def flat(tree: dict[str, Any], prefix: str = '') -> dict[str, Any]:
  """{'section.field': value} of a nested dict."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(flat(value, f'{prefix}{key}.'))
    else:
      out[prefix + key] = value
  return out


def as_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The configuration as JSON would store it."""
  return json.loads(config.to_json_best_effort())


def read_config_dict(workdir: str) -> dict[str, Any] | None:
  """The workdir's config.json as a dict, or None if it has none.

  Raises:
    errors.WorkdirError: config.json is not a JSON object.
  """
  path = files.path(workdir) / CONFIG_FILE
  if not path.exists():
    return None
  try:
    config = json.loads(path.read_text())
  except (ValueError, UnicodeDecodeError) as e:
    config = e
  if not isinstance(config, dict):
    raise errors.WorkdirError(
        f'{path} is damaged (not a JSON object: {config}). Earlier versions '
        f'are in {files.path(workdir) / HISTORY_DIR}/; training in the '
        'workdir moves the damaged file there and writes its configuration '
        'anew.')
  return config


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
  return config_from_dict(config)


def config_from_dict(config: dict[str, Any]) -> ml_collections.ConfigDict:
  """A config from its JSON form (`as_dict`), its lists tuples again."""
  return ml_collections.ConfigDict(_tuples(config))


def config_changes(previous: dict[str, Any] | None,
                   config: ml_collections.ConfigDict) -> list[str]:
  """'config.<field>: old -> new' for every field that differs."""
  if previous is None:
    return []
  old, new = flat(previous), flat(as_dict(config))
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
    try:
      if read_config_dict(workdir) == json.loads(text):
        return
    except errors.WorkdirError:
      pass  # damaged: kept in the history, as any earlier version
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')
    # Copied, then replaced: cloud storage has no folders to move into.
    files.write_text(root / HISTORY_DIR / f'config-{stamp}.json', previous)
  files.write_text(path, text)


def check_directory(workdir: str) -> None:
  """Raises WorkdirError if `workdir` exists and is not a directory."""
  path = files.path(workdir)
  if path.exists() and not path.is_dir():
    raise errors.WorkdirError(
        f'--workdir={workdir} is a file, not a directory: give the directory '
        'the run keeps its checkpoints, metrics and pictures in.')


class RunLock:
  """The training run's claim on its workdir, held while it trains.

  `workdir/LOCK_FILE` is locked with `flock`, which the operating system
  releases when the holding process ends however it ends (kill -9
  included), so a dead run never blocks the next one; the file names the
  holder (host, process id, start time) for the message another run gets.
  With several processes, process 0 takes the lock and tells the others
  whether it got it. Workdirs on filesystems without `flock` (object
  stores such as gs://) are not locked.

  Args:
    workdir: the run's directory; created if missing.
  """

  def __init__(self, workdir: str):
    self.workdir = workdir
    self._file = None

  def __enter__(self) -> 'RunLock':
    check_directory(self.workdir)
    problem = self._acquire() if jax.process_index() == 0 else None
    if jax.process_count() > 1:
      failed = multihost_utils.broadcast_one_to_all(
          np.asarray(problem is not None))
      if bool(failed) and problem is None:
        problem = (f'Process 0 could not lock {self.workdir} (its log says '
                   'why); this process stops too.')
    if problem:
      self.release()
      raise errors.WorkdirError(problem)
    return self

  def __exit__(self, *exc) -> bool:
    self.release()
    return False

  def _acquire(self) -> str | None:
    """Takes the lock; returns why not, or None."""
    root = files.path(self.workdir)
    if not files.is_local(self.workdir):
      logging.warning('%s is not on a local filesystem: it is not locked '
                      'against a second run.', self.workdir)
      return None
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    self._file = path.open('a')
    try:
      fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      self._file.close()
      self._file = None
      holder = path.read_text().strip() or 'a process that is starting'
      return (f'Another run is training in {self.workdir}: {holder}. Wait '
              'for it to finish or stop it, or give this run another '
              '--workdir. (--mode=evaluate and --mode=sample may read a '
              'workdir while it trains.)')
    self._file.truncate(0)
    self._file.write(
        f'process {os.getpid()} on host {socket.gethostname()}, started '
        f'{datetime.datetime.now().isoformat(sep=" ", timespec="seconds")}'
        '\n')
    self._file.flush()
    return None

  def release(self) -> None:
    """Gives the lock up (the file stays; its content is stale)."""
    if self._file is not None:
      self._file.close()  # closing the file releases the flock
      self._file = None
