"""How images reach the FID Inception's 299x299 input: the two protocols.

'pytorch_fid' (the default): bilinear, no antialiasing, on the images in
[-1, 1] inside the network's function (`inception.preprocess`), as
pytorch-fid and clean-fid's mode='legacy_pytorch'.

'clean' (clean-fid's default mode, Parmar et al. 2022): each channel of the
8-bit image resized on the host by PIL's bicubic filter, which antialiases
when it shrinks, as a 32-bit float image (mode 'F'), clipped to [0, 255],
then scaled by (x − 128) / 128 as clean-fid's Inception wrapper does.
Grayscale is repeated to RGB after resizing (PIL resizes each channel on its
own, so that is the same as before).
"""

import numpy as np
from PIL import Image

from vaegan_jax.metrics import inception

MODES = ('pytorch_fid', 'clean')

DESCRIPTIONS = {
    'pytorch_fid': (f'bilinear to {inception.INPUT_SIZE}x'
                    f'{inception.INPUT_SIZE}, no antialiasing, grayscale '
                    "repeated to RGB (pytorch-fid; clean-fid's "
                    "mode='legacy_pytorch')"),
    'clean': (f'PIL bicubic with antialiasing to {inception.INPUT_SIZE}x'
              f'{inception.INPUT_SIZE}, per channel as float images of the '
              "8-bit pixels, clipped to [0, 255], (x - 128) / 128 (clean-fid's "
              "mode='clean')"),
}


def _resize_channel(channel: np.ndarray, size: int) -> np.ndarray:
  image = Image.fromarray(channel.astype(np.float32), mode='F')
  resized = image.resize((size, size), resample=Image.Resampling.BICUBIC)
  return np.asarray(resized).clip(0, 255)


def clean_resize(images: np.ndarray, size: int = inception.INPUT_SIZE
                 ) -> np.ndarray:
  """clean-fid's resize of 8-bit images, scaled for the network.

  Args:
    images: uint8 [N, H, W, 1 or 3].
    size: the output's height and width.

  Returns:
    float32 [N, size, size, 3], (resized − 128) / 128.
  """
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (
      1, 3):
    raise ValueError('clean_resize needs uint8 [N, H, W, 1 or 3] images, got '
                     f'{images.dtype} {images.shape}.')
  resized = np.stack([
      np.stack([_resize_channel(image[..., c], size)
                for c in range(image.shape[-1])], axis=-1)
      for image in images]).astype(np.float32)
  if resized.shape[-1] == 1:
    resized = np.repeat(resized, 3, axis=-1)
  return (resized - 128) / 128
