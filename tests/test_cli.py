"""The command line as a user types it: the log (the project's INFO lines and
everyone's warnings), and the reading commands, which take the run's own
config."""

import logging
import os
import re
import subprocess
import sys

import pytest

from configs import test as test_config
from tests import helpers
from vaegan_jax import errors
from vaegan_jax.run import cli
from vaegan_jax.run import opening
from vaegan_jax.run import progress
from vaegan_jax.run import train
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
  config = test_config.get_config()  # trained here: the modes are the test
  config.model.conditional = True
  config.train.num_steps = 2
  train.train_and_evaluate(config, str(workdir))
  status, out = main_py('--mode=sample', f'--workdir={workdir}',
                        '--num_samples=2', '--config.eval.batch_size=32')
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


# --------------------------------------------------------------------------
# Messages: each error once, a mistyped config in one line, a start-up line,
# and a progress line of the losses the objective trains.
# --------------------------------------------------------------------------


def test_a_mistyped_config_file_is_one_line_naming_the_configs(tmp_path):
  status, out = main_py('--config=configs/mnsit.py', f'--workdir={tmp_path}',
                        timeout=60)
  assert status == 1
  assert out.strip().splitlines() == [
      'Error: --config=configs/mnsit.py: no such file; configs/ has '
      + ', '.join(sorted(n for n in os.listdir(os.path.join(
          helpers.ROOT, 'configs')) if n.endswith('.py')
                         and not n.startswith('_'))) + '.']


@pytest.mark.slow  # one start of main.py, about 10 s
def test_an_error_is_printed_once(tmp_path):
  status, out = main_py('--config=configs/test.py', f'--workdir={tmp_path}',
                        '--config.train.log_every=0')
  assert status == 1
  assert out.count('config.train.log_every=0 must be') == 1, out
  assert out.strip().splitlines()[-1].startswith('Error: '), out


@pytest.mark.slow  # one start of main.py, about 25 s
def test_start_up_line_and_the_vae_objectives_progress_line(tmp_path):
  workdir = tmp_path / 'run'
  status, out = main_py('--config=configs/test.py', f'--workdir={workdir}',
                        '--config.loss.objective=vae',
                        '--config.train.num_steps=2',
                        '--config.train.log_every=1')
  assert status == 0, out
  lines = out.splitlines()
  start = next(i for i, line in enumerate(lines) if 'Training in ' in line)
  assert lines[start].endswith(
      f'Training in {workdir} from step 0 to 2 (a new run); compiling the '
      'train step (a minute or so on a CPU), then the first log line at '
      'step 1.')
  step = next(i for i, line in enumerate(lines) if 'step 1/2 |' in line)
  assert start < step
  shown = dict(re.findall(r'(\S+)=(\S+)', lines[step].split(' | ')[-1]))
  assert sorted(shown) == ['grad_norm/decoder', 'grad_norm/encoder',
                           'loss/kl', 'loss/pixel'], lines[step]


@pytest.mark.parametrize('objective,gan,step,expected', [
    ('vaegan', 'minimax', 1, ['loss/gan_d', 'loss/gan_g', 'loss/kl',
                              'loss/llike']),
    ('vae', 'minimax', 1, ['loss/kl', 'loss/pixel']),
    ('gan', 'wgan_gp', 1, ['loss/gan_d', 'loss/gan_g', 'loss/gp']),
    ('blend', 'minimax', 1, ['loss/gan_d', 'loss/gan_g', 'loss/kl',
                             'loss/pixel']),
    ('vae_then_gan', 'minimax', 10, ['loss/kl', 'loss/pixel']),
    ('vae_then_gan', 'minimax', 11, ['loss/gan_d', 'loss/gan_g']),
])
def test_each_objectives_line_shows_the_losses_it_trains(objective, gan,
                                                         step, expected):
  config = helpers.tiny_config(loss__objective=objective, loss__gan=gan,
                               loss__pretrain_steps=10)
  assert [k for k in progress.shown(config, step)
          if k.startswith('loss/')] == expected


def test_the_objectives_terms_are_their_weight_tables_rows():
  algorithm = pytest.importorskip('vaegan_jax.model.algorithm')
  for gan in ('minimax', 'wgan_gp'):
    hp = algorithm.hyperparameters(helpers.tiny_config(loss__gan=gan))
    for objective, terms in progress.TRAINED_TERMS.items():
      table = algorithm.weights(hp, objective)
      weighed = {t for row in table.values() for t in row}
      gp = {'gp'} if gan == 'wgan_gp' and objective != 'vae' else set()
      assert weighed == set(terms) | gp, objective
      assert {n for n, row in table.items() if row} == set(
          progress.TRAINED_NETWORKS[objective]), objective


def test_a_reading_modes_overrides_need_no_config_flag():
  given = ['main.py', '--mode=evaluate', '--workdir=w',
           '--config.eval.split=test']
  assert cli.config_for_overrides(given) == (
      given[:1] + [f'--config={cli.DEFAULT_CONFIG}'] + given[1:])
  assert os.path.exists(cli.DEFAULT_CONFIG)
  for typed in (
      ['main.py', '--config.train.num_steps=5'],  # training: its own config
      ['main.py', '--mode=train', '--workdir=w', '--config.seed=1'],
      ['main.py', '--mode', 'sample', '--config.eval.split=test'],  # no run
      ['main.py', '--mode=export', '--workdir=w', '--config=c.py',
       '--config.eval.split=test'],
      ['main.py', '--mode=sample', '--workdir=w']):
    assert cli.config_for_overrides(typed) == typed
  assert cli.config_for_overrides(
      ['main.py', '--mode', 'sample', '--workdir', 'w', '--config.eval.x=1']
  )[1] == f'--config={cli.DEFAULT_CONFIG}'
