"""The command-line tools' log: the project's INFO lines and everyone's
warnings."""

import logging

from vaegan_jax.run import cli


def _record(level, path):
  return logging.LogRecord('absl', level, path, 1, 'message', None, None)


def test_library_info_is_dropped_and_warnings_kept():
  quiet = cli.QuietLibraries()
  orbax = '/venv/site-packages/orbax/checkpoint/checkpoint_manager.py'
  assert not quiet.filter(_record(logging.INFO, orbax))
  assert not quiet.filter(_record(logging.INFO, '/venv/jax/_src/xla_bridge.py'))
  assert quiet.filter(_record(logging.WARNING, orbax))
  assert quiet.filter(_record(logging.INFO, '/src/vaegan_jax/run/train.py'))
  assert quiet.filter(_record(logging.INFO, '/src/main.py'))
