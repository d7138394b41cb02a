"""Crops, resizing, mode conversion, scaling and augmentation of images."""

import numpy as np
import pytest
from PIL import Image

from vaegan_jax.data import augment
from vaegan_jax.data import preprocess


def _pattern(height, width, channels=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def test_celeba_crop_keeps_rows_40_188_and_columns_15_163():
  image = _pattern(218, 178)
  settings = preprocess.Settings(148, 3, 'celeba_148')
  out = preprocess.process_array(image, settings)
  np.testing.assert_array_equal(out, image[40:188, 15:163])


@pytest.mark.parametrize('crop,side', [('center_108', 108),
                                       ('center_160', 160),
                                       ('center_square', 178)])
def test_center_crops_keep_the_centred_square(crop, side):
  image = _pattern(218, 178)
  out = preprocess.process_array(image, preprocess.Settings(side, 3, crop))
  top, left = (218 - side) // 2, (178 - side) // 2
  np.testing.assert_array_equal(out, image[top:top + side, left:left + side])


def test_resize_is_antialiased():
  # A one-pixel checkerboard averages to gray when downsized; a resize that
  # only picked pixels would keep black and white.
  board = (np.indices((148, 148)).sum(0) % 2 * 255).astype(np.uint8)
  out = preprocess.process_array(board, preprocess.Settings(64, 1, 'none'))
  assert out.shape == (64, 64, 1)
  assert 100 < out[8:-8, 8:-8].min() and out[8:-8, 8:-8].max() < 155


@pytest.mark.parametrize('mode', ['L', 'RGB', 'RGBA', 'LA', 'P', 'CMYK',
                                  'I;16', '1'])
@pytest.mark.parametrize('channels', [1, 3])
def test_any_mode_becomes_gray_or_rgb(mode, channels):
  image = Image.fromarray(_pattern(30, 41)).convert(mode)
  out = preprocess.process_image(image, preprocess.Settings(16, channels))
  assert out.shape == (16, 16, channels) and out.dtype == np.uint8


def test_16_bit_gray_is_scaled_to_8_bits():
  pixels = np.full((8, 8), 65535, np.uint16)
  image = Image.fromarray(pixels)
  assert image.mode.startswith('I')
  out = preprocess.process_image(image, preprocess.Settings(8, 1))
  assert (out == 255).all()


def test_transparent_pixels_become_white():
  rgba = np.zeros((8, 8, 4), np.uint8)  # black, fully transparent
  out = preprocess.process_image(Image.fromarray(rgba),
                                 preprocess.Settings(8, 3))
  assert (out == 255).all()


def test_gray_array_is_repeated_to_rgb():
  gray = _pattern(28, 28, 1)
  out = preprocess.process_array(gray, preprocess.Settings(28, 3))
  np.testing.assert_array_equal(out, np.repeat(gray, 3, axis=2))


def test_to_float_maps_0_and_255_to_minus_one_and_one():
  out = preprocess.to_float(np.array([0, 1, 128, 254, 255], np.uint8))
  assert out.dtype == np.float32
  assert out[0] == -1 and out[-1] == 1
  assert np.all(np.diff(out) > 0)


def test_random_flip_mirrors_some_images_and_keeps_the_rest():
  images = _pattern(10, 10, 1, seed=1)[None].repeat(64, axis=0)
  out = augment.random_flip(images, np.random.default_rng(0))
  flipped = np.array([np.array_equal(o, images[0, :, ::-1]) for o in out])
  kept = np.array([np.array_equal(o, images[0]) for o in out])
  assert np.all(flipped | kept) and flipped.any() and kept.any()


def test_random_translate_shifts_within_the_fraction():
  images = _pattern(20, 20, 1, seed=2)[None].repeat(16, axis=0)
  out = augment.random_translate(images, 0.1, np.random.default_rng(0))
  padded = np.pad(images[0], ((2, 2), (2, 2), (0, 0)))
  for image in out:
    matches = [(dy, dx) for dy in range(5) for dx in range(5)
               if np.array_equal(image, padded[dy:dy + 20, dx:dx + 20])]
    assert matches
  assert not all(np.array_equal(o, images[0]) for o in out)


def test_augmentation_is_fixed_by_the_generator_seed():
  images = _pattern(12, 12, 3)[None].repeat(8, axis=0)
  run = lambda seed: augment.random_translate(
      augment.random_flip(images, np.random.default_rng(seed)), 0.2,
      np.random.default_rng(seed))
  np.testing.assert_array_equal(run(3), run(3))
  assert not np.array_equal(run(3), run(4))
