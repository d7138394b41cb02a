"""Metrics and pictures to JSON lines, TensorBoard and PNG files.

Only process 0 writes; on other processes the writer does nothing. The
TensorBoard writer is tensorboardX's, which needs no TensorFlow; it is
imported without PyTorch (`_import_tensorboardx`).

The workdir may be on cloud storage (`gs://...`, see `files`), where an
object cannot be appended to: there metrics.jsonl and the TensorBoard event
file are written in a local temporary directory and uploaded whole, at most
every `sync_seconds` while training, at every evaluation and at the end. An
event file past `_ROTATE_BYTES` is uploaded a last time and a new one begun,
so no upload grows without bound (TensorBoard reads all files of the
directory).

`metrics.jsonl` survives a torn last line (a full disk or a kill in the
middle of a write): the writer starts its records on a new line, and
`read_jsonl` skips a line that is not JSON, with a warning naming the file
and the line. A run that resumes from the checkpoint of step N drops the
records past N (steps a stopped or killed run logged after its last
checkpoint, which it trains again), so each step is in the file once.
"""

import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Mapping

import numpy as np
from absl import logging
from etils import epath
from PIL import Image
from PIL import ImageDraw

from vaegan_jax import files


def _import_tensorboardx():
  """tensorboardX, imported without PyTorch where PyTorch is installed.

  tensorboardX's writer imports torch, when it can, only to name
  `torch.Tensor` in its type hints; that is 1.3-1.7 s of every start on a
  CPU machine. The writer here hands it numpy arrays, so `import torch` is
  made to fail while tensorboardX loads. Where torch is already imported
  (the benchmarks), nothing changes.
  """
  if 'torch' in sys.modules:
    import tensorboardX  # pylint: disable=g-import-not-at-top
    return tensorboardX
  sys.modules['torch'] = None  # `import torch` raises ImportError
  try:
    import tensorboardX  # pylint: disable=g-import-not-at-top
  finally:
    del sys.modules['torch']
  return tensorboardX


tensorboardX = _import_tensorboardx()

# Pictures kept at every evaluation (the workdir's root has the latest).
PICTURES_DIR = 'pictures'
# An animation shows at most this many frames, spread evenly over the run.
MAX_FRAMES = 100
FRAME_MS, LAST_FRAME_MS = 300, 1500
METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'
_ROTATE_BYTES = 16 << 20


class MetricWriter:
  """Writes scalars to `workdir/metrics.jsonl` and TensorBoard, and images
  to TensorBoard and `workdir/<name>.png`; keeps chosen pictures of every
  step in `workdir/pictures/` and animates them.

  Args:
    workdir: the run's directory, local or on cloud storage.
    enabled: whether this process writes (jax.process_index() == 0).
    sync_seconds: for a workdir on cloud storage, the least time between
      two uploads of the logs while training.
    resume_step: the step the run starts from: the records of metrics.jsonl
      past it are dropped (None: all are kept).
  """

  def __init__(self, workdir: str, enabled: bool = True,
               sync_seconds: float = 30.0, resume_step: int | None = None):
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
    jsonl = epath.Path(os.path.join(self._local, METRICS_FILE))
    if resume_step is not None:
      drop_records_after(jsonl, resume_step)
    self._tb = self._open_tensorboard()
    self._jsonl = open_for_append(jsonl)

  def _open_tensorboard(self) -> tensorboardX.SummaryWriter:
    suffix = f'.{self._rotations}' if self._rotations else ''
    return tensorboardX.SummaryWriter(
        os.path.join(self._local, TENSORBOARD_DIR), filename_suffix=suffix)

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

  def keep_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """Keeps uint8 [H, W, C] pictures of this step in `pictures/`, named
    `<name>_step_<step>.png` (the latest stay in the workdir's root)."""
    if not self.enabled:
      return
    directory = self._root / PICTURES_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
      save_png(directory / kept_name(name, step), image)

  def write_animation(self, name: str, filename: str) -> None:
    """Rebuilds `filename` (a GIF in the workdir) from every kept `name`
    picture, in step order, each labelled with its step."""
    if not self.enabled:
      return
    frames = kept_pictures(self._root / PICTURES_DIR, name)
    if frames:
      save_animation(self._root / filename, frames)

  def close(self) -> None:
    if not self.enabled:
      return
    try:
      _close_tensorboard(self._tb)
    finally:
      self._jsonl.close()
    if self._remote:
      self._tb = None
      self._sync(force=True)
      shutil.rmtree(self._local, ignore_errors=True)


def _close_tensorboard(writer: tensorboardX.SummaryWriter) -> None:
  """Closes `writer`; when its last flush fails (a full disk), still stops
  its writer threads, which tensorboardX leaves running then and which would
  print a traceback as the process exits."""
  try:
    writer.close()
  except Exception:
    for file_writer in (writer.all_writers or {}).values():
      worker = getattr(file_writer.event_writer, '_worker', None)
      if worker is not None and worker.is_alive():
        worker.stop()
    raise


def save_png(path, image: np.ndarray) -> None:
  """Saves a uint8 [H, W, C] (C = 1 or 3) picture, atomically."""
  image = image[..., 0] if image.shape[-1] == 1 else image
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG')
  files.write_bytes(path, buffer.getvalue())


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


def drop_records_after(path: epath.Path, step: int) -> int:
  """Rewrites a JSON-lines file without its records past `step`.

  Lines that are not JSON records stay as they are (`read_jsonl` skips
  them).

  Args:
    path: the file; nothing happens if it does not exist.
    step: the last step to keep.

  Returns:
    The number of records dropped (logged when not zero).
  """
  if not path.exists():
    return 0
  kept, dropped = [], []
  for line in path.read_text().splitlines(keepends=True):
    try:
      record = json.loads(line)
    except ValueError:
      record = None
    if isinstance(record, dict) and record.get('step', 0) > step:
      dropped.append(record['step'])
    else:
      kept.append(line)
  if dropped:
    files.write_text(path, ''.join(kept))
    steps = (f'step {min(dropped)}' if min(dropped) == max(dropped) else
             f'steps {min(dropped)}-{max(dropped)}')
    logging.info('Dropped %d records of %s from %s: the run resumes from '
                 'step %d and logs them again.', len(dropped), steps, path,
                 step)
  return len(dropped)


def read_jsonl(path: str) -> list[dict[str, float]]:
  """The records of a metrics.jsonl file, in order.

  A line that is not a JSON object (torn by a full disk or a crash) is
  skipped with a warning naming the file and the line.
  """
  records = []
  with files.path(path).open() as f:
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
  buffer = io.BytesIO()
  images[0].save(buffer, format='GIF', save_all=True,
                 append_images=images[1:], duration=durations, loop=0)
  files.write_bytes(path, buffer.getvalue())
