"""A small CNN classifier of 28x28 grayscale digits, for an offline FID.

Inception features mean little for MNIST-like digits, and its weights may
not be at hand; the common substitute is a digit classifier's penultimate
features. This one is trained once on the project's training split (well
under a minute on a 2-core CPU) and cached in a file whose name hashes the
training settings and the data, so later runs load it in a moment.

The network: two 3x3 convolutions with ReLU, each followed by a 2x2 max
pool, a dense layer with ReLU whose outputs are the features, and a dense
10-way classifier. Training: Adam with a cosine schedule on softmax
cross-entropy, images shifted randomly by up to `max_shift` pixels, for a
fixed number of steps (so the cost does not grow with the training set),
all steps in one `lax.scan`.
"""

import dataclasses
import hashlib
import json
import os
import socket
import time
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

# Bump when the network or the training changes, to invalidate old caches.
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Settings:
  """How the classifier is built and trained (all part of the cache key)."""
  widths: tuple[int, ...] = (8, 16)
  dense: int = 128
  num_steps: int = 1400
  batch_size: int = 32
  learning_rate: float = 2e-3
  max_shift: int = 1
  seed: int = 0


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A trained classifier.

  Attributes:
    params: the network's parameters.
    settings: how it was trained.
    held_out_accuracy: its accuracy on the held-out images it was given.
    path: the cache file it was saved to or loaded from (or None).
  """
  params: Any
  settings: Settings
  held_out_accuracy: float
  path: str | None = None


class Conv3x3(nn.Module):
  """A 3x3 'SAME' convolution as a dense layer over the nine shifted copies.

  The same function as `nn.Conv(features, (3, 3), padding='SAME')`; XLA:CPU
  trains this form several times faster inside `lax.scan`.
  """
  features: int

  @nn.compact
  def __call__(self, x):
    _, h, w, _ = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    patches = jnp.concatenate([padded[:, i:i + h, j:j + w]
                               for i in range(3) for j in range(3)], axis=-1)
    return nn.Dense(self.features)(patches)


class DigitsCNN(nn.Module):
  """[N, 28, 28, 1] in [-1, 1] -> (logits [N, 10], features [N, dense])."""
  widths: Sequence[int] = Settings.widths
  dense: int = Settings.dense
  num_classes: int = 10

  @nn.compact
  def __call__(self, x):
    for width in self.widths:
      x = nn.relu(Conv3x3(width)(x))
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = x.reshape(x.shape[0], -1)
    features = nn.relu(nn.Dense(self.dense)(x))
    return nn.Dense(self.num_classes)(features), features


def _model(settings: Settings) -> DigitsCNN:
  return DigitsCNN(tuple(settings.widths), settings.dense)


def _shift(images: jax.Array, key: jax.Array, max_shift: int) -> jax.Array:
  """Shifts each image by up to `max_shift` pixels, filling with -1."""
  if max_shift == 0:
    return images
  n, h, w, _ = images.shape
  m = max_shift
  padded = jnp.pad(images, ((0, 0), (m, m), (m, m), (0, 0)),
                   constant_values=-1.0)
  offsets = jax.random.randint(key, (n, 2), 0, 2 * m + 1)
  crop = lambda image, o: jax.lax.dynamic_slice(
      image, (o[0], o[1], 0), (h, w, image.shape[-1]))
  return jax.vmap(crop)(padded, offsets)


def _check_images(images: np.ndarray) -> np.ndarray:
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
    raise ValueError(f'The digits classifier takes [N, 28, 28, 1] images in '
                     f'[-1, 1], got shape {images.shape}.')
  return images


def _batch_indices(n: int, settings: Settings) -> np.ndarray:
  """[num_steps, batch_size] indices: successive shuffles of range(n)."""
  rng = np.random.default_rng(settings.seed)
  total = settings.num_steps * settings.batch_size
  order = np.concatenate([rng.permutation(n) for _ in range(-(-total // n))])
  return order[:total].reshape(settings.num_steps, settings.batch_size)


def train(images: np.ndarray, labels: np.ndarray,
          settings: Settings = Settings()) -> Any:
  """Trains the classifier from scratch.

  Args:
    images: float32 [N, 28, 28, 1] in [-1, 1].
    labels: int [N] in 0..9.
    settings: network size and training schedule.

  Returns:
    The trained parameters.
  """
  images, labels = _check_images(images), np.asarray(labels, np.int32)
  model = _model(settings)
  optimizer = optax.adam(optax.cosine_decay_schedule(
      settings.learning_rate, settings.num_steps))
  key = jax.random.key(settings.seed)
  params = model.init(key, images[:1])['params']
  opt_state = optimizer.init(params)

  def loss_fn(params, x, y):
    logits, _ = model.apply({'params': params}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  @jax.jit
  def run(params, opt_state, images, labels, order, key):
    def step(carry, batch):
      params, opt_state = carry
      indices, step_key = batch
      x = _shift(images[indices], step_key, settings.max_shift)
      grads = jax.grad(loss_fn)(params, x, labels[indices])
      updates, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    keys = jax.random.split(key, order.shape[0])
    return jax.lax.scan(step, (params, opt_state), (order, keys))[0]

  order = _batch_indices(len(images), settings)
  params, _ = run(params, opt_state, jnp.asarray(images), jnp.asarray(labels),
                  jnp.asarray(order), key)
  return params


def apply_fn(settings: Settings = Settings()):
  """A pure function (variables, images) -> [N, dense] penultimate features.

  Args:
    settings: the settings the parameters were trained with.

  Returns:
    The function, ready for `jax.jit` or `batching.batched`.
  """
  model = _model(settings)
  return lambda variables, images: model.apply(variables, images)[1]


def accuracy(params: Any, images: np.ndarray, labels: np.ndarray,
             settings: Settings = Settings(), batch_size: int = 1000
             ) -> float:
  """Fraction of `images` classified as `labels`.

  Args:
    params: trained parameters.
    images: float32 [N, 28, 28, 1] in [-1, 1].
    labels: int [N].
    settings: the settings the parameters were trained with.
    batch_size: images per forward pass.

  Returns:
    The accuracy in [0, 1].
  """
  images = _check_images(images)
  logits_fn = jax.jit(lambda p, x: _model(settings).apply({'params': p}, x)[0])
  predictions = np.concatenate([
      np.argmax(logits_fn(params, images[i:i + batch_size]), axis=-1)
      for i in range(0, len(images), batch_size)])
  return float(np.mean(predictions == np.asarray(labels)))


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
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  # Named per process: processes (hosts) sharing the cache may write at once.
  tmp = f'{path}.tmp-{socket.gethostname()}-{os.getpid()}.npz'
  settings = json.dumps(dataclasses.asdict(classifier.settings))
  np.savez(tmp, __settings__=settings,
           __held_out_accuracy__=classifier.held_out_accuracy,
           **{'params/' + k: v for k, v in flat.items()})
  os.replace(tmp, path)  # Readers never see a half-written file.


def load(path: str) -> Classifier:
  """Reads a classifier written by `save`.

  Args:
    path: the .npz file.

  Returns:
    The classifier, its parameters as numpy arrays.
  """
  with np.load(path) as data:
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
  train_images = _check_images(train_images)
  held_out_images = _check_images(held_out_images)
  key = cache_key(settings, train_images, train_labels, held_out_images,
                  held_out_labels)
  path = os.path.join(cache_dir, f'digits_classifier_{key}.npz')
  if os.path.exists(path):
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
  params = train(train_images, train_labels, settings)
  acc = accuracy(params, held_out_images, held_out_labels, settings)
  classifier = Classifier(params, settings, acc, path)
  save(path, classifier)
  logging.info('Trained the digits classifier in %.1fs: held-out accuracy '
               '%.4f on %d images; saved to %s.', time.time() - start, acc,
               len(held_out_labels), path)
  return classifier
