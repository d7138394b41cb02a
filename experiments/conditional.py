"""A conditional model's classes: samples of each, and how the digits
classifier labels them."""

import functools

import numpy as np

import vaegan_jax
from vaegan_jax import files
from vaegan_jax.data import images as images_lib
from vaegan_jax.output import writers
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


def section(results, workdir: str) -> str:
  """The report's section: each class's samples and the accuracy table."""
  parts = ['## Each class', '']
  for result in results:
    accuracy, samples = class_accuracy(result.directory)
    name = f'classes_{result.run.name}.png'
    shown = samples[:, :SHOWN_PER_CLASS].reshape(-1, *samples.shape[2:])
    writers.save_png(files.path(workdir) / name,
                     images_lib.grid(shown, SHOWN_PER_CLASS))
    header = '| class | ' + ' | '.join(str(k) for k in range(len(accuracy)))
    parts += [
        f'![{result.run.label}: {SHOWN_PER_CLASS} samples of each class, a '
        f'row per class]({name})', '',
        f'{result.run.label}: row k holds samples asked for class k. The '
        f'digits classifier (the FID network\'s, 97% accurate on held-out '
        f'digits) labels {SAMPLES_PER_CLASS:,} samples of each class:', '',
        header + ' | all |',
        '|' + '---|' * (len(accuracy) + 2),
        '| labelled as asked | ' + ' | '.join(
            f'{a:.2f}' for a in accuracy) + f' | {accuracy.mean():.3f} |']
  return '\n'.join(parts)
