"""Metrics and pictures to JSON lines, TensorBoard and PNG files.

Only process 0 writes; on other processes the writer does nothing. The
TensorBoard writer is tensorboardX's, which needs no TensorFlow.

`metrics.jsonl` survives a torn last line (a full disk or a kill in the
middle of a write): the writer starts its records on a new line, and
`read_jsonl` skips a line that is not JSON, with a warning naming the file
and the line.
"""

import json
import os
from typing import Mapping

import numpy as np
import tensorboardX
from absl import logging
from etils import epath
from PIL import Image


class MetricWriter:
  """Writes scalars to `workdir/metrics.jsonl` and TensorBoard, and images
  to TensorBoard and `workdir/<name>.png`.

  Args:
    workdir: the run's directory.
    enabled: whether this process writes (jax.process_index() == 0).
  """

  def __init__(self, workdir: str, enabled: bool = True):
    self.workdir = workdir
    self.enabled = enabled
    self._tb = None
    if enabled:
      os.makedirs(workdir, exist_ok=True)
      self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, 'tensorboard'))
      self._jsonl = open_for_append(epath.Path(workdir) / 'metrics.jsonl')

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    record = {'step': int(step), **{k: float(v) for k, v in scalars.items()}}
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    for key, value in scalars.items():
      self._tb.add_scalar(key, float(value), int(step))
    self._tb.flush()

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """Writes uint8 [H, W, C] pictures; PNG files keep the latest of each."""
    if not self.enabled:
      return
    for name, image in images.items():
      save_png(os.path.join(self.workdir, f'{name}.png'), image)
      self._tb.add_image(name, image, int(step), dataformats='HWC')
    self._tb.flush()

  def close(self) -> None:
    if self.enabled:
      try:
        self._tb.close()
      finally:
        self._jsonl.close()


def save_png(path: str, image: np.ndarray) -> None:
  """Saves a uint8 [H, W, C] (C = 1 or 3) picture, atomically."""
  image = image[..., 0] if image.shape[-1] == 1 else image
  tmp = path + '.tmp'
  Image.fromarray(image).save(tmp, format='PNG')
  os.replace(tmp, path)


def open_for_append(path: epath.Path):
  """Opens a JSON-lines file for appending, after ending a torn last line.

  Args:
    path: the file (created if missing).

  Returns:
    The open text file; the next write starts on a line of its own.
  """
  torn = False
  if path.exists() and path.stat().length:
    with path.open('rb') as f:
      f.seek(-1, os.SEEK_END)
      torn = f.read(1) != b'\n'
  f = path.open('a')
  if torn:
    logging.warning('%s ends in a partly written line (line %d); the next '
                    'record starts on a new line.', path,
                    path.read_bytes().count(b'\n') + 1)
    f.write('\n')
    f.flush()
  return f


def read_jsonl(path: str) -> list[dict[str, float]]:
  """The records of a metrics.jsonl file, in order.

  A line that is not a JSON object (torn by a full disk or a crash) is
  skipped with a warning naming the file and the line.
  """
  records = []
  with epath.Path(path).open() as f:
    for number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except ValueError:
        record = None
      if not isinstance(record, dict):
        logging.warning('Skipped line %d of %s: not a complete JSON record '
                        '(%.60r).', number, path, line.strip())
        continue
      records.append(record)
  return records
