"""Errors that mean the run cannot go on as asked, with messages for users.

`main.py` prints these without a traceback; everything else is a bug and
keeps its traceback.
"""


class CheckpointMismatch(ValueError):
  """A checkpoint in the workdir does not fit the configuration."""


class NonFiniteError(RuntimeError):
  """A loss or gradient norm became NaN or infinite; training stopped."""
