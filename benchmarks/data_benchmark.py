"""Images/s of the folder loader on CelebA-sized JPEGs, cold and cached.

Writes `--images` random 218x178 JPEGs (the size of CelebA's aligned
images), then times with the CelebA preprocessing (148x148 crop, 64x64):

1. first preparation: `data.prepare`, decoding, cropping and resizing every
   image into the uint8 cache on all cores (what `python -m vaegan_jax.run.prepare_data`
   and a first training run do);
2. cached reads: `data.train_iterator` batches (shuffled, augmented, float32
   in [-1, 1]), median of `--repeats` runs of `--batches` batches.

    python -m benchmarks.data_benchmark --images=2000
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np
from PIL import Image

from configs import celeba
from vaegan_jax import data


def write_jpegs(path: str, n: int) -> None:
  rng = np.random.default_rng(0)
  # Smooth random images compress like photographs, not like noise.
  for i in range(n):
    small = rng.integers(0, 256, (28, 23, 3), dtype=np.uint8)
    Image.fromarray(small).resize((178, 218), Image.BILINEAR).save(
        os.path.join(path, f'{i:06d}.jpg'), quality=90)


def folder_config(images: str, cache_dir: str, batch_size: int):
  """`configs/celeba.py` reading the folder `images`, cached in `cache_dir`."""
  config = celeba.get_config()
  config.data.name = 'folder'
  config.data.path = images
  config.data.cache_dir = cache_dir
  config.train.batch_size = batch_size
  return config


def time_preparation(config) -> float:
  """Seconds `data.prepare` takes: decoding the folder into its cache."""
  start = time.perf_counter()
  data.prepare(config)
  return time.perf_counter() - start


def time_reads(config, batches: int, repeats: int) -> list[float]:
  """Images/s of `repeats` runs of `batches` batches of the train iterator
  (after each iterator's start-up)."""
  rates = []
  for _ in range(repeats):
    iterator = data.train_iterator(config)
    try:
      next(iterator)  # start-up: opening the cache, threads
      start = time.perf_counter()
      for _ in range(batches):
        next(iterator)
      rates.append(batches * config.train.batch_size
                   / (time.perf_counter() - start))
    finally:
      iterator.close()
  return rates


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--images', type=int, default=2000)
  p.add_argument('--batch_size', type=int, default=64)
  p.add_argument('--batches', type=int, default=100)
  p.add_argument('--repeats', type=int, default=5)
  args = p.parse_args(argv)
  root = tempfile.mkdtemp(prefix='vaegan_data_bench_')
  try:
    images = os.path.join(root, 'images')
    os.makedirs(images)
    write_jpegs(images, args.images)
    config = folder_config(images, os.path.join(root, 'cache'),
                           args.batch_size)
    prepare_s = time_preparation(config)
    print(f'first preparation: {args.images} JPEGs in {prepare_s:.2f} s, '
          f'{args.images / prepare_s:.0f} images/s ({os.cpu_count()} cores)')
    rates = time_reads(config, args.batches, args.repeats)
    print(f'cached reads: median {statistics.median(rates):.0f} images/s '
          f'over {args.repeats} runs of {args.batches} batches of '
          f'{args.batch_size} (min {min(rates):.0f}, max {max(rates):.0f})')
  finally:
    shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
  main()
