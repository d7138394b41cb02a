"""Errors that mean a command cannot go on as asked, with messages for users.

The command-line tools print these as one line, without a traceback, and
exit with status 1; any other exception is a bug and keeps its traceback.
"""

import contextlib
import errno
import re
from typing import Iterator


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


class CheckpointDamaged(UserError, RuntimeError):
  """A checkpoint's files are not as they were saved."""


class StorageError(UserError, OSError):
  """The workdir's filesystem refused a write: full, read-only, gone."""


# Errors of the filesystem that the user, not the code, must fix.
STORAGE_ERRNOS = {
    errno.ENOSPC: 'no space left on device',
    errno.EDQUOT: 'disk quota exceeded',
    errno.EROFS: 'read-only file system',
    errno.EACCES: 'permission denied',
    errno.EIO: 'input/output error',
    errno.ENOTDIR: 'a path component is not a directory',
}
_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")


def storage_reason(error: BaseException) -> str | None:
  """What the filesystem refused, if `error` (or its cause) is such a
  refusal: an OSError, or TensorStore's error with its `os_error_code`.

  Returns:
    e.g. 'no space left on device', or None for any other error.
  """
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    code = getattr(error, 'errno', None)
    if not isinstance(code, int):
      match = _OS_ERROR_CODE.search(str(error))
      code = int(match.group(1)) if match else None
    if code in STORAGE_ERRNOS:
      return STORAGE_ERRNOS[code]
    error = error.__cause__ or error.__context__
  return None


class MissingFileError(UserError, FileNotFoundError):
  """A file the configuration names does not exist."""


class BadFileError(UserError, ValueError):
  """A file the configuration names cannot be used: the message says why."""


@contextlib.contextmanager
def storage_errors(workdir: str, advice: str) -> Iterator[None]:
  """Turns a refusal of the filesystem (`storage_reason`) into one
  StorageError naming `workdir`, the reason and `advice`."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    reason = storage_reason(e)
    if reason is None or isinstance(e, UserError):
      raise
    raise StorageError(f'Could not write to {workdir}: {reason} '
                       f'({first_line(e)}). '
                       f'{advice}') from e


def sentence(error: Exception) -> str:
  """An error's message as a sentence: its first letter capitalised."""
  return str(error)[:1].upper() + str(error)[1:]


def first_line(error: Exception, limit: int = 300) -> str:
  """The first line of an error's message, at most `limit` characters."""
  text = str(error).strip()
  return text.splitlines()[0][:limit] if text else ''
