"""The training log line: steps/s, images/s, ETA, and the log interval's
averages of the step's metrics."""

import time
from typing import Any

import numpy as np


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
