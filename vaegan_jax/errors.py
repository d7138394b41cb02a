"""Errors that mean a command cannot go on as asked, with messages for users.

The command-line tools print these as one line, without a traceback, and
exit with status 1; any other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
  """Bad input or a state of the workdir the user can fix; the message says
  what was wrong and what to do."""


class ConfigError(UserError, ValueError):
  """A config field has a value the run cannot use."""


class DataError(UserError, ValueError):
  """The data cannot be read as configured."""


class CheckpointMismatch(UserError, ValueError):
  """A checkpoint in the workdir does not fit the configuration."""


class NonFiniteError(UserError, RuntimeError):
  """A loss or gradient norm became NaN or infinite; training stopped."""


class WorkdirError(UserError, FileNotFoundError):
  """The workdir is not that of a run, or lacks what the command needs."""
