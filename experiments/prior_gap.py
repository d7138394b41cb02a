"""How far the encoded images sit from the prior the samples are drawn from.

A VAE-GAN's samples decode codes drawn from the prior N(0, I); its
reconstructions decode the posterior means of real images. Where the
reconstructions score well and the samples do not, the decoder can draw
the data but the prior's codes land where no image was encoded: the
samples' quality is limited by the prior, not by the decoder. `measure`
scores both, through the same decoder (the moving average where the run
keeps one) against the same evaluated images, and reports the encoded
codes' moments against the prior's (mean 0, second moment 1).
"""

from typing import Any

import numpy as np

import vaegan_jax
from vaegan_jax import data
from vaegan_jax import metrics

# Training images encoded and decoded, and prior samples, each scored.
COUNT = 4000
SHOWN = ('fid', 'precision', 'recall')


def measure(workdir: str, count: int | None = None) -> dict[str, Any]:
  """The sample metrics of reconstructions and of prior samples.

  Args:
    workdir: a finished run with an encoder.
    count: how many training images are reconstructed and how many prior
      samples are drawn (None: `COUNT`).

  Returns:
    {'reconstructions': metrics of the decoded posterior means of `count`
    training images, 'samples': metrics of `count` prior samples (both
    name -> value, `SHOWN`), 'code_mean': the mean over latent dimensions
    of |E[mu]|, 'code_second_moment': the mean over dimensions of
    E[mu² + sigma²] (the aggregate posterior's; the prior's is 1)}.
  """
  count = count or COUNT
  model = vaegan_jax.load(workdir)
  config = model.config
  train = data.train_data(config)['image'][:count]
  quality = metrics.SampleQuality(
      config, data.eval_data(config, config.eval.num_examples)['image'])
  mean, logvar = (np.asarray(a, np.float64) for a in model.encode(train))
  decoded = np.asarray(model.decode(mean.astype(np.float32)))
  sampled = np.asarray(model.sample(count, seed=1))
  scored = {}
  for name, images in (('reconstructions', decoded), ('samples', sampled)):
    values = quality(images)
    scored[name] = {k: round(float(values[k]), 6) for k in SHOWN}
  return {**scored,
          'code_mean': round(float(np.abs(mean.mean(0)).mean()), 6),
          'code_second_moment': round(float(
              (mean ** 2 + np.exp(logvar)).mean()), 6)}
