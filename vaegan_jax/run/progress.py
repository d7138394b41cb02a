"""The training log line: steps/s, images/s, ETA, and the log interval's
averages of the losses the objective trains and of its networks' gradient
norms."""

import time
from typing import Any

import ml_collections
import numpy as np

from vaegan_jax.model import losses

# The loss terms each single-phase objective trains: the terms of its rows
# of the weight table (`algorithm.weights`); WGAN-GP's 'gp' joins the
# discriminator's. 'vae_then_gan' trains 'vae' for config.loss.pretrain_steps
# steps, then 'gan'.
TRAINED_TERMS = {
    'vaegan': ('kl', 'llike', 'gan_d', 'gan_g'),
    'vae': ('kl', 'pixel'),
    'gan': ('gan_d', 'gan_g'),
    'blend': ('kl', 'pixel', 'gan_d', 'gan_g'),
}
# The networks each one updates.
TRAINED_NETWORKS = {
    'vaegan': ('encoder', 'decoder', 'discriminator'),
    'vae': ('encoder', 'decoder'),
    'gan': ('decoder', 'discriminator'),
    'blend': ('encoder', 'decoder', 'discriminator'),
}


class Progress:
  """Steps/s, images/s and ETA between log lines."""

  def __init__(self, step: int, total: int, batch_size: int):
    self.total, self.batch_size = total, batch_size
    self._step, self._time = step, time.time()

  def line(self, step: int) -> tuple[str, dict[str, float]]:
    now = time.time()
    rate = (step - self._step) / max(now - self._time, 1e-9)
    self._step, self._time = step, now
    eta = (self.total - step) / max(rate, 1e-9)
    text = (f'step {step}/{self.total} | {rate:.2f} steps/s | '
            f'{rate * self.batch_size:.0f} img/s | ETA '
            f'{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:'
            f'{int(eta % 60):02d}')
    return text, {'perf/steps_per_sec': rate,
                  'perf/images_per_sec': rate * self.batch_size}


def average(pending: list[dict[str, Any]]) -> dict[str, float]:
  """Means over the log interval, and counts of skipped updates in it."""
  out = {k: float(np.mean([m[k] for m in pending])) for k in pending[0]}
  for key in [k for k in pending[0] if k.startswith('updated/')]:
    net = key.split('/', 1)[1]
    out[f'skipped/{net}'] = float(sum(1 - m[key] for m in pending))
  return out


def phase(config: ml_collections.ConfigDict, step: int) -> str:
  """The objective trained at `step` (1-based): 'vae_then_gan' is 'vae' for
  its first config.loss.pretrain_steps steps, then 'gan'."""
  if config.loss.objective != 'vae_then_gan':
    return config.loss.objective
  return 'vae' if step <= config.loss.pretrain_steps else 'gan'


def shown(config: ml_collections.ConfigDict, step: int) -> list[str]:
  """The metrics of the log line at `step`: the losses its objective trains
  and the gradient norms of the networks it updates."""
  objective = phase(config, step)
  terms = TRAINED_TERMS[objective]
  if objective != 'vae' and losses.gan_loss(config.loss.gan).gradient_penalty:
    terms += ('gp',)
  return ([f'loss/{t}' for t in sorted(terms)]
          + [f'grad_norm/{n}' for n in TRAINED_NETWORKS[objective]])


def metrics_text(config: ml_collections.ConfigDict, step: int,
                 scalars: dict[str, float]) -> str:
  """'loss/kl=0.29 loss/llike=30.3 ... grad_norm/encoder=26.3' for the log
  line at `step` (`shown`; a metric the step did not return is left out)."""
  return ' '.join(f'{k}={scalars[k]:.4g}' for k in shown(config, step)
                  if k in scalars)
