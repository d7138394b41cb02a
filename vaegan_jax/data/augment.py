"""Random horizontal flips and translations of uint8 image batches.

Both take their randomness from the generator they are given, so a batch's
augmentation is fixed by the seed and the batch's position in the stream.
"""

import numpy as np


def random_flip(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Mirrors each image left-right with probability 1/2.

  Args:
    images: [N, H, W, C].
    rng: the source of randomness.

  Returns:
    A new array of the same shape.
  """
  flip = rng.random(len(images)) < 0.5
  out = images.copy()
  out[flip] = images[flip, :, ::-1]
  return out


def random_translate(images: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> np.ndarray:
  """Shifts each image by up to `fraction` of its size along each axis.

  Shifts are whole pixels drawn uniformly from [-m, m], m = round(fraction
  * size); pixels shifted in are 0 (-1 after scaling: black).

  Args:
    images: [N, H, W, C].
    fraction: the largest shift as a fraction of the height and width,
      e.g. 0.1 for ±10%.
    rng: the source of randomness.

  Returns:
    A new array of the same shape.
  """
  n, height, width, _ = images.shape
  my, mx = round(fraction * height), round(fraction * width)
  padded = np.pad(images, ((0, 0), (my, my), (mx, mx), (0, 0)))
  dy = rng.integers(0, 2 * my + 1, n)
  dx = rng.integers(0, 2 * mx + 1, n)
  out = np.empty_like(images)
  for i in range(n):
    out[i] = padded[i, dy[i]:dy[i] + height, dx[i]:dx[i] + width]
  return out
