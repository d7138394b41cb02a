"""A small CNN classifier of 28x28 grayscale digits, for an offline FID.

Inception features mean little for MNIST-like digits, and its weights may
not be at hand; the common substitute is a digit classifier's penultimate
features. This one is trained once on the project's training split (well
under a minute on a 2-core CPU) and cached (`classifier_cache`) in a file
whose name hashes the training settings and the data, so later runs load it
in a moment.

The network: two 3x3 convolutions with ReLU, each followed by a 2x2 max
pool, a dense layer with ReLU whose outputs are the features, and a dense
10-way classifier. Training: Adam with a cosine schedule on softmax
cross-entropy, images shifted randomly by up to `max_shift` pixels, for a
fixed number of steps (so the cost does not grow with the training set),
all steps in one `lax.scan`.
"""

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax




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


# The name of the 10-way classifier layer in the parameters.
HEAD = 'Dense_1'


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


def check_images(images: np.ndarray) -> np.ndarray:
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
  images, labels = check_images(images), np.asarray(labels, np.int32)
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
  images = check_images(images)
  logits_fn = jax.jit(lambda p, x: _model(settings).apply({'params': p}, x)[0])
  predictions = np.concatenate([
      np.argmax(logits_fn(params, images[i:i + batch_size]), axis=-1)
      for i in range(0, len(images), batch_size)])
  return float(np.mean(predictions == np.asarray(labels)))
