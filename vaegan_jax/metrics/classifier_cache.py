"""The digits classifier, trained once and cached.

`load_or_train` looks for a classifier trained on exactly these digits with
these settings (the file name hashes both: `cache_key`) and trains one only
if there is none; a damaged cached file is trained again and replaced.
"""

import dataclasses
import hashlib
import io
import json
import time
from typing import Any

import jax
import numpy as np
from absl import logging

from vaegan_jax import files
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics.digits_classifier import Classifier
from vaegan_jax.metrics.digits_classifier import Settings

# Bump when the network or the training changes, to invalidate old caches.
FORMAT_VERSION = 1


def cache_key(settings: Settings, *arrays: np.ndarray) -> str:
  """A short hash naming one trained classifier.

  Args:
    settings: the training settings.
    *arrays: the data it is trained and measured on.

  Returns:
    16 hex digits of the SHA-256 of FORMAT_VERSION, the settings and the
    arrays' dtypes, shapes and bytes.
  """
  digest = hashlib.sha256()
  digest.update(json.dumps(
      [FORMAT_VERSION, dataclasses.asdict(settings)], sort_keys=True).encode())
  for array in arrays:
    array = np.asarray(array)
    digest.update(f'{array.dtype.kind}{array.shape}'.encode())
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()[:16]


def save(path: str, classifier: Classifier) -> None:
  """Writes a classifier to an .npz file, atomically.

  Args:
    path: the file to write.
    classifier: its parameters, settings and held-out accuracy are saved.
  """
  flat = {'/'.join(k.key for k in p): np.asarray(v) for p, v in
          jax.tree_util.tree_flatten_with_path(classifier.params)[0]}
  settings = json.dumps(dataclasses.asdict(classifier.settings))
  # Atomic: readers never see a half-written file.
  files.save_npz(path, __settings__=settings,
                 __held_out_accuracy__=classifier.held_out_accuracy,
                 **{'params/' + k: v for k, v in flat.items()})


def load(path: str) -> Classifier:
  """Reads a classifier written by `save`.

  Args:
    path: the .npz file.

  Returns:
    The classifier, its parameters as numpy arrays.
  """
  with np.load(io.BytesIO(files.path(path).read_bytes())) as data:
    settings = json.loads(str(data['__settings__']))
    settings['widths'] = tuple(settings['widths'])
    params: dict[str, Any] = {}
    for name in data.files:
      if name.startswith('params/'):
        *parents, leaf = name.split('/')[1:]
        node = params
        for parent in parents:
          node = node.setdefault(parent, {})
        node[leaf] = data[name]
    return Classifier(params, Settings(**settings),
                      float(data['__held_out_accuracy__']), path)


def load_or_train(train_images: np.ndarray, train_labels: np.ndarray,
                  held_out_images: np.ndarray, held_out_labels: np.ndarray,
                  cache_dir: str, settings: Settings = Settings()
                  ) -> Classifier:
  """Loads the cached classifier for this data and settings, or trains it.

  Args:
    train_images: float32 [N, 28, 28, 1] in [-1, 1], the training split.
    train_labels: int [N] digit labels.
    held_out_images: float32 [M, 28, 28, 1], held out to measure accuracy.
    held_out_labels: int [M].
    cache_dir: directory of the cache files (created if missing); the
      file name hashes the settings and all four arrays.
    settings: network size and training schedule.

  Returns:
    The classifier, with its accuracy on the held-out images.
  """
  train_images = digits_classifier.check_images(train_images)
  held_out_images = digits_classifier.check_images(held_out_images)
  key = cache_key(settings, train_images, train_labels, held_out_images,
                  held_out_labels)
  path = str(files.path(cache_dir) / f'digits_classifier_{key}.npz')
  if files.path(path).exists():
    try:
      classifier = load(path)
    except Exception as e:  # pylint: disable=broad-except
      # A cache: whatever is wrong with the file, training anew replaces it.
      logging.warning('The cached digits classifier %s cannot be read (%s: '
                      '%s); training it again to replace it.', path,
                      type(e).__name__, e)
    else:
      logging.info('Loaded the digits classifier from %s (held-out accuracy '
                   '%.4f).', path, classifier.held_out_accuracy)
      return classifier
  start = time.time()
  params = digits_classifier.train(train_images, train_labels, settings)
  acc = digits_classifier.accuracy(params, held_out_images, held_out_labels, settings)
  classifier = Classifier(params, settings, acc, path)
  save(path, classifier)
  logging.info('Trained the digits classifier in %.1fs: held-out accuracy '
               '%.4f on %d images; saved to %s.', time.time() - start, acc,
               len(held_out_labels), path)
  return classifier
