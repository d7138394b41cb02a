"""Trains or evaluates a VAE-GAN.

    python main.py --config=configs/celeba.py --config.train.batch_size=128

All logic lives in the importable `vaegan_jax` library; this file only reads
flags and calls `vaegan_jax.train.train_and_evaluate`.
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from vaegan_jax import train

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Path to a config file (configs/*.py).', lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for checkpoints, metrics and pictures.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  train.train_and_evaluate(_CONFIG.value, _WORKDIR.value or 'workdirs/run')


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
