"""What the command-line tools share: flag parsing with one-line errors, and a
log of the project's INFO lines and everyone's warnings."""

import logging
import os
import re
import sys
import threading

from absl import flags
from absl import logging as absl_logging
from ml_collections import config_flags

from vaegan_jax import errors


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing; a bad flag or a mistyped config field exits with a
  one-line error that names it, not a traceback."""
  try:
    argv = flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f'Error: {e}\nPass --helpfull to see the flags.')
  except (AttributeError, KeyError) as e:
    sys.exit(unknown_field_message(e, argv))
  check_config_file()
  return argv


# What a reading mode's overrides hang on when no --config is given.
DEFAULT_CONFIG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))), 'configs', 'default.py')


def config_for_overrides(argv: list[str]) -> list[str]:
  """`argv` with --config=configs/default.py where a reading mode has
  --config.<field> overrides, a --workdir and no --config.

  `--mode=evaluate --workdir=w --config.eval.split=test` reads the run's
  own config.json; its overrides still need a --config for absl to know
  the flags (configs/default.py's, whose values the run's replace). Training
  and commands without --workdir are left as typed: they need the user's
  own --config.
  """
  args = argv[1:]
  mode = next((a.split('=', 1)[1] for a in args if a.startswith('--mode=')),
              None)
  if mode is None and '--mode' in args[:-1]:
    mode = args[args.index('--mode') + 1]
  has = lambda name: any(a == f'--{name}' or a.startswith(f'--{name}=')
                         for a in args)
  if (mode in (None, 'train') or has('config') or not has('workdir')
      or not any(a.startswith('--config.') for a in args)):
    return argv
  return argv[:1] + [f'--config={DEFAULT_CONFIG}'] + args


def check_config_file() -> None:
  """A --config file that cannot be read exits with one line naming it and
  the configs there are (ml_collections defers the error to the config's
  first use, where it is a traceback)."""
  if 'config' not in flags.FLAGS or not flags.FLAGS['config'].present:
    return
  try:
    flags.FLAGS['config'].value.keys()
  except OSError as e:
    path = config_flags.get_config_filename(flags.FLAGS['config'])
    folder = os.path.dirname(path) or '.'
    found = sorted(n for n in os.listdir(folder) if n.endswith('.py')
                   and not n.startswith('_')) if os.path.isdir(folder) else []
    there = (f'; {folder}/ has {", ".join(found)}' if found else '')
    reason = ('no such file' if not os.path.exists(path)
              else errors.first_line(e))
    sys.exit(f'Error: --config={path}: {reason}{there}.')


def unknown_field_message(error: Exception, argv: list[str]) -> str:
  """The error for a config override naming no field, with the override."""
  message = str(error).strip('\'"').replace('\\n', ' ').replace("\\'", "'")
  key = re.search(r"'(\w+)'", message)
  arg = next((a for a in argv if key and a.startswith('--config.')
              and re.search(rf'\.{key.group(1)}\b', a.split('=')[0])), '')
  return f'Error: unknown config field in {arg or "an override"}: {message}'


class QuietLibraries(logging.Filter):
  """Drops the libraries' INFO records (orbax's checkpoint bookkeeping, JAX's
  backend probing) and their records carrying a traceback (orbax logs one
  per background thread when a save fails, before the error reaches the
  trainer, which reports it in one line); their other warnings and errors
  pass."""

  def filter(self, record: logging.LogRecord) -> bool:
    ours = ('vaegan_jax' in record.pathname
            or os.path.basename(record.pathname) == 'main.py')
    return ours or (record.levelno > logging.INFO and not record.exc_info)


def setup_logging() -> None:
  """INFO verbosity, without the libraries' INFO lines and tracebacks
  unless --verbosity was given on the command line."""
  absl_logging.set_verbosity(absl_logging.INFO)
  if not flags.FLAGS['verbosity'].present:
    absl_logging.get_absl_handler().addFilter(QuietLibraries())
    quiet_storage_tracebacks()


def quiet_storage_tracebacks() -> None:
  """A refusal of the filesystem (a full disk) met outside the main thread
  gets one line, not a traceback: in a library's thread (tensorboardX's
  event writer), a warning; in a flush at exit (after the command's own
  one-line error) or a callback of a failed save, nothing. Other
  exceptions keep their tracebacks."""
  thread_hook, unraisable_hook = threading.excepthook, sys.unraisablehook

  def on_thread_exception(args):
    reason = errors.storage_reason(args.exc_value)
    if reason is None:
      thread_hook(args)
    else:
      absl_logging.warning('A write in thread %s failed: %s (%s).',
                           args.thread.name if args.thread else '?', reason,
                           args.exc_value)

  def on_unraisable(unraisable):
    error = unraisable.exc_value
    follow_on = error is not None and (
        errors.storage_reason(error) is not None
        # TensorStore completing the futures of a failed orbax save after
        # orbax closed their event loop.
        or (isinstance(error, RuntimeError)
            and str(error) == 'Event loop is closed'))
    if not follow_on:
      unraisable_hook(unraisable)

  threading.excepthook = on_thread_exception
  sys.unraisablehook = on_unraisable
