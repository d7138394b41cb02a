"""What a conditional model is conditioned on: the data's class labels
(one-hot) or, without labels, its binary attributes (CelebA's 40)."""

import numpy as np

from vaegan_jax.errors import DataError


def count(source) -> int | None:
  """The length of a source's condition vectors, or None if it has none."""
  if source.num_classes:
    return source.num_classes
  return len(source.attribute_names) if source.attribute_names else None


def from_example(example: dict[str, np.ndarray],
                 num_conditions: int) -> np.ndarray:
  """float32 [n, num_conditions] condition vectors of examples.

  Args:
    example: a source's rows: 'label' int [n] or 'attributes' 0/1 [n, K].
    num_conditions: the classes (or attributes) of the model.

  Returns:
    One-hot labels, or the attributes as floats.
  """
  if 'label' in example:
    return np.eye(num_conditions, dtype=np.float32)[example['label']]
  if 'attributes' in example:
    return np.asarray(example['attributes'], np.float32)
  raise DataError(
      'config.model.conditional needs class labels or attributes, which this '
      'data does not have (a folder needs config.data.attributes_file); set '
      '--config.model.conditional=False.')
