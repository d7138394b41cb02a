"""Files on a local disk or on cloud storage, through `etils.epath`.

Every path the library reads or writes (workdirs, caches, weights files)
may be a local path or a URL such as `gs://bucket/run`: Google Cloud Storage
needs gcsfs (`pip install -e ".[gcs]"`), or TensorFlow, which epath then
uses instead. Writes are atomic: a local file is written under a temporary
name and renamed when complete; an upload to an object store appears whole
or not at all, so there the object is written directly.
"""

import contextlib
import importlib.util
import io
import os
import socket
from typing import Any, BinaryIO, Iterator

from etils import epath

from vaegan_jax import errors

# The fsspec package epath reads each URL scheme with (without TensorFlow).
_FILESYSTEMS = {'gs': ('gcsfs', 'gcs'), 's3': ('s3fs', 's3'),
                'az': ('adlfs', 'az'), 'hf': ('huggingface_hub', 'hf')}


def scheme(path: Any) -> str | None:
  """'gs' for 'gs://bucket/x', None for a local path."""
  text = os.fspath(path)
  return text.split('://', 1)[0] if '://' in text else None


def is_local(path: Any) -> bool:
  """Whether `path` is on this machine's file system."""
  return scheme(path) is None


def path(value: Any) -> epath.Path:
  """`value` as an epath.Path, `~` expanded.

  Raises:
    errors.WorkdirError: a URL whose file system is not installed.
  """
  kind = scheme(value)
  if kind in _FILESYSTEMS and importlib.util.find_spec('tensorflow') is None:
    module, extra = _FILESYSTEMS[kind]
    if importlib.util.find_spec(module) is None:
      hint = (f'pip install -e ".[{extra}]"' if kind == 'gs'
              else f'pip install {module}')
      raise errors.WorkdirError(
          f'{value} is on {kind}://, which needs the {module} package: '
          f'{hint}')
  return epath.Path(value).expanduser()


def absolute(value: Any) -> str:
  """A local path made absolute, or a URL as it is."""
  if is_local(value):
    return os.path.abspath(os.path.expanduser(os.fspath(value)))
  return os.fspath(path(value))


def write_bytes(target: Any, data: bytes) -> None:
  """Writes `data` to `target` atomically (its parent is created)."""
  with writing(target) as f:
    f.write(data)


@contextlib.contextmanager
def writing(target: Any) -> Iterator[BinaryIO]:
  """A binary file for the block to write, which appears at `target` whole
  when the block ends without an error (its parent is created).

  A local file is streamed to a temporary name and renamed; an upload is
  written in one call after the block, so that an error leaves no object.
  """
  target = path(target)
  target.parent.mkdir(parents=True, exist_ok=True)
  if not is_local(target):
    buffer = io.BytesIO()
    yield buffer
    target.write_bytes(buffer.getvalue())
    return
  # Named per host and process: processes sharing a directory (the digits
  # classifier's cache, say) may write the same file at once.
  tmp = target.parent / f'{target.name}.tmp-{socket.gethostname()}-{os.getpid()}'
  try:
    with tmp.open('wb') as f:
      yield f
    tmp.replace(target)
  finally:
    if tmp.exists():
      tmp.unlink()


def write_text(target: Any, text: str) -> None:
  """Writes `text` (UTF-8) to `target` atomically."""
  write_bytes(target, text.encode('utf-8'))


def save_npz(target: Any, **arrays: Any) -> None:
  """np.savez of `arrays` to `target`, atomically."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  with writing(target) as f:
    np.savez(f, **arrays)
