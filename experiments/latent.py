"""Two properties of a model's latent space, read through the digits
classifier: which classes its samples cover, and how smoothly its decoded
images change along straight lines between codes.

- `coverage`: the share of each class among `SAMPLES` decoded prior
  samples, as the digits classifier labels them, and their total variation
  distance from the uniform 10% each (0: every class equally often; 0.9:
  one class only). Mode collapse shows as a large distance.
- `smoothness`: `PAIRS` pairs of codes, the line between each pair decoded
  at `FRAMES` evenly spaced points (both ends included), and the distance
  between the classifier features of neighbouring frames. Its jump is the
  largest of a path's steps over their mean (1: the image changes at an
  even pace; `FRAMES` − 1: all of the change in one step), the median over
  the pairs. The pairs are drawn from the prior (every model has one) and,
  where the model has an encoder, are the posterior means of pairs of
  evaluated digits.
"""

from typing import Any, Callable

import numpy as np

import vaegan_jax
from vaegan_jax import data
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import extractors
from vaegan_jax.metrics import quality
from vaegan_jax.model import architectures

SAMPLES = 5000
PAIRS = 100
FRAMES = 16
SEED = 0
CLASSES = 10


# images [N, H, W, C] -> (labels [N], features [N, F]).
Classify = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def digits_classify(config) -> Classify:
  """The digits classifier of `config`'s data (cached, trained if not yet),
  as labels and features of images."""
  params = quality.digits_classifier_of(config).params

  def classify(images):
    logits, features = digits_classifier.DigitsCNN().apply(
        {'params': params}, extractors.quantize(images))
    return (np.asarray(logits).argmax(axis=1),
            np.asarray(features, np.float64))
  return classify


def class_shares(labels: np.ndarray, classes: int = CLASSES
                 ) -> tuple[list[float], float]:
  """(the share of each class among `labels`, their total variation
  distance from the uniform distribution)."""
  shares = np.bincount(labels, minlength=classes) / len(labels)
  return ([round(float(s), 6) for s in shares],
          round(float(0.5 * np.abs(shares - 1 / classes).sum()), 6))


def jump(features: np.ndarray) -> float:
  """The largest step between neighbouring frames over the mean step.

  Args:
    features: [FRAMES, F] features of one path's frames, in order.

  Returns:
    max step / mean step (1 for a path at an even pace); 1 for a path
    that does not move.
  """
  steps = np.linalg.norm(np.diff(features, axis=0), axis=1)
  mean = steps.mean()
  return float(steps.max() / mean) if mean > 0 else 1.0


def _paths(start: np.ndarray, end: np.ndarray, frames: int) -> np.ndarray:
  """[P * frames, D]: each pair's line, both ends included."""
  t = np.linspace(0.0, 1.0, frames)[None, :, None]
  return (start[:, None] * (1 - t) + end[:, None] * t).reshape(
      -1, start.shape[-1])


def _median_jump(model, classify: Classify, start: np.ndarray,
                 end: np.ndarray, frames: int) -> float:
  images = model.decode(_paths(start, end, frames).astype(np.float32))
  _, features = classify(images)
  features = features.reshape(len(start), frames, -1)
  return round(float(np.median([jump(f) for f in features])), 6)


def measure(workdir: str) -> dict[str, Any]:
  """{'coverage': `coverage`, 'smoothness': `smoothness`} of a finished
  run, its model and the classifier loaded once."""
  model = vaegan_jax.load(workdir)
  classify = digits_classify(model.config)
  return {'coverage': coverage(model, classify),
          'smoothness': smoothness(model, classify)}


def coverage(model, classify: Classify, count: int | None = None
             ) -> dict[str, Any]:
  """{'shares': the share of each class among the prior samples,
  'distance': their total variation distance from 10% each}."""
  labels, _ = classify(model.sample(count or SAMPLES, seed=SEED))
  shares, distance = class_shares(labels)
  return {'shares': shares, 'distance': distance}


def smoothness(model, classify: Classify, pairs: int | None = None,
               frames: int = FRAMES) -> dict[str, float]:
  """{'prior': the median jump along lines between prior codes, and, with
  an encoder, 'encoded': along lines between evaluated digits' codes}."""
  pairs = pairs or PAIRS
  config = model.config
  rng = np.random.default_rng(SEED)
  dim = architectures.latent_dim(config)
  ends = rng.standard_normal((2, pairs, dim))
  out = {'prior': _median_jump(model, classify, ends[0], ends[1], frames)}
  if config.loss.objective != 'gan':
    images = data.eval_data(config, 2 * pairs)['image']
    means, _ = model.encode(images)
    means = np.asarray(means, np.float64)
    out['encoded'] = _median_jump(model, classify, means[:pairs],
                                  means[pairs:], frames)
  return out
