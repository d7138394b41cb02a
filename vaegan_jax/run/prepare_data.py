"""Prepares a run's data ahead of training, then checks it.

    python -m vaegan_jax.run.prepare_data --config=configs/celeba.py \\
        --config.data.name=folder \\
        --config.data.path=/data/celeba/img_align_celeba

decodes the folder's images once into their uint8 cache (what the first
training run would otherwise do), using every core, and reports unreadable
files. For the other sources it only checks that the data can be read.
Take the same config and overrides as the training command.
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from vaegan_jax.run import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file (configs/*.py); override fields '
    'with --config.<section>.<field>=value.', lock_config=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  # Imported here, not at the top, so that --help and flag errors do not
  # wait for JAX.
  from vaegan_jax import data  # pylint: disable=g-import-not-at-top
  from vaegan_jax import errors  # pylint: disable=g-import-not-at-top
  from vaegan_jax.run import validation  # pylint: disable=g-import-not-at-top
  try:
    validation.validate(_CONFIG.value)
    data.prepare(_CONFIG.value)
  except errors.UserError as e:
    raise SystemExit(f'Error: {e}') from None
  logging.info('The data of %s is ready.', _CONFIG.value.data.name)


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main, flags_parser=cli.parse_flags)
