"""Every metric of the project in one table: name, how it is computed, which
way is better, and what it is used for.

A metric belongs to a group, the context it is computed from:
  'train': the train step's output, averaged over the logged steps (the
    step computes these; the table says which are watched: checked for
    non-finite values and shown on the progress line);
  'held_out': the held-out images, their reconstructions and posterior
    (`HeldOut`);
  'iwae': the importance-weighted bounds of held-out images (`Bounds`);
  'samples': features of generated samples and of the FID reference images
    (`Samples`), only when `config.eval.fid_features` gives a feature
    network. Its built-in metrics are those `quality.scores` computes for
    `SampleQuality.score` (FID, precision, recall, density, coverage, KID,
    IS, as `config.eval` switches them): rows without `compute`, produced by
    the group.

The evaluation record (eval_metrics.json) holds each group's metrics in the
table's order; a metric whose `compute` returns None, or that the group did
not produce (e.g. the Inception Score without a classifier head), is left
out. `selects_best` metrics are the choices of `config.eval.best_metric`,
and the checkpointer keeps the best of them in the direction
`lower_is_better` gives.

Adding a metric: a function of the group's context, and one row in `TABLE`
(or `register(Metric(...))` from outside the package). Metrics that share
work (recon_mse and psnr share the pixel errors) compute it once with
`context.shared(fn)`.
"""

import dataclasses
from typing import Any, Callable

import numpy as np
from absl import logging

from vaegan_jax import errors
from vaegan_jax.metrics import held_out

GROUPS = ('train', 'held_out', 'iwae', 'samples')


class _Context:
  """A group's inputs, with the work its metrics share computed once."""

  def shared(self, fn: Callable[[Any], Any]) -> Any:
    """`fn(self)`, computed on the first call and remembered.

    Args:
      fn: a function of this context (the same function object each time,
        e.g. a module-level one).

    Returns:
      Its value.
    """
    memo = self.__dict__.setdefault('_shared', {})
    if fn not in memo:
      memo[fn] = fn(self)
    return memo[fn]


@dataclasses.dataclass
class HeldOut(_Context):
  """The 'held_out' group's context.

  Attributes:
    images: float32 [N, H, W, C] held-out images in [-1, 1].
    reconstructions: their reconstructions, as `images`.
    mean: [N, latent_dim] posterior means.
    logvar: [N, latent_dim] posterior log-variances.
  """
  images: np.ndarray
  reconstructions: np.ndarray
  mean: np.ndarray
  logvar: np.ndarray


@dataclasses.dataclass
class Bounds(_Context):
  """The 'iwae' group's context.

  Attributes:
    bounds: [N] IWAE bounds of held-out images (nats per image).
  """
  bounds: np.ndarray


@dataclasses.dataclass
class Samples(_Context):
  """The 'samples' group's context: features of one feature network.

  Attributes:
    fake: [M, D] features of the generated samples
      (`config.eval.num_fid_samples` of them).
    real: [R, D] features of real images of the FID reference (at most
      `config.eval.num_fid_samples`, a fixed subset of a larger reference);
      None when the reference is a file of statistics.
    real_statistics: (mu [D], sigma [D, D]) of the whole reference's
      features.
    classify: features -> class logits of the feature network's classifier
      head, or None when it has none.
    extract: images (float32 in [-1, 1] or uint8) -> features, for metrics
      that need the features of other images.
    reconstructions: float32 [N, H, W, C] reconstructions of the held-out
      images (features: `extract(reconstructions)`).
  """
  fake: np.ndarray
  real: np.ndarray | None
  real_statistics: tuple[np.ndarray, np.ndarray]
  classify: Callable[[np.ndarray], np.ndarray] | None = None
  extract: Callable[[np.ndarray], np.ndarray] | None = None
  reconstructions: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Metric:
  """One row of the table.

  Attributes:
    name: the key in the evaluation record (or the train step's output).
    group: one of `GROUPS`.
    compute: context of the group -> the value (a float, or a list for a
      per-dimension metric; None: not available this time). None: the
      group produces it (the train step, `quality.scores`).
    lower_is_better: True or False; None for a metric with no better
      direction (e.g. the KL, a standard deviation).
    selects_best: whether `config.eval.best_metric` may name it.
    watched: for 'train' metrics, what a non-finite value means ('' if not
      watched).
  """
  name: str
  group: str
  compute: Callable[[Any], Any] | None = None
  lower_is_better: bool | None = None
  selects_best: bool = False
  watched: str = ''

  def __post_init__(self):
    if self.group not in GROUPS:
      raise ValueError(f'Metric {self.name!r}: group {self.group!r} is not '
                       f'one of {GROUPS}.')
    if self.selects_best and self.lower_is_better is None:
      raise ValueError(f'Metric {self.name!r} selects the best checkpoint, '
                       'so it needs lower_is_better=True or False.')
    if self.compute is not None and self.group == 'train':
      raise ValueError(f'Metric {self.name!r}: the train step computes '
                       "the 'train' metrics; give no compute.")


# Shared work of several metrics (`_Context.shared`).


def _pixel_errors(c: HeldOut) -> dict[str, float]:
  return held_out.pixel_errors(c.images, c.reconstructions)


def _kl_per_dim(c: HeldOut) -> np.ndarray:
  return held_out.kl_per_dimension(c.mean, c.logvar)


def _train(name: str, watched: str) -> Metric:
  return Metric(name, 'train', watched=watched)


TABLE: tuple[Metric, ...] = (
    # The train step's terms; a non-finite one stops the run.
    _train('loss/kl', 'L_prior (the encoder\'s KL term)'),
    _train('loss/llike', 'L_llike (encoder and decoder)'),
    _train('loss/gan_d', 'L_GAN (the discriminator\'s loss)'),
    _train('loss/gan_g', 'the decoder\'s GAN term'),
    _train('grad_norm/encoder', 'the encoder\'s gradient'),
    _train('grad_norm/decoder', 'the decoder\'s gradient'),
    _train('grad_norm/discriminator', 'the discriminator\'s gradient'),
    # Held-out reconstructions (pixel MSE on the [0, 1] scale, PSNR in dB)
    # and the posterior (KL per latent dimension, active units).
    Metric('recon_mse', 'held_out', lambda c: c.shared(_pixel_errors)[
        'recon_mse'], lower_is_better=True, selects_best=True),
    Metric('psnr', 'held_out', lambda c: c.shared(_pixel_errors)['psnr'],
           lower_is_better=False, selects_best=True),
    Metric('kl', 'held_out', lambda c: float(c.shared(_kl_per_dim).sum())),
    Metric('kl_per_dim', 'held_out',
           lambda c: c.shared(_kl_per_dim).tolist()),
    Metric('active_units', 'held_out',
           lambda c: held_out.active_units(c.mean)),
    # The IWAE bound of log p(x) (`iwae`).
    Metric('iwae', 'iwae', lambda c: float(np.mean(c.bounds)),
           lower_is_better=False, selects_best=True),
    # Sample quality in the feature space of config.eval.fid_features
    # (`quality.scores`).
    Metric('fid', 'samples', lower_is_better=True, selects_best=True),
    Metric('precision', 'samples', lower_is_better=False, selects_best=True),
    Metric('recall', 'samples', lower_is_better=False, selects_best=True),
    # About 1 where samples match the real data, above 1 where they crowd
    # around real modes: no better direction.
    Metric('density', 'samples'),
    Metric('coverage', 'samples', lower_is_better=False, selects_best=True),
    Metric('kid', 'samples', lower_is_better=True, selects_best=True),
    Metric('kid_std', 'samples'),
    Metric('is', 'samples', lower_is_better=False, selects_best=True),
    Metric('is_std', 'samples'),
    # The FID of held-out reconstructions against the same reference, and
    # how near samples sit to training images against held-out images
    # (`SampleQuality.reconstruction_fid`, `.memorisation`).
    Metric('rfid', 'samples', lower_is_better=True, selects_best=True),
    Metric('memorisation_share', 'samples'),
    Metric('memorisation_median_ratio', 'samples'),
)

_METRICS: dict[str, Metric] = {m.name: m for m in TABLE}


def register(metric: Metric) -> Metric:
  """Adds a metric to the table (after the others of its group).

  Args:
    metric: the row; its name must be new.

  Returns:
    `metric`.

  Raises:
    ValueError: the name is taken.
  """
  if metric.name in _METRICS:
    raise ValueError(f'A metric named {metric.name!r} is registered '
                     'already.')
  _METRICS[metric.name] = metric
  return metric


def unregister(name: str) -> None:
  """Removes a metric added by `register` (a no-op for unknown names)."""
  _METRICS.pop(name, None)


def get(name: str) -> Metric:
  """The row of `name`.

  Raises:
    KeyError: with the names there are.
  """
  if name not in _METRICS:
    raise KeyError(f'No metric named {name!r}; the metrics are '
                   f'{sorted(_METRICS)}.')
  return _METRICS[name]


def of_group(group: str) -> list[Metric]:
  """The metrics of `group`, in the table's order."""
  return [m for m in _METRICS.values() if m.group == group]


def best_choices() -> dict[str, bool]:
  """The metrics that can select the best checkpoint -> lower_is_better."""
  return {m.name: m.lower_is_better for m in _METRICS.values()
          if m.selects_best}


def best_requirement() -> str:
  """What `config.eval.best_metric` must be, in words, for messages."""
  choices = ', '.join(f"'{name}' ({'lower' if lower else 'higher'} is "
                      'better)' for name, lower in best_choices().items())
  return ("'' (the latest checkpoints only) or a metric that can select "
          f'the best checkpoint, one of {choices}')


def best_direction(name: str) -> bool:
  """Whether lower is better for `name` as `config.eval.best_metric`.

  Raises:
    errors.ConfigError: `name` cannot select the best checkpoint; the
      message lists those that can.
  """
  if name not in best_choices():
    raise errors.ConfigError(
        f'config.eval.best_metric={name!r} must be {best_requirement()}.')
  return best_choices()[name]


def watched() -> dict[str, str]:
  """The watched train metrics -> what a non-finite value of each means."""
  return {m.name: m.watched for m in _METRICS.values() if m.watched}


def evaluate(group: str, context: _Context,
             produced: dict[str, Any] | None = None) -> dict[str, Any]:
  """The values of every metric of `group`, in the table's order.

  Args:
    group: one of `GROUPS` but 'train'.
    context: the group's inputs (`HeldOut`, `Bounds` or `Samples`).
    produced: the values the group computed itself, for its metrics
      without `compute`.

  Returns:
    name -> value, without the metrics whose `compute` returned None or
    that the group did not produce. A produced value of no registered
    metric comes last, with a warning.
  """
  produced = dict(produced or {})
  values = {m.name: (produced.pop(m.name, None) if m.compute is None
                     else m.compute(context)) for m in of_group(group)}
  if produced:
    logging.warning('The %r metrics %s are not in metrics/registry.py: '
                    'recorded, but with no direction.', group,
                    sorted(produced))
  return {**{k: v for k, v in values.items() if v is not None}, **produced}
