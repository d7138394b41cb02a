"""The command-line tools' log: the project's INFO lines, everyone's warnings."""

import logging
import os

from absl import flags
from absl import logging as absl_logging


class QuietLibraries(logging.Filter):
  """Drops the libraries' INFO records (orbax's checkpoint bookkeeping, JAX's
  backend probing); their warnings and errors pass."""

  def filter(self, record: logging.LogRecord) -> bool:
    return (record.levelno > logging.INFO
            or 'vaegan_jax' in record.pathname
            or os.path.basename(record.pathname) == 'main.py')


def setup() -> None:
  """INFO verbosity, without the libraries' INFO lines unless --verbosity
  was given on the command line."""
  absl_logging.set_verbosity(absl_logging.INFO)
  if not flags.FLAGS['verbosity'].present:
    absl_logging.get_absl_handler().addFilter(QuietLibraries())
