"""Metrics and pictures to JSON lines, TensorBoard and PNG files.

Only process 0 writes; on other processes the writer does nothing. The
TensorBoard writer is tensorboardX's, which needs no TensorFlow.
"""

import json
import os
from typing import Mapping

import numpy as np
import tensorboardX
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
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')

  def write_scalars(self, step: int, scalars: Mapping[str, float],
                    notes: Mapping[str, str] | None = None) -> None:
    """Writes one metrics.jsonl record and the TensorBoard scalars.

    Args:
      step: the training step.
      scalars: name -> number.
      notes: name -> text kept beside the numbers (e.g. what an FID was
        computed on): in the JSON record, and as TensorBoard text.
    """
    if not self.enabled:
      return
    notes = dict(notes or {})
    record = {'step': int(step), **{k: float(v) for k, v in scalars.items()},
              **notes}
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    for key, value in scalars.items():
      self._tb.add_scalar(key, float(value), int(step))
    for key, text in notes.items():
      self._tb.add_text(key, text, int(step))
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
      self._tb.close()
      self._jsonl.close()


def save_png(path: str, image: np.ndarray) -> None:
  """Saves a uint8 [H, W, C] (C = 1 or 3) picture, atomically."""
  image = image[..., 0] if image.shape[-1] == 1 else image
  tmp = path + '.tmp'
  Image.fromarray(image).save(tmp, format='PNG')
  os.replace(tmp, path)


def read_jsonl(path: str) -> list[dict[str, float]]:
  """The records of a metrics.jsonl file, in order."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
