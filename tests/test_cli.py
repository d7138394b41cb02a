"""The command-line tools: one-line errors for bad overrides, a quiet log."""

import logging

import pytest

from configs import test as test_config
from vaegan_jax import cli


def _record(level, path):
  return logging.LogRecord('absl', level, path, 1, 'message', None, None)


def test_library_info_is_dropped_and_warnings_kept():
  quiet = cli.QuietLibraries()
  orbax = '/venv/site-packages/orbax/checkpoint/checkpoint_manager.py'
  assert not quiet.filter(_record(logging.INFO, orbax))
  assert not quiet.filter(_record(logging.INFO, '/venv/jax/_src/xla_bridge.py'))
  assert quiet.filter(_record(logging.WARNING, orbax))
  assert quiet.filter(_record(logging.INFO, '/src/vaegan_jax/train.py'))
  assert quiet.filter(_record(logging.INFO, '/src/main.py'))


def test_unknown_field_message_names_the_override():
  with pytest.raises(AttributeError) as error:  # as the flag parser meets it
    test_config.get_config().train.num_stepz  # pylint: disable=pointless-statement
  argv = ['main.py', '--config=configs/mnist.py', '--config.train.num_stepz=3']
  message = cli.unknown_field_message(error.value, argv)
  assert message.startswith('Error: unknown config field in '
                            '--config.train.num_stepz=3')
  assert '\n' not in message
