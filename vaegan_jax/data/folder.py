"""'folder': every image under a directory tree, e.g. CelebA's img_align_celeba.

Files are found by extension (JPEG, PNG, BMP, GIF, WebP, TIFF); other files
and hidden files and folders are ignored. Symbolic links are followed, each
directory and file once (`find_images`). Images of any size and mode are
converted (`preprocess`) and decoded once into the cache (`cache`); files that
cannot be decoded are skipped, counted and reported.

Optional, in CelebA's formats, matched to images by relative path or by
file name:
- `config.data.attributes_file` (list_attr_celeba.txt): the count, the
  attribute names, then `file v1 ... vK` with values 1 or -1; gives
  'attributes' (1 where the value is 1, else 0).
- `config.data.partition_file` (list_eval_partition.txt): `file p`, p = 0
  train, 1 validation, 2 test; trains on 0 and 1 and holds out 2, as Larsen
  et al. (2016). Without it a fixed random `config.data.holdout_fraction` of
  the images is held out.
"""

import os

import ml_collections
import numpy as np
from absl import logging
from PIL import Image, ImageOps

from vaegan_jax.data import annotations
from vaegan_jax.data import arrays
from vaegan_jax.data import cache
from vaegan_jax.data import preprocess
from vaegan_jax.errors import DataError

NAME = 'folder'
IMAGE_EXTENSIONS = frozenset(
    {'.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp', '.tif', '.tiff'})
TRAIN_PARTITIONS, EVAL_PARTITIONS = (0, 1), (2,)
_SHOW = 5  # unreadable files named in the log


def root(config: ml_collections.ConfigDict) -> str:
  """`config.data.path`, checked to be a directory."""
  path = config.data.get('path')
  if not path:
    raise DataError(
        "config.data.name='folder' needs the directory of the images: "
        '--config.data.path=/path/to/images')
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.exists(path):
    raise DataError(f'config.data.path={path} does not exist.')
  if not os.path.isdir(path):
    raise DataError(f'config.data.path={path} is a file; give the directory '
                    'that holds the images.')
  return path


def find_images(path: str) -> tuple[list[str], list[int]]:
  """The image files under `path`, sorted, and their sizes in bytes.

  Symbolic links are followed, each directory and each file at most once:
  a directory reached again (a loop, or a second link to it) is not walked
  again, and of the paths reaching one file only the first (in sorted
  order) is kept, so no image appears twice (or in both splits). A broken
  or looping link to an image is kept, with size -1, to be reported
  unreadable like other files that cannot be decoded.

  Args:
    path: the root directory.

  Returns:
    Paths relative to `path`, and sizes.

  Raises:
    DataError: the tree holds no files, or no image files.
  """
  found, others = [], {}
  visited = {os.path.realpath(path)}
  for parent, dirs, names in os.walk(path, followlinks=True):
    dirs[:] = [d for d in sorted(dirs) if not d.startswith('.')
               and _first_visit(os.path.join(parent, d), visited)]
    for name in names:
      if name.startswith('.'):
        continue
      ext = os.path.splitext(name)[1].lower()
      full = os.path.join(parent, name)
      if ext in IMAGE_EXTENSIONS:
        found.append(os.path.relpath(full, path))
      else:
        others[ext or name] = others.get(ext or name, 0) + 1
  if not found and not others:
    raise DataError(f'config.data.path={path} is empty: put the images '
                    '(JPEG or PNG, in any subfolders) there.')
  if not found:
    kinds = ', '.join(f'{n} {k}' for k, n in sorted(others.items())[:5])
    raise DataError(
        f'No images under config.data.path={path} (found only: {kinds}); '
        f'image files end in {sorted(IMAGE_EXTENSIONS)}.')
  found = _unique_files(path, sorted(found))
  return found, [_size(os.path.join(path, f)) for f in found]


def _first_visit(directory: str, visited: set[str]) -> bool:
  """Whether `directory` (resolved) is walked for the first time."""
  real = os.path.realpath(directory)
  if real in visited:
    logging.info('Not walking %s again: it is %s, reached before.',
                 directory, real)
    return False
  visited.add(real)
  return True


def _unique_files(root: str, files: list[str]) -> list[str]:
  """`files` without the later paths to a file reached before."""
  kept, seen, twice = [], {}, []
  for name in files:
    real = os.path.realpath(os.path.join(root, name))
    if real in seen:
      twice.append(f'{name} (= {seen[real]})')
      continue
    seen[real] = name
    kept.append(name)
  if twice:
    logging.warning('Left out %d paths to image files already found '
                    'through another path (symbolic links), e.g. %s.',
                    len(twice), '; '.join(twice[:_SHOW]))
  return kept


def _size(path: str) -> int:
  """The file's size; -1 for a broken or looping link."""
  try:
    return os.path.getsize(path)
  except OSError:
    return -1


def decode(path: str, settings: preprocess.Settings) -> np.ndarray:
  """Reads one image file into a uint8 array of `settings.shape`.

  Raises whatever Pillow raises for a corrupt or truncated file.
  """
  with Image.open(path) as image:
    image.load()
    image = ImageOps.exif_transpose(image)
    return preprocess.process_image(image, settings)


def _report(meta: dict, cache_dir: str) -> None:
  failed = meta['failed']
  logging.info('Folder cache %s: %d images.', cache_dir,
               len(meta['files']) - len(failed))
  if failed:
    shown = '; '.join(f'{p} ({why})' for p, why in list(failed.items())[:_SHOW])
    logging.warning('Skipped %d of %d files that could not be decoded, e.g. '
                    '%s', len(failed), len(meta['files']), shown)


def prepare(config: ml_collections.ConfigDict) -> tuple[str, dict]:
  """Makes the folder's cache, or finds the one made before.

  Args:
    config: the run's configuration (`config.data.{path, cache_dir,
      image_size, channels, crop, prepare_threads}`).

  Returns:
    The cache's directory and metadata (see `cache.build`).
  """
  path = root(config)
  files, sizes = find_images(path)
  settings = preprocess.settings_from_config(config)
  cache_dir = cache.directory(
      config.data.get('cache_dir') or cache.default_root(),
      os.path.basename(path), cache.key(files, sizes, settings), settings)
  meta = cache.load_meta(cache_dir)
  if meta is None:
    logging.info('Decoding %d images under %s into %s (once).', len(files),
                 path, cache_dir)
    threads = config.data.get('prepare_threads') or os.cpu_count() or 1
    meta = cache.build(
        cache_dir, files, settings,
        lambda i: decode(os.path.join(path, files[i]), settings), threads)
  _report(meta, cache_dir)
  if len(meta['failed']) == len(files):
    first, why = next(iter(meta['failed'].items()))
    raise DataError(f'None of the {len(files)} image files under {path} '
                    f'could be read; the first, {first}: {why}')
  return cache_dir, meta


def _split_rows(config: ml_collections.ConfigDict, files: list[str],
                failed, split: str) -> np.ndarray:
  """Rows of `split` among the readable files."""
  readable = np.array([i for i, f in enumerate(files) if f not in failed],
                      np.int64)
  partition_file = config.data.get('partition_file')
  if not partition_file:
    return readable[arrays.holdout_rows(
        len(readable), config.data.holdout_fraction, split)]
  table = annotations.read_partition(partition_file)
  parts = np.array([annotations.lookup(table, files[i], -1) for i in readable])
  unlisted = int(np.sum(parts < 0))
  if unlisted:
    logging.warning('%d images are not in config.data.partition_file=%s and '
                    'are left out.', unlisted, partition_file)
  wanted = TRAIN_PARTITIONS if split == 'train' else EVAL_PARTITIONS
  return readable[np.isin(parts, wanted)]


def _attributes(path: str, files: list[str], failed
                ) -> tuple[list[str], np.ndarray]:
  names, table = annotations.read_attributes(path)
  rows = [annotations.lookup(table, f) for f in files]
  missing = sum(r is None and f not in failed for f, r in zip(files, rows))
  if missing:
    logging.warning('%d of %d images have no line in '
                    'config.data.attributes_file=%s; their attributes are 0.',
                    missing, len(files) - len(failed), path)
  zeros = np.zeros(len(names), np.int32)
  return names, np.stack([zeros if r is None else r for r in rows])


def source(config: ml_collections.ConfigDict, split: str,
           annotations: bool = True) -> arrays.ArraySource:
  """The cached images of `split` (preparing the cache if needed).

  Args:
    config: the run's configuration.
    split: 'train' or 'eval'.
    annotations: whether to read `config.data.attributes_file`.

  Returns:
    An `ArraySource` over the memory-mapped cache, with 'attributes' when
    `config.data.attributes_file` is set.
  """
  cache_dir, meta = prepare(config)
  files = meta['files']
  rows = _split_rows(config, files, meta['failed'], split)
  columns, names = {}, None
  if annotations and config.data.get('attributes_file'):
    names, columns['attributes'] = _attributes(config.data.attributes_file,
                                               files, meta['failed'])
  return arrays.ArraySource(cache.local_images(cache_dir), rows,
                                columns, names)


def num_examples(config: ml_collections.ConfigDict, split: str) -> int:
  """The number of images of `split`, without decoding any."""
  path = root(config)
  files, _ = find_images(path)
  return len(_split_rows(config, files, {}, split))
