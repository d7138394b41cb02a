"""The experiments' figures: runs side by side, labelled rows, loss curves."""

import io
from typing import Sequence

import numpy as np
from PIL import Image

from vaegan_jax import files
from vaegan_jax.data import images as images_lib
from vaegan_jax.output import plots
from vaegan_jax.output import writers
from experiments import runner

# The training-log scalars of the 'losses' figure and table, with titles.
LOSSES = (('loss/gan_g', 'GAN loss (decoder)'), ('loss/kl', 'prior loss (KL)'),
          ('loss/gan_d', 'discriminator loss'))


def samples_figure(results: Sequence[runner.Result], path: str) -> None:
  """Each run's 16 samples of the fixed prior noise, side by side.

  Args:
    results: finished runs; each has the evaluator's samples_4x4.png.
    path: the PNG to write.
  """
  pictures = []
  for result in results:
    png = (files.path(result.directory) / 'samples_4x4.png').read_bytes()
    with Image.open(io.BytesIO(png)) as image:
      pictures.append((result.run.label, np.asarray(image.convert('RGB'))))
  writers.save_png(path, plots.titled_pictures(pictures))


def rows_figure(rows: Sequence[tuple[str, np.ndarray]], path: str) -> None:
  """Rows of images, each labelled on the left.

  Args:
    rows: (label, float32 [K, H, W, C] in [-1, 1]) for each row, K the same
      for all.
    path: the PNG to write.
  """
  columns = len(rows[0][1])
  grid = images_lib.grid(np.concatenate([r[1] for r in rows]), columns)
  writers.save_png(path, plots.labelled_rows(
      grid, [r[0] for r in rows], rows[0][1].shape[1]))


def losses_figure(results: Sequence[runner.Result], path: str) -> None:
  """loss/gan_g, loss/kl and loss/gan_d against the step, a line per run."""
  panels = []
  for key, title in LOSSES:
    lines = []
    for result in results:
      points = [(r['step'], r[key]) for r in result.records if key in r]
      if points:
        lines.append((result.run.label, *zip(*points)))
    panels.append(plots.Panel(f'{title} ({key})', lines))
  writers.save_png(path, plots.line_charts(panels))
