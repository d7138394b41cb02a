"""Samples written as files, for people and for other FID tools.

Formats (`--mode=sample --sample_format=...`):
  grid: one PNG picture of the samples tiled (at most `MAX_GRID`) and the
    float32 samples as .npy, `<name>.png` and `<name>.npy`;
  png: one 8-bit PNG file per sample in the folder `<name>/`, the input of
    `python -m pytorch_fid DIR1 DIR2` and clean-fid's `compute_fid(DIR1,
    DIR2)`;
  npz: every sample in one uint8 [N, H, W, 3] array under the key 'arr_0'
    of `<name>.npz`, the batch file of the ADM (guided-diffusion)
    evaluator; grayscale is repeated to RGB as FID tools read it.
Every format holds the same 8-bit pixels the run's FID scores
(`metrics.quantize`). Samples are added in chunks, so 50,000 need not be
held as floats.
"""

from typing import Sequence

import numpy as np
from etils import epath
from PIL import Image

from vaegan_jax import files
from vaegan_jax.data import images as images_lib
from vaegan_jax.output import writers

FORMATS = ('grid', 'png', 'npz')
ALL = 'all'
# The grid picture shows at most this many samples (a 32x32 grid).
MAX_GRID = 1024


def parse_formats(names: Sequence[str]) -> tuple[str, ...]:
  """The formats named, 'all' meaning every one.

  Args:
    names: e.g. ['grid'], ['png', 'npz'] or ['all'].

  Returns:
    The formats, in FORMATS order.

  Raises:
    ValueError: a name is not a format.
  """
  names = [n.strip() for n in names if n.strip()]
  unknown = sorted(set(names) - set(FORMATS) - {ALL})
  if unknown or not names:
    raise ValueError(f'Unknown sample format(s) {unknown or names}; choose '
                     f'from {FORMATS} or {ALL!r}, comma-separated.')
  return FORMATS if ALL in names else tuple(f for f in FORMATS if f in names)


def _save_png(path: epath.Path, image: np.ndarray) -> None:
  image = image[..., 0] if image.shape[-1] == 1 else image
  with path.open('wb') as f:
    Image.fromarray(image).save(f, format='PNG')


class SampleFiles:
  """Writes samples, chunk by chunk, in the chosen formats.

  Args:
    directory: where the files go (created if missing).
    name: their common name, e.g. 'step_1000_seed_0'.
    formats: from FORMATS.
    columns: images per row of the grid (default: a square grid).
  """

  def __init__(self, directory: str, name: str, formats: Sequence[str],
               columns: int | None = None):
    self.directory = epath.Path(directory)
    self.name, self.formats = name, tuple(formats)
    self.columns = columns
    self.directory.mkdir(parents=True, exist_ok=True)
    self.count = 0
    self._floats, self._uint8 = [], []
    if 'png' in self.formats:
      self.folder.mkdir(exist_ok=True)

  @property
  def folder(self) -> epath.Path:
    """The folder of PNG files."""
    return self.directory / self.name

  def path(self, suffix: str) -> epath.Path:
    """The file `<name><suffix>`, e.g. path('.npz')."""
    return self.directory / (self.name + suffix)

  def add(self, samples: np.ndarray) -> None:
    """Adds float [n, H, W, C] samples in [-1, 1]."""
    pixels = images_lib.to_uint8(samples)
    if 'grid' in self.formats:
      self._floats.append(np.asarray(samples, np.float32))
    if 'npz' in self.formats:
      self._uint8.append(pixels)
    if 'png' in self.formats:
      for i, image in enumerate(pixels):
        _save_png(self.folder / f'{self.count + i:06d}.png', image)
    self.count += len(pixels)

  def close(self) -> list[str]:
    """Writes what is kept until the end; returns every path written."""
    written = []
    if 'grid' in self.formats:
      samples = np.concatenate(self._floats)
      with self.path('.npy').open('wb') as f:
        np.save(f, samples)
      shown = samples[:MAX_GRID]
      writers.save_png(str(self.path('.png')), images_lib.grid(
          shown, self.columns or int(np.ceil(np.sqrt(len(shown))))))
      written += [str(self.path('.png')), str(self.path('.npy'))]
    if 'png' in self.formats:
      written.append(str(self.folder))
    if 'npz' in self.formats:
      pixels = np.concatenate(self._uint8)
      if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
      files.save_npz(self.path('.npz'), arr_0=pixels)
      written.append(str(self.path('.npz')))
    self._floats, self._uint8 = [], []
    return written
