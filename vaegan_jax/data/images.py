"""Image batches to pictures."""

import numpy as np


def to_uint8(images: np.ndarray) -> np.ndarray:
  """float images in [-1, 1] -> uint8 in [0, 255]."""
  images = (np.asarray(images, np.float32) + 1.0) * 127.5
  return np.clip(np.round(images), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, columns: int, pad: int = 2) -> np.ndarray:
  """Tiles [N, H, W, C] images (any range) row by row into one picture.

  Args:
    images: float images in [-1, 1] or uint8.
    columns: pictures per row; rows are filled as needed.
    pad: pixels of white between pictures.

  Returns:
    uint8 [rows·(H+pad)+pad, columns·(W+pad)+pad, C].
  """
  images = images if images.dtype == np.uint8 else to_uint8(images)
  n, h, w, c = images.shape
  rows = -(-n // columns)
  out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255,
                np.uint8)
  for i, image in enumerate(images):
    r, col = divmod(i, columns)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    out[top:top + h, left:left + w] = image
  return out
