"""A conditional model's classes: samples of each, and how the digits
classifier labels them (`records` keeps both for the report)."""

import functools

import numpy as np

import vaegan_jax
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import extractors
from vaegan_jax.metrics import quality

SEED = 0
SAMPLES_PER_CLASS = 1000
SHOWN_PER_CLASS = 10


@functools.lru_cache(maxsize=None)
def class_accuracy(workdir: str, per_class: int = SAMPLES_PER_CLASS,
                   seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
  """How the digits classifier labels a conditional run's samples.

  Args:
    workdir: the run's workdir.
    per_class: samples drawn of each class.
    seed: the prior noise's seed.

  Returns:
    ([K] share of each class's samples the classifier gives that class,
    [K, per_class, H, W, C] the samples).
  """
  model = vaegan_jax.load(workdir)
  classes = model.config.model.num_conditions
  labels = np.repeat(np.arange(classes), per_class)
  samples = model.sample(len(labels), seed=seed, conditions=labels)
  classifier = quality.digits_classifier_of(model.config)
  logits, _ = digits_classifier.DigitsCNN().apply(
      {'params': classifier.params}, extractors.quantize(samples))
  correct = np.asarray(logits).argmax(axis=1) == labels
  return (correct.reshape(classes, per_class).mean(axis=1),
          samples.reshape(classes, per_class, *samples.shape[1:]))
