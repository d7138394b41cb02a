"""The command line as a user types it: the log (the project's INFO lines and
everyone's warnings), and the reading commands, which take the run's own
config."""

import json
import logging
import subprocess
import sys

import pytest

from tests import helpers
from vaegan_jax import errors
from vaegan_jax.run import cli
from vaegan_jax.run import opening
from vaegan_jax.store import export
from vaegan_jax.store import workdir as workdir_lib


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


# --------------------------------------------------------------------------
# Evaluate, sample and export read the run's own config.
# --------------------------------------------------------------------------


def main_py(*args, timeout=300):
  """Runs main.py with `args`; returns (exit status, stdout + stderr)."""
  proc = subprocess.run([sys.executable, 'main.py', *args], cwd=helpers.ROOT,
                        env=helpers.subprocess_env(), capture_output=True,
                        text=True, timeout=timeout)
  return proc.returncode, proc.stdout + proc.stderr


def _conditional_run(tmp_path):
  workdir = tmp_path / 'run'
  workdir_lib.write_config(str(workdir), helpers.tiny_config(
      model__conditional=True, model__num_conditions=10))
  return workdir


def test_a_read_command_takes_the_runs_config_and_eval_overrides(tmp_path):
  workdir = _conditional_run(tmp_path)
  config = opening.run_config(str(workdir), {
      'eval.batch_size': 16, 'model.conditional': True,
      'model.encoder_widths': (8, 16)})
  assert config.model.conditional and config.model.num_conditions == 10
  assert config.eval.batch_size == 16


def test_a_read_command_refuses_a_model_override_in_one_line(tmp_path):
  workdir = _conditional_run(tmp_path)
  with pytest.raises(errors.ConfigError) as e:
    opening.run_config(str(workdir), {'model.conditional': False,
                                      'eval.batch_size': 16})
  message = str(e.value)
  assert 'config.model.conditional: True -> False' in message
  assert 'eval.batch_size: ' not in message and '\n' not in message


@pytest.mark.slow  # three starts of main.py, about 40 s
def test_sample_and_export_of_a_conditional_run_need_no_overrides(tmp_path):
  workdir = tmp_path / 'run'
  status, out = main_py('--config=configs/test.py', f'--workdir={workdir}',
                        '--config.model.conditional=True',
                        '--config.train.num_steps=2')
  assert status == 0, out
  status, out = main_py('--mode=sample', f'--workdir={workdir}',
                        '--num_samples=2')
  assert status == 0, out
  assert (workdir / 'samples' / 'step_2_seed_0.png').exists()
  status, out = main_py('--mode=export', '--config=configs/test.py',
                        f'--workdir={workdir}')
  assert status == 0, out
  config, variables = export.load(
      str(workdir / 'export' / 'model_step_2.msgpack'))
  assert config.model.conditional and config.model.num_conditions == 10
  assert set(variables) >= {'encoder', 'decoder'}
  status, out = main_py('--mode=export', '--config=configs/test.py',
                        f'--workdir={workdir}',
                        '--config.model.conditional=False')
  assert status == 1
  assert out.strip().splitlines()[-1].startswith('Error: The run in ')
  assert 'config.model.conditional: True -> False' in out
