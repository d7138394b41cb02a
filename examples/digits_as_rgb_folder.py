"""Writes the bundled digits as a folder of 64x64 RGB PNG files.

    python examples/digits_as_rgb_folder.py /tmp/digits64 [--count=5000]

Each digit is upscaled to 64x64 and drawn in a colour on a background of
another (both fixed by the digit's index), so that a CelebA-shaped run
(`configs/celeba.py`: 64x64 RGB, the `larsen64` networks) can train on real
images without CelebA:

    python main.py --config=configs/celeba.py --config.data.name=folder \\
      --config.data.path=/tmp/digits64 --config.data.crop=none
"""

import argparse
import os

import numpy as np
from PIL import Image

from vaegan_jax.data import bundled


def colour_digits(images: np.ndarray, seed: int = 0) -> np.ndarray:
  """uint8 [N, 28, 28, 1] -> uint8 [N, 64, 64, 3]: each digit in its own
  foreground and background colour."""
  rng = np.random.default_rng(seed)
  ink = rng.integers(80, 256, (len(images), 1, 1, 3))
  paper = rng.integers(0, 120, (len(images), 1, 1, 3))
  big = np.stack([np.asarray(Image.fromarray(x[..., 0]).resize(
      (64, 64), Image.Resampling.BICUBIC)) for x in images])[..., None]
  alpha = big.astype(np.float32) / 255.0
  return np.round(alpha * ink + (1 - alpha) * paper).astype(np.uint8)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('folder')
  parser.add_argument('--count', type=int, default=5000)
  args = parser.parse_args()
  images, _ = bundled.load()
  images = colour_digits(images[:args.count])
  os.makedirs(args.folder, exist_ok=True)
  for i, image in enumerate(images):
    Image.fromarray(image).save(os.path.join(args.folder, f'{i:05d}.png'))
  print(f'Wrote {len(images)} images to {args.folder}')


if __name__ == '__main__':
  main()
