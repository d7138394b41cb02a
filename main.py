"""Trains or evaluates a VAE-GAN.

    python main.py --config=configs/celeba.py --config.train.batch_size=128

All logic lives in the importable `vaegan_jax` library; this file reads the
flags, sets up multi-host JAX when asked, and calls
`vaegan_jax.run.train.train_and_evaluate`.
"""

import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from vaegan_jax.run import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file (configs/*.py); override fields '
    'with --config.<section>.<field>=value. Needed to train; evaluate, sample '
    'and export read the run\'s own <workdir>/config.json, and take only '
    'overrides of config.eval.* and of where the data is.', lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for checkpoints, metrics and pictures '
    '(default: workdirs/<config name>). A workdir with checkpoints resumes.')
_MODE = flags.DEFINE_enum(
    'mode', 'train', ['train', 'evaluate', 'sample', 'export'],
    'train: train (resuming if the workdir has checkpoints) and evaluate as '
    'it goes; evaluate: pictures and metrics of one checkpoint into '
    '<workdir>/evaluation/step_<N>/; sample: prior samples into '
    '<workdir>/samples/ (--sample_format); export: the networks and the '
    'model config in one file, <workdir>/export/model_step_<N>.msgpack.')
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint', 'latest', "For evaluate, sample and export: 'latest', "
    "'best' or a step number.")
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 64,
                                    'For sample: how many.')
_SEED = flags.DEFINE_integer(
    'seed', 0, 'For sample: the prior noise seed (13: the samples an '
    'evaluation\'s FID scores).')
_SAMPLE_FORMAT = flags.DEFINE_list(
    'sample_format', ['grid'], 'For sample, comma-separated: grid (a PNG '
    'grid and a float .npy), png (a folder of PNG files, for pytorch-fid and '
    'clean-fid), npz (uint8 [N, H, W, 3] under arr_0, for the ADM '
    'evaluator) or all.')
_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'For sample and export: where the files go '
    '(default: <workdir>/samples, <workdir>/export).')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', os.environ.get('VAEGAN_DISTRIBUTED', '0') == '1',
    'Call jax.distributed.initialize() for a multi-host run (also set by '
    'VAEGAN_DISTRIBUTED=1). On Cloud TPU, SLURM, Open MPI and Kubernetes the '
    'processes find each other; elsewhere give the three flags below.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0 (multi-host; or '
    'JAX_COORDINATOR_ADDRESS).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None,
                                      'Number of processes (multi-host).')
_PROCESS_ID = flags.DEFINE_integer('process_id', None,
                                   'This process\'s index (multi-host).')
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
    'heartbeat_timeout_seconds', 30, 'Multi-host: when another process of '
    'the run has been silent this long (killed, or its host down), this one '
    'stops with one line and exit status 69; restart all of them to resume '
    'from the last complete checkpoint. JAX\'s own heartbeat timeout is set '
    'to twice this plus 10 s, as a backstop.', lower_bound=2)


def _workdir() -> str:
  """--workdir, else workdirs/<config name>."""
  if _WORKDIR.value:
    return _WORKDIR.value
  if _CONFIG.value is None:
    sys.exit(f'Error: --mode={_MODE.value} needs --workdir (the run to read) '
             'or --config (whose run is workdirs/<config name>).')
  name = os.path.splitext(os.path.basename(
      config_flags.get_config_filename(flags.FLAGS['config'])))[0]
  return os.path.join('workdirs', name)


def _overrides() -> dict:
  """The config fields given on the command line: 'section.field' -> value."""
  if _CONFIG.value is None:
    return {}
  return dict(config_flags.get_override_values(flags.FLAGS['config']))


def _defaults():
  """The fields a run's config.json may lack (one of an earlier release):
  --config's, else configs/default.py's."""
  if _CONFIG.value is not None:
    return _CONFIG.value
  from configs import default  # pylint: disable=g-import-not-at-top
  return default.get_config()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if _MODE.value == 'train' and _CONFIG.value is None:
    sys.exit('Error: training needs --config=configs/<name>.py (the '
             'configs are in configs/).')
  cli.setup_logging()
  # Imported here, not at the top, so that --help and flag errors do not
  # wait for JAX.
  import jax  # pylint: disable=g-import-not-at-top
  from vaegan_jax import errors  # pylint: disable=g-import-not-at-top
  from vaegan_jax.run import modes  # pylint: disable=g-import-not-at-top
  from vaegan_jax.run import opening  # pylint: disable=g-import-not-at-top
  from vaegan_jax.run import train  # pylint: disable=g-import-not-at-top
  if _DISTRIBUTED.value:
    from vaegan_jax.run import watchdog  # pylint: disable=g-import-not-at-top
    jax.distributed.initialize(
        _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
        heartbeat_timeout_seconds=watchdog.jax_heartbeat_timeout(
            _HEARTBEAT_TIMEOUT.value))
    dog = watchdog.start(_HEARTBEAT_TIMEOUT.value)
  else:
    dog = None
  workdir = _workdir()
  try:
    if _MODE.value == 'train':
      train.train_and_evaluate(_CONFIG.value, workdir)
      return
    # The other modes read the run as it was trained.
    config = opening.run_config(workdir, _overrides(), _defaults())
    if _MODE.value == 'evaluate':
      modes.evaluate_checkpoint(config, workdir, _CHECKPOINT.value)
    elif _MODE.value == 'export':
      modes.export_checkpoint(config, workdir, _CHECKPOINT.value,
                              _OUTPUT_DIR.value)
    else:
      modes.sample_checkpoint(config, workdir, _CHECKPOINT.value,
                              _NUM_SAMPLES.value, _SEED.value,
                              _SAMPLE_FORMAT.value, _OUTPUT_DIR.value)
  except errors.UserError as e:
    sys.exit(f'Error: {e}')
  except jax.errors.JaxRuntimeError as e:
    if dog is None:
      raise
    dog.end_after_failure(e)  # a peer gone: one line, not JAX's abort
  except KeyboardInterrupt:  # outside training, which stops by itself
    sys.exit(f'Stopped by Ctrl-C: --mode={_MODE.value} did not finish.')


if __name__ == '__main__':
  app.run(main, flags_parser=lambda argv: cli.parse_flags(
      cli.config_for_overrides(argv)))
