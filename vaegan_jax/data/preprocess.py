"""From any decoded image to the uint8 [S, S, C] array the models train on.

`config.data.crop` chooses the region kept:
  'none': the whole image (a non-square one is stretched to a square);
  'center_square': the largest centred square;
  'center_108', 'center_160': the centred 108x108 or 160x160 square common
    for CelebA (smaller where the image is);
  'celeba_148': rows 40:188 and columns 15:163 of CelebA's 218x178 aligned
    images, the 148x148 crop of Larsen et al. (2016).
The region is then resized to `config.data.image_size` with an antialiased
filter (its support widens with the scale factor: the light blur before
downsizing of the original) and converted to gray (`channels=1`) or RGB
(`channels=3`). Images are stored as uint8 and scaled to [-1, 1] last.
"""

import dataclasses

import ml_collections
import numpy as np
from PIL import Image

from vaegan_jax.errors import DataError

CROPS = ('none', 'center_square', 'center_108', 'center_160', 'celeba_148')
# PIL's (left, top, right, bottom) of rows 40:188, columns 15:163 of an
# image of CELEBA_SIZE (width, height).
CELEBA_BOX = (15, 40, 163, 188)
CELEBA_SIZE = (178, 218)
RESAMPLE = Image.Resampling.BICUBIC
# Transparent pixels are composited onto this colour.
BACKGROUND = (255, 255, 255, 255)


@dataclasses.dataclass(frozen=True)
class Settings:
  """What every stored image is made into."""
  image_size: int
  channels: int
  crop: str = 'none'

  @property
  def shape(self) -> tuple[int, int, int]:
    return (self.image_size, self.image_size, self.channels)


def settings_from_config(config: ml_collections.ConfigDict) -> Settings:
  """`config.data.{image_size, channels, crop}` as preprocessing settings."""
  data = config.data
  return Settings(int(data.image_size), int(data.channels),
                  data.get('crop', 'none'))


def crop_box(crop: str, width: int, height: int
             ) -> tuple[int, int, int, int] | None:
  """The (left, top, right, bottom) box `crop` keeps; None: everything."""
  if crop == 'none':
    return None
  if crop == 'celeba_148':
    if (width, height) != CELEBA_SIZE:
      raise DataError(
          f"config.data.crop='celeba_148' is for CelebA's 178x218 aligned "
          f"images, not {width}x{height}; use 'center_square' or "
          "'center_108'.")
    return CELEBA_BOX
  side = min(width, height)
  if crop.startswith('center_') and crop != 'center_square':
    side = min(side, int(crop.split('_')[1]))
  left, top = (width - side) // 2, (height - side) // 2
  return (left, top, left + side, top + side)


def _to_mode(image: Image.Image, channels: int) -> Image.Image:
  """Gray ('L') or 'RGB' from any mode: transparency composited onto white,
  16-bit gray scaled to 8 bits, CMYK, YCbCr and palettes converted."""
  if image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N'):
    pixels = np.asarray(image, np.uint32) >> 8
    image = Image.fromarray(np.minimum(pixels, 255).astype(np.uint8))
  if image.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La') or (
      'transparency' in image.info):
    rgba = image.convert('RGBA')
    image = Image.alpha_composite(Image.new('RGBA', rgba.size, BACKGROUND),
                                  rgba)
  return image.convert('L' if channels == 1 else 'RGB')


def process_image(image: Image.Image, settings: Settings) -> np.ndarray:
  """Converts, crops and resizes one PIL image.

  Args:
    image: a decoded image of any size and mode.
    settings: what to make of it.

  Returns:
    uint8 array of shape `settings.shape`.
  """
  image = _to_mode(image, settings.channels)
  box = crop_box(settings.crop, *image.size)
  if box is not None:
    image = image.crop(box)
  size = (settings.image_size, settings.image_size)
  if image.size != size:
    image = image.resize(size, RESAMPLE)
  return np.asarray(image, np.uint8).reshape(settings.shape)


def process_array(image: np.ndarray, settings: Settings) -> np.ndarray:
  """Like `process_image`, for a uint8 [H, W] or [H, W, C] array.

  An image already of the right size is not resampled.

  Args:
    image: uint8 pixels, C in {1, 3, 4}.
    settings: what to make of it.

  Returns:
    uint8 array of shape `settings.shape`.
  """
  image = np.asarray(image, np.uint8)
  if image.ndim == 2:
    image = image[..., None]
  if image.shape[:2] == settings.shape[:2] and settings.crop == 'none':
    if image.shape[2] == settings.channels:
      return image
    if image.shape[2] == 1:
      return np.repeat(image, settings.channels, axis=2)
  pil = Image.fromarray(image[..., 0] if image.shape[2] == 1 else image)
  return process_image(pil, settings)


def to_float(images: np.ndarray) -> np.ndarray:
  """uint8 pixels to float32 in [-1, 1] (0 -> -1, 255 -> 1 exactly)."""
  return images.astype(np.float32) / np.float32(127.5) - np.float32(1)
