"""Metrics and pictures to JSON lines, TensorBoard and PNG files.

Only process 0 writes; on other processes the writer does nothing. The
TensorBoard writer is tensorboardX's, which needs no TensorFlow.
"""

import json
import os
import re
from typing import Mapping

import numpy as np
import tensorboardX
from etils import epath
from PIL import Image
from PIL import ImageDraw

# Pictures kept at every evaluation (the workdir's root has the latest).
PICTURES_DIR = 'pictures'
# An animation shows at most this many frames, spread evenly over the run.
MAX_FRAMES = 100
FRAME_MS, LAST_FRAME_MS = 300, 1500


class MetricWriter:
  """Writes scalars to `workdir/metrics.jsonl` and TensorBoard, and images
  to TensorBoard and `workdir/<name>.png`; keeps chosen pictures of every
  step in `workdir/pictures/` and animates them.

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

  def keep_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """Keeps uint8 [H, W, C] pictures of this step in `pictures/`, named
    `<name>_step_<step>.png` (the latest stay in the workdir's root)."""
    if not self.enabled:
      return
    directory = epath.Path(self.workdir) / PICTURES_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
      _save_png_file(directory / kept_name(name, step), image)

  def write_animation(self, name: str, filename: str) -> None:
    """Rebuilds `filename` (a GIF in the workdir) from every kept `name`
    picture, in step order, each labelled with its step."""
    if not self.enabled:
      return
    frames = kept_pictures(epath.Path(self.workdir) / PICTURES_DIR, name)
    if frames:
      save_animation(epath.Path(self.workdir) / filename, frames)

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


def _save_png_file(path: epath.Path, image: np.ndarray) -> None:
  """Saves a uint8 [H, W, C] picture to `path`, atomically."""
  image = image[..., 0] if image.shape[-1] == 1 else image
  tmp = path.parent / (path.name + '.tmp')
  with tmp.open('wb') as f:
    Image.fromarray(image).save(f, format='PNG')
  tmp.replace(path)


def kept_name(name: str, step: int) -> str:
  """The file of picture `name` at `step`: 'samples_8x8_step_000500.png'."""
  return f'{name}_step_{int(step):06d}.png'


def kept_pictures(directory: epath.Path, name: str
                  ) -> list[tuple[int, epath.Path]]:
  """(step, path) of every kept picture `name` in `directory`, by step."""
  if not directory.exists():
    return []
  pattern = re.compile(re.escape(name) + r'_step_(\d+)\.png$')
  found = [(int(m.group(1)), path) for path in directory.iterdir()
           if (m := pattern.match(path.name))]
  return sorted(found)


def _labelled(image: Image.Image, step: int) -> Image.Image:
  """The picture under a white band that says its step."""
  band = 14
  out = Image.new(image.mode, (image.width, image.height + band),
                  255 if image.mode == 'L' else (255, 255, 255))
  out.paste(image, (0, band))
  ImageDraw.Draw(out).text((3, 1), f'step {step}',
                           fill=0 if image.mode == 'L' else (0, 0, 0))
  return out


def save_animation(path: epath.Path,
                   frames: list[tuple[int, epath.Path]]) -> None:
  """Writes an animated GIF of pictures, atomically.

  Args:
    path: the GIF to write.
    frames: (step, PNG path) in order; at most `MAX_FRAMES` of them are
      shown, spread evenly, the first and the last always.
  """
  if len(frames) > MAX_FRAMES:
    keep = np.unique(np.linspace(0, len(frames) - 1, MAX_FRAMES).round())
    frames = [frames[int(i)] for i in keep]
  images = []
  for step, png in frames:
    with png.open('rb') as f, Image.open(f) as image:
      images.append(_labelled(image.convert(
          'L' if image.mode in ('L', 'LA', 'I') else 'RGB'), step))
  durations = [FRAME_MS] * (len(images) - 1) + [LAST_FRAME_MS]
  tmp = path.parent / (path.name + '.tmp')
  with tmp.open('wb') as f:
    images[0].save(f, format='GIF', save_all=True,
                   append_images=images[1:], duration=durations, loop=0)
  tmp.replace(path)
