"""The experiments' figures: runs side by side, labelled rows, curves over
the steps (each the mean over a run's seeds)."""

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
# A run's label and its finished seeds.
Condition = tuple[str, Sequence[runner.Result]]


def samples_figure(results: Sequence[runner.Result], path: str) -> None:
  """Runs' 16 samples of the fixed prior noise, side by side.

  Args:
    results: one finished seed of each run; each has samples_4x4.png.
    path: the PNG to write.
  """
  pictures = []
  for result in results:
    png = (files.path(result.directory) / runner.SAMPLES_FILE).read_bytes()
    with Image.open(io.BytesIO(png)) as image:
      pictures.append((result.run.label, np.asarray(image.convert('RGB'))))
  writers.save_png(path, plots.titled_pictures(pictures))


def rows_figure(rows: Sequence[tuple[str, np.ndarray]], path: str) -> None:
  """Rows of images, each labelled on the left.

  Args:
    rows: (label, [K, H, W, C] uint8, or float32 in [-1, 1]) for each row,
      K the same for all.
    path: the PNG to write.
  """
  columns = len(rows[0][1])
  grid = images_lib.grid(np.concatenate(
      [images_lib.to_uint8(r[1]) if r[1].dtype != np.uint8 else r[1]
       for r in rows]), columns)
  writers.save_png(path, plots.labelled_rows(
      grid, [r[0] for r in rows], rows[0][1].shape[1]))


def mean_by_step(seeds: Sequence[runner.Result], key: str,
                 evaluations: bool = False
                 ) -> tuple[list[int], list[float]]:
  """A value's mean over the seeds at each step some seed logged it.

  Args:
    seeds: a run's finished seeds.
    key: the value ('loss/kl', 'fid', ...).
    evaluations: read the evaluations (evaluations.jsonl) rather than the
      training log (losses.jsonl).

  Returns:
    (steps, means), in step order.
  """
  values: dict[int, list[float]] = {}
  for result in seeds:
    for record in (result.evaluations if evaluations else result.records):
      if record.get(key) is not None:
        values.setdefault(int(record['step']), []).append(record[key])
  steps = sorted(values)
  return steps, [float(np.mean(values[s])) for s in steps]


def _panel(title: str, conditions: Sequence[Condition], key: str,
           evaluations: bool) -> plots.Panel:
  lines = []
  for label, seeds in conditions:
    steps, means = mean_by_step(seeds, key, evaluations)
    if steps:
      lines.append((label, steps, means))
  return plots.Panel(title, lines)


def losses_figure(conditions: Sequence[Condition], path: str) -> None:
  """loss/gan_g, loss/kl and loss/gan_d against the step, a line per run
  (the mean over its seeds)."""
  writers.save_png(path, plots.line_charts(
      [_panel(f'{title} ({key})', conditions, key, False)
       for key, title in LOSSES]))


def fid_figure(conditions: Sequence[Condition], path: str) -> None:
  """FID at each evaluation, a line per run (the mean over its seeds)."""
  writers.save_png(path, plots.line_charts(
      [_panel('FID (mean over seeds)', conditions, 'fid', True)],
      panel_size=(480, 320)))
