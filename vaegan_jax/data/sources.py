"""`config.data.name` -> the source of a split.

'bundled_mnist' (`bundled`), 'folder' (`folder`); any other name is a TFDS
dataset (`tfds_source`).
"""

import ml_collections

from vaegan_jax.data import arrays
from vaegan_jax.data import bundled
from vaegan_jax.data import folder
from vaegan_jax.data import tfds_source


def _check_split(split: str) -> None:
  if split not in arrays.SPLITS:
    raise ValueError(f'split {split!r} is not one of {arrays.SPLITS}.')


def get(config: ml_collections.ConfigDict, split: str,
        annotations: bool = True):
  """The source of `split` ('train' or 'eval').

  Args:
    config: the run's configuration.
    split: 'train' or 'eval'.
    annotations: False when only images are needed (a folder's attribute
      file is then not read).

  Returns:
    A source (see `source.py`): `len(s)` and `s[indices]`.
  """
  _check_split(split)
  name = config.data.name
  if name == bundled.NAME:
    return bundled.source(config, split)
  if name == folder.NAME:
    return folder.source(config, split, annotations)
  return tfds_source.source(config, split)


def size(config: ml_collections.ConfigDict, split: str) -> int:
  """The number of examples of `split`, found quickly (nothing decoded).

  Args:
    config: the run's configuration.
    split: 'train' or 'eval'.

  Returns:
    The count.

  Raises:
    DataError: the data is missing or not prepared.
  """
  _check_split(split)
  name = config.data.name
  if name == bundled.NAME:
    return bundled.num_examples(config, split)
  if name == folder.NAME:
    return folder.num_examples(config, split)
  return len(tfds_source.source(config, split))


def describe(config: ml_collections.ConfigDict) -> str:
  """A short name of the data for messages."""
  name = config.data.name
  if name == folder.NAME:
    return f"folder '{config.data.get('path')}'"
  if name == bundled.NAME:
    return 'the bundled MNIST digits'
  return f"TFDS '{name}'"

