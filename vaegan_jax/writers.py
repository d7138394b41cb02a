"""Metrics and pictures to JSON lines, TensorBoard and PNG files.

Only process 0 writes; on other processes the writer does nothing. The
TensorBoard writer is tensorboardX's, which needs no TensorFlow.

The workdir may be on cloud storage (`gs://...`, see `files`), where an
object cannot be appended to: there metrics.jsonl and the TensorBoard event
file are written in a local temporary directory and uploaded whole, at most
every `sync_seconds` while training, at every evaluation and at the end. An
event file past `_ROTATE_BYTES` is uploaded a last time and a new one begun,
so no upload grows without bound (TensorBoard reads all files of the
directory).
"""

import io
import json
import os
import shutil
import tempfile
import time
from typing import Mapping

import numpy as np
import tensorboardX
from PIL import Image

from vaegan_jax import files

METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'
_ROTATE_BYTES = 16 << 20


class MetricWriter:
  """Writes scalars to `workdir/metrics.jsonl` and TensorBoard, and images
  to TensorBoard and `workdir/<name>.png`.

  Args:
    workdir: the run's directory, local or on cloud storage.
    enabled: whether this process writes (jax.process_index() == 0).
    sync_seconds: for a workdir on cloud storage, the least time between
      two uploads of the logs while training.
  """

  def __init__(self, workdir: str, enabled: bool = True,
               sync_seconds: float = 30.0):
    self.workdir = workdir
    self.enabled = enabled
    self._tb = None
    if not enabled:
      return
    self._root = files.path(workdir)
    self._root.mkdir(parents=True, exist_ok=True)
    self._remote = not files.is_local(workdir)
    self._sync_seconds, self._synced_at, self._rotations = sync_seconds, 0., 0
    self._uploaded = {}  # local event file -> size at its last upload
    if self._remote:
      self._local = tempfile.mkdtemp(prefix='vaegan_jax-logs-')
      remote_jsonl = self._root / METRICS_FILE
      if remote_jsonl.exists():  # a resumed run continues its log
        with open(os.path.join(self._local, METRICS_FILE), 'wb') as f:
          f.write(remote_jsonl.read_bytes())
    else:
      self._local = os.fspath(self._root)
    self._tb = self._open_tensorboard()
    self._jsonl = open(os.path.join(self._local, METRICS_FILE), 'a')

  def _open_tensorboard(self) -> tensorboardX.SummaryWriter:
    suffix = f'.{self._rotations}' if self._rotations else ''
    return tensorboardX.SummaryWriter(
        os.path.join(self._local, TENSORBOARD_DIR), filename_suffix=suffix)

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    record = {'step': int(step), **{k: float(v) for k, v in scalars.items()}}
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    for key, value in scalars.items():
      self._tb.add_scalar(key, float(value), int(step))
    self._tb.flush()
    self._sync(force=False)

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """Writes uint8 [H, W, C] pictures; PNG files keep the latest of each."""
    if not self.enabled:
      return
    for name, image in images.items():
      save_png(self._root / f'{name}.png', image)
      self._tb.add_image(name, image, int(step), dataformats='HWC')
    self._tb.flush()
    self._sync(force=True)

  def flush(self) -> None:
    """Makes everything written so far readable in the workdir."""
    if self.enabled:
      self._tb.flush()
      self._sync(force=True)

  def _sync(self, force: bool) -> None:
    """Uploads the logs of a workdir on cloud storage that changed."""
    if not self._remote or (not force and time.time() - self._synced_at
                            < self._sync_seconds):
      return
    self._synced_at = time.time()
    with open(os.path.join(self._local, METRICS_FILE), 'rb') as f:
      files.write_bytes(self._root / METRICS_FILE, f.read())
    events = os.path.join(self._local, TENSORBOARD_DIR)
    for name in sorted(os.listdir(events)):
      local = os.path.join(events, name)
      size = os.path.getsize(local)
      if self._uploaded.get(local) != size:
        with open(local, 'rb') as f:
          files.write_bytes(self._root / TENSORBOARD_DIR / name, f.read())
        self._uploaded[local] = size
      if size > _ROTATE_BYTES and self._tb is not None:
        self._tb.close()  # uploaded whole; the next events go to a new file
        os.remove(local)
        self._rotations += 1
        self._tb = self._open_tensorboard()

  def close(self) -> None:
    if not self.enabled:
      return
    self._tb.close()
    self._jsonl.close()
    if self._remote:
      self._tb = None
      self._sync(force=True)
      shutil.rmtree(self._local, ignore_errors=True)


def save_png(path, image: np.ndarray) -> None:
  """Saves a uint8 [H, W, C] (C = 1 or 3) picture, atomically."""
  image = image[..., 0] if image.shape[-1] == 1 else image
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG')
  files.write_bytes(path, buffer.getvalue())


def read_jsonl(path) -> list[dict[str, float]]:
  """The records of a metrics.jsonl file, in order."""
  return [json.loads(line) for line in files.path(path).read_text(
  ).splitlines() if line.strip()]
