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


# Fixes which examples are held out; independent of `config.seed`, so that
# every run of a dataset evaluates on the same images.
SPLIT_SEED = 0
SPLITS = ('train', 'eval')


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
  order = np.random.default_rng(SPLIT_SEED).permutation(num_examples)
  num_eval = int(round(num_examples * fraction))
  return order[:num_eval] if split == 'eval' else order[num_eval:]
