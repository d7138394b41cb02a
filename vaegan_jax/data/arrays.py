"""Examples in arrays, and the fixed split that holds some out.

What every source gives the pipeline is random access to examples.

A source has `len(source)` examples; `source[indices]` returns a dict with
'image' (uint8 [n, H, W, C], already preprocessed) and, where the data has
them, 'label' (int32 [n]) and 'attributes' (int32 [n, 40], 1 where the image
has the attribute); `source.attribute_names` names the attributes' columns
(None without attributes). Sources can be pickled to prefetch processes.
"""

from typing import Sequence

import numpy as np

from vaegan_jax.errors import DataError


# Fixes which examples are held out; independent of `config.seed`, so that
# every run of a dataset evaluates on the same images.
SPLIT_SEED = 0
SPLITS = ('train', 'eval')
# The three parts of a dataset split for tuning apart from reporting:
# 'train' (what the networks learn from), 'validation' (what settings are
# chosen on) and 'test' (what results are reported on). The 'eval' split of
# a source is the part `config.eval.split` names.
PARTS = ('train', 'validation', 'test')
EVAL_PARTS = ('test', 'validation')


class ArraySource:
  """Examples in arrays: images in memory or in an .npy file read through a
  memory map, and per-row annotations.

  Attributes:
    attribute_names: the names of the 'attributes' columns, or None.
    num_classes: the number of 'label' classes (the largest label + 1), or
      None without labels.
  """

  def __init__(self, images: np.ndarray | str,
               rows: Sequence[int] | None = None,
               annotations: dict[str, np.ndarray] | None = None,
               attribute_names: Sequence[str] | None = None):
    """Builds the source.

    Args:
      images: uint8 [N, H, W, C], or the path of an .npy file holding it.
      rows: the rows of `images` (and `annotations`) this source holds, in
        order; None: all of them.
      annotations: name -> array whose first axis matches `images`.
      attribute_names: names of the 'attributes' columns, if any.
    """
    self._path = images if isinstance(images, str) else None
    self._images = None if self._path else images
    total = len(self._array())
    self._rows = np.arange(total) if rows is None else np.asarray(rows,
                                                                  np.int64)
    self._annotations = dict(annotations or {})
    self.attribute_names = (list(attribute_names) if attribute_names
                            else None)
    labels = self._annotations.get('label')
    self.num_classes = (int(np.max(labels)) + 1 if labels is not None
                        and len(labels) else None)

  def _array(self) -> np.ndarray:
    if self._images is None:
      self._images = np.load(self._path, mmap_mode='r')
    return self._images

  def __len__(self) -> int:
    return len(self._rows)

  def __getitem__(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
    rows = self._rows[np.asarray(indices, np.int64)]
    example = {'image': np.asarray(self._array()[rows])}
    example.update({k: v[rows] for k, v in self._annotations.items()})
    return example

  def __getstate__(self):
    # A memory map is reopened where the source is unpickled, not copied.
    state = self.__dict__.copy()
    if self._path:
      state['_images'] = None
    return state


def holdout_rows(num_examples: int, fraction: float, split: str
                 ) -> np.ndarray:
  """The rows of a fixed random split that holds out `fraction` for eval.

  Args:
    num_examples: the size of the whole dataset.
    fraction: the share held out, in [0, 1).
    split: 'train' or 'eval'.

  Returns:
    Row indices of `split`, in a fixed random order (so that its first
    rows are a fair sample of it).
  """
  return split_rows(num_examples, fraction, 0,
                    'test' if split == 'eval' else 'train')


def split_rows(num_examples: int, test_fraction: float,
               validation_size: int, part: str) -> np.ndarray:
  """The rows of one part of a fixed three-way split.

  The rule: the rows in the order of a permutation seeded with
  `SPLIT_SEED`; the first `round(num_examples * test_fraction)` are the
  test part (the held-out rows of `holdout_rows`, whatever
  `validation_size`), the next `validation_size` the validation part, the
  rest the training part. `validation_size=0` gives `holdout_rows`'
  training rows exactly; a larger one takes the validation rows out of
  them and leaves the test rows alone.

  Args:
    num_examples: the size of the whole dataset.
    test_fraction: the share of the whole held out for testing, in [0, 1).
    validation_size: how many of the remaining rows are validation rows.
    part: 'train', 'validation' or 'test'.

  Returns:
    Row indices of `part`, in the fixed random order (so that its first
    rows are a fair sample of it).

  Raises:
    ValueError: an unknown part, or a validation part that leaves no
      training rows.
  """
  if part not in PARTS:
    raise ValueError(f'split part {part!r} is not one of {PARTS}.')
  order = np.random.default_rng(SPLIT_SEED).permutation(num_examples)
  num_test = int(round(num_examples * test_fraction))
  if not 0 <= validation_size < num_examples - num_test:
    raise ValueError(
        f'config.data.validation_size={validation_size} must be at least 0 '
        f'and less than the {num_examples - num_test} examples left after '
        f'the {num_test} test examples.')
  ends = {'test': (0, num_test),
          'validation': (num_test, num_test + validation_size),
          'train': (num_test + validation_size, num_examples)}
  start, end = ends[part]
  return order[start:end]


def eval_part(config) -> str:
  """The part `config.eval.split` names ('test' unless set), checked.

  Raises:
    ValueError: an unknown part, or 'validation' with
      `config.data.validation_size` 0.
  """
  part = config.eval.get('split', 'test')
  if part not in EVAL_PARTS:
    raise ValueError(f"config.eval.split={part!r} is not one of "
                     f"{EVAL_PARTS}: use 'test' to report results, "
                     f"'validation' to choose settings.")
  if part == 'validation' and not validation_size(config):
    raise ValueError("config.eval.split='validation' needs a validation "
                     "split: set config.data.validation_size above 0 "
                     "(e.g. 500).")
  return part


def validation_size(config) -> int:
  """`config.data.validation_size`; 0 for configs older than the field
  (runs trained before it keep their split)."""
  return int(config.data.get('validation_size', 0) or 0)


def part_of(config, split: str) -> str:
  """The part a source's `split` ('train' or 'eval') reads: 'train', or
  the part `config.eval.split` names."""
  return 'train' if split == 'train' else eval_part(config)


def config_rows(config, num_examples: int, split: str) -> np.ndarray:
  """The rows of `split` ('train' or 'eval') of a dataset of `num_examples`
  split by `config.data.holdout_fraction` and `config.data.validation_size`
  (see `split_rows`).

  Raises:
    DataError: the config asks for a split that cannot be made.
  """
  try:
    return split_rows(num_examples, config.data.holdout_fraction,
                      validation_size(config), part_of(config, split))
  except ValueError as e:
    raise DataError(str(e)) from None
