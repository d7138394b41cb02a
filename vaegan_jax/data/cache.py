"""A folder's images, decoded once into one uint8 array file.

The first run on a folder decodes, crops and resizes every image (in threads)
into `<cache root>/<folder name>-<key>/images.npy`; later runs read that file
through a memory map, so training never decodes a JPEG. The key is a hash of
the preprocessing settings and of the file list (relative paths and sizes):
change either and a new cache is made; the same folder and settings reuse
it. `meta.json` beside it lists the files in row order and the unreadable
ones (their rows stay zero and are never read). Both files are written under
temporary names and renamed when complete, so an interrupted preparation is
redone, and processes preparing the same cache at once do not clash.

The cache root may be on cloud storage (`gs://...`), so that hosts share one
preparation: the cache is then made in a local mirror (under
`default_root()/mirror/`) and uploaded, images first and metadata last; a
host that finds it there downloads it to its mirror once, since a memory map
needs a local file.
"""

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import socket
import time
from typing import Callable, Sequence

import numpy as np
from absl import logging

from vaegan_jax import files as files_lib
from vaegan_jax.data import preprocess

VERSION = 1
IMAGES = 'images.npy'
META = 'meta.json'
_CHUNK = 4096  # images handed to the decoding threads at a time


def default_root() -> str:
  """$XDG_CACHE_HOME/vaegan_jax, else ~/.cache/vaegan_jax."""
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'vaegan_jax')


def key(files: Sequence[str], sizes: Sequence[int],
        settings: preprocess.Settings) -> str:
  """A hash of the settings and the file list (paths and sizes)."""
  content = json.dumps({'version': VERSION,
                        'settings': dataclasses.asdict(settings),
                        'resample': int(preprocess.RESAMPLE),
                        'files': list(zip(files, sizes))})
  return hashlib.sha256(content.encode()).hexdigest()[:16]


def directory(root: str, name: str, cache_key: str,
              settings: preprocess.Settings) -> str:
  """Where the cache of `name` with `cache_key` lives."""
  size, channels = settings.image_size, settings.channels
  return str(files_lib.path(root)
             / f'{name}-{size}x{size}x{channels}-{cache_key}')


def load_meta(cache_dir: str) -> dict | None:
  """The metadata of a complete cache in `cache_dir`, or None."""
  try:
    meta = json.loads((files_lib.path(cache_dir) / META).read_text())
  except (OSError, ValueError):
    return None
  complete = (meta.get('version') == VERSION and
              (files_lib.path(cache_dir) / IMAGES).exists())
  return meta if complete else None


def mirror(cache_dir: str) -> str:
  """The local directory a cache on cloud storage is read from."""
  if files_lib.is_local(cache_dir):
    return cache_dir
  return os.path.join(default_root(), 'mirror', files_lib.scheme(cache_dir),
                      cache_dir.split('://', 1)[1])


def _download(source, target: str) -> None:
  with source.open('rb') as src, open(target, 'wb') as dst:
    shutil.copyfileobj(src, dst, 16 << 20)


def local_images(cache_dir: str) -> str:
  """The local path of a complete cache's images.npy (downloaded once from
  cloud storage to `mirror(cache_dir)`)."""
  local = mirror(cache_dir)
  if local != cache_dir and load_meta(local) is None:
    logging.info('Downloading the cache %s to %s (once).', cache_dir, local)
    os.makedirs(local, exist_ok=True)
    for name in (IMAGES, META):  # the metadata last: it marks completion
      _write_atomically(os.path.join(local, name), functools.partial(
          _download, files_lib.path(cache_dir) / name))
  return os.path.join(local, IMAGES)


def _upload(local: str, cache_dir: str) -> None:
  for name in (IMAGES, META):  # the metadata last: it marks completion
    with open(os.path.join(local, name), 'rb') as src:
      with (files_lib.path(cache_dir) / name).open('wb') as dst:
        shutil.copyfileobj(src, dst, 16 << 20)


def _write_atomically(path: str, write: Callable[[str], None]) -> None:
  tmp = f'{path}.tmp-{socket.gethostname()}-{os.getpid()}'
  try:
    write(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _decode_all(path: str, num: int, settings: preprocess.Settings,
                decode: Callable[[int], np.ndarray], threads: int
                ) -> dict[int, str]:
  """Decodes image i into row i of a new .npy file; returns failures."""
  out = np.lib.format.open_memmap(path, 'w+', np.uint8,
                                  (num, *settings.shape))
  failures = {}

  def work(i):
    try:
      out[i] = decode(i)
    except Exception as e:  # pylint: disable=broad-except
      # Any failure to decode one file skips that file only.
      return f'{type(e).__name__}: {e}'
    return None

  start = last_log = time.time()
  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    for begin in range(0, num, _CHUNK):
      chunk = range(begin, min(begin + _CHUNK, num))
      for i, error in zip(chunk, pool.map(work, chunk)):
        if error:
          failures[i] = error
      if time.time() - last_log > 10:
        last_log = time.time()
        logging.info('Prepared %d of %d images (%.0f/s).', chunk[-1] + 1,
                     num, (chunk[-1] + 1) / (last_log - start))
  out.flush()
  del out
  return failures


def build(cache_dir: str, files: Sequence[str],
          settings: preprocess.Settings,
          decode: Callable[[int], np.ndarray], threads: int) -> dict:
  """Decodes every file into `cache_dir` and writes its metadata.

  Args:
    cache_dir: the cache's directory (made if missing), local or on cloud
      storage.
    files: the files' paths relative to the folder, in row order.
    settings: what each image is made into.
    decode: i -> uint8 array of `settings.shape` for files[i]; raises for
      an unreadable file.
    threads: decoding threads.

  Returns:
    The metadata: {'version', 'settings', 'files', 'failed': {path: why}}.
  """
  target, cache_dir = cache_dir, mirror(cache_dir)
  os.makedirs(cache_dir, exist_ok=True)
  start = time.time()
  failures = {}

  def write_images(tmp):
    failures.update(_decode_all(tmp, len(files), settings, decode, threads))

  _write_atomically(os.path.join(cache_dir, IMAGES), write_images)
  meta = {'version': VERSION, 'settings': dataclasses.asdict(settings),
          'files': list(files),
          'failed': {files[i]: why for i, why in sorted(failures.items())}}

  def write_meta(tmp):
    with open(tmp, 'w') as f:
      json.dump(meta, f)

  _write_atomically(os.path.join(cache_dir, META), write_meta)
  if target != cache_dir:
    _upload(cache_dir, target)
  logging.info('Prepared %d images into %s in %.1fs.',
               len(files) - len(failures), target, time.time() - start)
  return meta
