"""`config.data.name` -> the source of a split, through one table.

Each row of `TABLE` is one kind of data: which names it answers, how its
splits are opened and counted, how it is named in messages, how its
held-out split is chosen, and what `prepare` does ahead of training. The
first row whose `matches` accepts `config.data.name` is used: 'bundled_mnist'
(`bundled`), 'folder' (`folder`); any other name is a TFDS dataset
(`tfds_source`), the last row.

Adding a source: a module with `source(config, split)` (see `arrays` for
what a source gives) and one `Source` row in `TABLE` above the TFDS row
(or `register(Source(...))` from outside the package).
"""

import dataclasses
from typing import Any, Callable

import ml_collections

from vaegan_jax.data import arrays
from vaegan_jax.data import bundled
from vaegan_jax.data import folder
from vaegan_jax.data import tfds_source

Config = ml_collections.ConfigDict


@dataclasses.dataclass(frozen=True)
class Source:
  """One row of the table: a kind of data.

  Attributes:
    name: the `config.data.name` it answers (or its family, e.g. 'tfds').
    open: (config, split, annotations) -> the source of the split
      ('train' or 'eval'); `annotations=False` when only images are needed
      (a source may then skip reading its labels or attributes).
    describe: config -> a short name of the data for messages.
    held_out: the config fields that choose (and enlarge) the held-out
      split, for messages.
    size: (config, split) -> the number of examples, found quickly; None:
      `len(open(config, split, False))`.
    prepare: config -> None, the work a first run would do, done ahead of
      training (`data.prepare`); None: nothing to do.
    matches: config.data.name -> whether this row answers it; None: the
      name equals `name`.
  """
  name: str
  open: Callable[[Config, str, bool], Any]
  describe: Callable[[Config], str]
  held_out: str
  size: Callable[[Config, str], int] | None = None
  prepare: Callable[[Config], Any] | None = None
  matches: Callable[[str], bool] | None = None

  def answers(self, data_name: str) -> bool:
    return (self.matches(data_name) if self.matches is not None
            else data_name == self.name)


TABLE: tuple[Source, ...] = (
    Source(bundled.NAME,
           open=lambda config, split, _: bundled.source(config, split),
           size=bundled.num_examples,
           describe=lambda config: 'the bundled MNIST digits',
           held_out=('config.data.holdout_fraction (or, for '
                     "config.eval.split='validation', "
                     'config.data.validation_size)')),
    Source(folder.NAME, open=folder.source, size=folder.num_examples,
           describe=lambda config: f"folder '{config.data.get('path')}'",
           held_out=('config.data.holdout_fraction (or the test images '
                     'listed in config.data.partition_file)'),
           prepare=folder.prepare),
    # Any other name: a TFDS dataset.
    Source('tfds', open=lambda config, split, _: tfds_source.source(
        config, split),
           describe=lambda config: f"TFDS '{config.data.name}'",
           held_out='config.data.eval_split',
           matches=lambda name: True),
)

_ROWS: list[Source] = list(TABLE)


def register(row: Source) -> Source:
  """Adds a row ahead of the table's, so that it is matched first.

  Args:
    row: the source; its name must be new.

  Returns:
    `row`.

  Raises:
    ValueError: a row of that name exists.
  """
  if any(r.name == row.name for r in _ROWS):
    raise ValueError(f'A data source named {row.name!r} is registered '
                     'already.')
  _ROWS.insert(0, row)
  return row


def unregister(name: str) -> None:
  """Removes the row added by `register` under `name`, if there is one."""
  _ROWS[:] = [r for r in _ROWS if r.name != name or r in TABLE]


def find(config: Config) -> Source:
  """The row that answers `config.data.name`."""
  name = config.data.name
  return next(r for r in _ROWS if r.answers(name))


def _check_split(split: str) -> None:
  if split not in arrays.SPLITS:
    raise ValueError(f'split {split!r} is not one of {arrays.SPLITS}.')


def get(config: Config, split: str, annotations: bool = True):
  """The source of `split` ('train' or 'eval').

  Args:
    config: the run's configuration.
    split: 'train' or 'eval'.
    annotations: False when only images are needed (a folder's attribute
      file is then not read).

  Returns:
    A source (see `arrays`): `len(s)` and `s[indices]`.
  """
  _check_split(split)
  return find(config).open(config, split, annotations)


def size(config: Config, split: str) -> int:
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
  row = find(config)
  if row.size is None:
    return len(row.open(config, split, False))
  return row.size(config, split)


def describe(config: Config) -> str:
  """A short name of the data for messages."""
  return find(config).describe(config)


def held_out(config: Config) -> str:
  """The config fields that choose the held-out split, for messages."""
  return find(config).held_out
