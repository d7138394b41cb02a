"""A SHA-256 manifest of each checkpoint, to tell a damaged one from a good one.

orbax-checkpoint 0.12.8 and TensorStore check little of what they read back:
TensorStore's OCDBT format checksums (CRC-32C) its manifests and B-tree
nodes, and orbax's zarr3 layout the shard index only; the array chunks
themselves carry no checksum (orbax offers no option to add TensorStore's
`crc32c` codec to them), so flipped bytes in a chunk restore as wrong
numbers without an error. A manifest closes that gap: the size and SHA-256
of every file of the checkpoint, written inside the checkpoint's directory
when its save completes (before orbax renames the temporary directory to
its final name), and checked before the checkpoint is restored.
"""

import hashlib
import json

from etils import epath

from vaegan_jax import files as files_lib

MANIFEST = 'vaegan_manifest.json'
VERSION = 1
# orbax rewrites this JSON file as it commits the checkpoint, after the
# manifest is written: it is only checked to be such a file.
STEP_METADATA = '_CHECKPOINT_METADATA'
_CHUNK = 1 << 20


def _files(directory: epath.Path) -> list[epath.Path]:
  """Every file under `directory` but the manifest and the step metadata,
  sorted."""
  found = []
  pending = [directory]
  while pending:
    for path in pending.pop().iterdir():
      if path.is_dir():
        pending.append(path)
      elif path.name != MANIFEST and path != directory / STEP_METADATA:
        found.append(path)
  return sorted(found)


def _step_metadata_problem(directory: epath.Path) -> list[str]:
  path = directory / STEP_METADATA
  if not path.exists():
    return [f'{STEP_METADATA} is missing']
  try:
    if isinstance(json.loads(path.read_text()), dict):
      return []
  except (ValueError, UnicodeDecodeError):
    pass
  return [f'{STEP_METADATA} is not a JSON object']


def _digest(path: epath.Path) -> str:
  digest = hashlib.sha256()
  with path.open('rb') as f:
    while chunk := f.read(_CHUNK):
      digest.update(chunk)
  return digest.hexdigest()


def _relative(path: epath.Path, directory: epath.Path) -> str:
  return str(path)[len(str(directory)):].lstrip('/')


def write_manifest(directory: epath.Path | str) -> None:
  """Writes the manifest of every file under `directory`, atomically.

  Args:
    directory: a checkpoint's directory, all of whose files are written.
  """
  directory = epath.Path(directory)
  files = {_relative(p, directory): {'size': p.stat().length,
                                     'sha256': _digest(p)}
           for p in _files(directory)}
  files_lib.write_text(directory / MANIFEST, json.dumps(
      {'version': VERSION, 'files': files}, indent=0, sort_keys=True))


def has_manifest(directory: epath.Path | str) -> bool:
  return (epath.Path(directory) / MANIFEST).exists()


def verify(directory: epath.Path | str) -> list[str] | None:
  """Checks the files under `directory` against its manifest.

  Args:
    directory: a checkpoint's directory.

  Returns:
    None if it has no manifest (not checkable), else what differs: one
    entry per missing, resized or changed file ([] if none); files not in
    the manifest are not checked, and orbax's step metadata only for being
    a JSON object.
  """
  directory = epath.Path(directory)
  path = directory / MANIFEST
  if not path.exists():
    return None
  try:
    files = json.loads(path.read_text())['files']
  except (ValueError, KeyError, TypeError, UnicodeDecodeError):
    return [f'{MANIFEST} is not readable']
  problems = _step_metadata_problem(directory)
  for name, expected in sorted(files.items()):
    file = directory / name
    if not file.exists():
      problems.append(f'{name} is missing')
    elif file.stat().length != expected['size']:
      problems.append(f'{name} has {file.stat().length} bytes, not '
                      f'{expected["size"]}')
    elif _digest(file) != expected['sha256']:
      problems.append(f'{name} has changed (SHA-256 differs)')
  return problems


class DamagedCheckpoint(Exception):
  """A checkpoint whose files are not as they were saved."""

  def __init__(self, step: int, problems: list[str]):
    shown = '; '.join(problems[:3]) + (
        f'; and {len(problems) - 3} more' if len(problems) > 3 else '')
    super().__init__(f'checkpoint {step} is damaged: {shown}')
    self.step = step
