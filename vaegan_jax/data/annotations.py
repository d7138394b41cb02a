"""A folder's optional annotation files, in CelebA's formats.

- attributes (list_attr_celeba.txt): the count, the attribute names, then
  `file v1 ... vK` with values 1 or -1;
- partition (list_eval_partition.txt): `file p`, p = 0 train, 1 validation,
  2 test.

Images are matched to lines by relative path, else by file name (`lookup`).
"""

import os
import warnings

import numpy as np

from vaegan_jax import files
from vaegan_jax.errors import DataError


def read_lines(path: str, field: str) -> list[str]:
  file = files.path(path)
  if not file.is_file():
    raise DataError(f'config.data.{field}={path} is not a file.')
  return [line for line in file.read_text().splitlines() if line.strip()]


def read_attributes(path: str) -> tuple[list[str], dict[str, np.ndarray]]:
  """Parses a file in list_attr_celeba.txt's format.

  Args:
    path: the file.

  Returns:
    The attribute names, and file name -> int32 [K] of 0/1.
  """
  lines = read_lines(path, 'attributes_file')
  if len(lines) < 2 or not lines[0].strip().isdigit():
    raise DataError(
        f'config.data.attributes_file={path} is not in list_attr_celeba.txt '
        'format (a count, a line of names, then `file v1 ... vK`).')
  names = lines[1].split()
  rows = [line.split(None, 1) + [''] for line in lines[2:]]
  with warnings.catch_warnings():  # a bad token ends parsing, found below
    warnings.simplefilter('ignore', DeprecationWarning)
    values = np.fromstring(' '.join(r[1] for r in rows), np.int64, sep=' ')
  if values.size != len(rows) * len(names) or not np.isin(values,
                                                          (-1, 1)).all():
    for number, row in enumerate(rows, start=3):
      tokens = row[1].split()
      if len(tokens) != len(names) or not set(tokens) <= {'1', '-1'}:
        raise DataError(
            f'config.data.attributes_file={path}, line {number}: expected a '
            f'file name and {len(names)} values of 1 or -1.')
  has = (values.reshape(len(rows), len(names)) > 0).astype(np.int32)
  return names, {row[0]: has[i] for i, row in enumerate(rows)}


def read_partition(path: str) -> dict[str, int]:
  """Parses a file in list_eval_partition.txt's format: file -> 0, 1 or 2."""
  table = {}
  for number, line in enumerate(read_lines(path, 'partition_file'), 1):
    row = line.split()
    if len(row) != 2 or row[1] not in ('0', '1', '2'):
      raise DataError(f'config.data.partition_file={path}, line {number}: '
                      'expected `file 0|1|2` (train, validation, test).')
    table[row[0]] = int(row[1])
  return table


def lookup(table: dict, relative_path: str, default=None):
  """The entry of a file, by its relative path or else its name."""
  if relative_path in table:
    return table[relative_path]
  return table.get(os.path.basename(relative_path), default)
