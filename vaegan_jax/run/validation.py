"""The one check of a whole configuration, at the start of every command.

`validate(config)` runs before a command reads data or writes anything, and
raises one `errors.ConfigError` naming every field whose value the run
cannot use, with what it must be. Nothing further down checks the config
again; modules that look a name up in their table (`losses.gan_loss`, ...)
say which names exist when asked for an unknown one.
"""

from typing import Any, Callable

import jax
import ml_collections

from vaegan_jax.model import architectures
from vaegan_jax import errors
from vaegan_jax.model import augment
from vaegan_jax.model import layers
from vaegan_jax.model import losses
from vaegan_jax.model import networks
from vaegan_jax.model import algorithm as objectives
from vaegan_jax.model import optim
from vaegan_jax.data import preprocess
from vaegan_jax.metrics import inception_weights
from vaegan_jax.metrics import quality
from vaegan_jax.metrics import resize
from vaegan_jax.metrics import registry

DTYPES = ('float32', 'bfloat16', 'float16')
# Held-out images an evaluation needs: 4 interpolated pairs.
MIN_EVAL_EXAMPLES = 8

Check = Callable[[Any], bool]
# What a value must be: words, or a function giving them when asked (for a
# table that can grow after import, as `metrics.registry`).
Requirement = str | Callable[[], str]


def _integer(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def at_least(low: int) -> tuple[Check, str]:
  return (lambda v: _integer(v) and v >= low), f'an integer >= {low}'


def positive() -> tuple[Check, str]:
  return (lambda v: _number(v) and v > 0), 'a number > 0'


def non_negative() -> tuple[Check, str]:
  return (lambda v: _number(v) and v >= 0), 'a number >= 0'


def within(low: float, high: float, high_open: bool = False
           ) -> tuple[Check, str]:
  if high_open:
    return (lambda v: _number(v) and low <= v < high), f'in [{low}, {high})'
  return (lambda v: _number(v) and low <= v <= high), f'in [{low}, {high}]'


def one_of(choices) -> tuple[Check, str]:
  choices = tuple(choices)
  return (lambda v: v in choices), f'one of {choices}'


# Each field and what its value must be.
FIELDS: dict[str, tuple[Check, Requirement]] = {
    'seed': at_least(0),
    'init_networks': ((lambda v: isinstance(v, tuple) and len(v) > 0
                       and set(v) <= set(networks.NETWORKS)),
                      f'a non-empty tuple of names from {networks.NETWORKS}, '
                      'e.g. --config.init_networks="(\'encoder\', '
                      '\'decoder\')"'),
    'data.image_size': at_least(1),
    'data.channels': one_of((1, 3)),
    'data.crop': one_of(preprocess.CROPS),
    'data.holdout_fraction': within(0, 1, high_open=True),
    'data.random_translate': within(0, 0.5, high_open=True),
    'data.num_threads': at_least(1),
    'data.prefetch': at_least(0),
    'data.num_workers': at_least(0),
    'model.arch': one_of(sorted(architectures.ARCHITECTURES)),
    'model.init': one_of(sorted(layers.KERNEL_INITS)),
    'model.bn_momentum': within(0, 1, high_open=True),
    'model.bn_epsilon': positive(),
    'model.conv_transpose_impl': one_of(layers.CONV_TRANSPOSE_IMPLS),
    'model.dtype': one_of(DTYPES),
    'model.dis_norm': one_of(networks.DIS_NORMS),
    'model.condition_embedding': at_least(1),
    'model.ema_decay': within(0, 1, high_open=True),
    'loss.objective': one_of(objectives.OBJECTIVES),
    'loss.blend_lambda': within(0, 1),
    'loss.pretrain_steps': at_least(0),
    'loss.gamma': non_negative(),
    'loss.decoder_weighting': one_of(objectives.DECODER_WEIGHTINGS),
    'loss.kl_weight': non_negative(),
    'loss.kl_warmup_steps': at_least(0),
    'loss.recon': one_of(losses.RECONSTRUCTIONS),
    'loss.recon_reduction': one_of(losses.REDUCTIONS),
    'loss.gan': one_of(sorted(losses.GAN_LOSSES)),
    'loss.gp_weight': non_negative(),
    'loss.n_critic': at_least(1),
    'loss.real_weight': within(0, 1),
    'loss.equilibrium': non_negative(),
    'loss.margin': non_negative(),
    'loss.replay_size': at_least(0),
    'loss.replay_fraction': within(0, 1),
    'loss.augment': ((lambda v: isinstance(v, str) and all(
        n.strip() in augment.POLICIES for n in v.split(',') if n.strip())),
                     f'a comma-separated list of {augment.POLICIES}, e.g. '
                     "'color,translation,cutout' ('' for none)"),
    'loss.r1_weight': non_negative(),
    'loss.r1_every': at_least(1),
    'optim.name': one_of(optim.OPTIMIZERS),
    'optim.lr': positive(),
    'optim.rmsprop_decay': within(0, 1, high_open=True),
    'optim.b1': within(0, 1, high_open=True),
    'optim.b2': within(0, 1, high_open=True),
    'optim.eps': positive(),
    'optim.weight_decay': non_negative(),
    'optim.schedule': one_of(optim.SCHEDULES),
    'optim.steps_per_epoch': at_least(1),
    'optim.decay_epochs': positive(),
    'optim.decay_power': positive(),
    'optim.decay_rate': within(0, 1),
    'optim.lr_end': non_negative(),
    'train.batch_size': at_least(1),
    'train.num_steps': at_least(1),
    'train.log_every': at_least(1),
    'train.checkpoint_every': at_least(1),
    'train.keep_checkpoints': at_least(1),
    'train.prefetch_to_device': at_least(1),
    'train.profile_steps': at_least(0),
    'eval.every': at_least(0),
    'eval.batch_size': at_least(1),
    'eval.num_examples': at_least(MIN_EVAL_EXAMPLES),
    'eval.fid_features': one_of(quality.KINDS),
    'eval.num_fid_samples': at_least(quality.MIN_SAMPLES),
    'eval.fid_reference': quality.REFERENCE_CHECK,
    'eval.fid_resize': one_of(resize.MODES),
    'eval.interpolation_steps': at_least(2),
    'eval.iwae_samples': at_least(0),
    'eval.iwae_examples': at_least(1),
    'eval.attribute_examples': at_least(1),
    'eval.collapse_kl': non_negative(),
    'eval.collapse_patience': at_least(1),
}
# Optional fields: None, or as given.
OPTIONAL: dict[str, tuple[Check, Requirement]] = {
    'init_from': ((lambda v: isinstance(v, str) and bool(v)),
                  'the path of a run\'s workdir or checkpoint'),
    'data.prepare_threads': at_least(1),
    'model.ema_halflife_images': positive(),
    'model.ema_rampup': positive(),
    'eval.best_metric': ((lambda v: v == '' or v in registry.best_choices()),
                         registry.best_requirement),
    **{f'optim.{net}.lr': positive() for net in networks.NETWORKS},
    **{f'model.{field}': at_least(1) for field in (
        'latent_dim', 'encoder_dense', 'decoder_base_width',
        'discriminator_dense', 'dis_feature_layer', 'num_conditions')},
    **{f'model.{field}': ((lambda v: isinstance(v, tuple) and len(v) > 0
                           and all(_integer(w) and w >= 1 for w in v)),
                          'a non-empty tuple of integers >= 1')
       for field in ('encoder_widths', 'decoder_widths',
                     'discriminator_widths')},
}


def _get(config: ml_collections.ConfigDict, field: str) -> Any:
  node = config
  for part in field.split('.'):
    node = node[part]
  return node


def _field_problems(config: ml_collections.ConfigDict) -> list[str]:
  problems = []
  for table, optional in ((FIELDS, False), (OPTIONAL, True)):
    for field, (check, requirement) in table.items():
      value = _get(config, field)
      if optional and value is None:
        continue
      if not check(value):
        if callable(requirement):
          requirement = requirement()
        problems.append(f'config.{field}={value!r} must be {requirement}.')
  return problems


def _model_problems(config: ml_collections.ConfigDict) -> list[str]:
  spec = architectures.resolve(config.model)
  problems = []
  n_up = len(spec['decoder_widths'])
  size = config.data.image_size
  if size % 2 ** n_up:
    problems.append(
        f'config.data.image_size={size} cannot be reached by the decoder: its '
        f'{n_up} stride-2 layers need a multiple of {2 ** n_up}. Change '
        'config.data.image_size or config.model.decoder_widths.')
  n_convs = len(spec['discriminator_widths'])
  if not 1 <= spec['dis_feature_layer'] <= n_convs:
    problems.append(
        f'config.model.dis_feature_layer={spec["dis_feature_layer"]} must '
        f'name one of the discriminator\'s {n_convs} convolutions (1..'
        f'{n_convs}).')
  return problems


def _loss_problems(config: ml_collections.ConfigDict) -> list[str]:
  loss = config.loss
  gan = losses.gan_loss(loss.gan)
  problems = []
  if (loss.objective != 'vae' and loss.equilibrium_gating
      and not gan.cross_entropy):
    problems.append(
        'config.loss.equilibrium_gating compares the discriminator\'s '
        f'cross-entropy with its equilibrium, which config.loss.gan='
        f'{loss.gan!r} does not have; set --config.loss.equilibrium_gating='
        'False or use minimax or non_saturating.')
  if gan.gradient_penalty and config.model.dis_norm == 'batch':
    problems.append(
        f'config.loss.gan={loss.gan!r} penalises the gradient of each '
        'example\'s score, which BatchNorm on batch statistics mixes across '
        'examples; set --config.model.dis_norm=layer (or none).')
  if gan.gradient_penalty and loss.r1_weight:
    problems.append(
        f'config.loss.r1_weight={loss.r1_weight} adds R1 to WGAN-GP, which '
        'has its own gradient penalty (config.loss.gp_weight); set '
        '--config.loss.r1_weight=0 or another config.loss.gan.')
  if loss.recon == 'bce' and loss.objective == 'vaegan':
    problems.append(
        'config.loss.recon=\'bce\' is a likelihood of pixels in [-1, 1], '
        'and config.loss.objective=\'vaegan\' reconstructs the '
        'discriminator\'s features Dis_l, which are not probabilities; use '
        '--config.loss.recon=l2 (or l1), or an objective on pixels (vae, '
        'blend, vae_then_gan).')
  problems += _augment_problems(config)
  if loss.objective == 'vae_then_gan' and not (
      0 < loss.pretrain_steps < config.train.num_steps):
    problems.append(
        f'config.loss.objective=\'vae_then_gan\' trains the VAE for '
        f'config.loss.pretrain_steps={loss.pretrain_steps} steps, which must '
        f'be between 0 and config.train.num_steps={config.train.num_steps} '
        'to train the GAN at all.')
  return problems


# Data whose mirror images are not images of it.
NO_FLIP_DATA = ('mnist', 'bundled_mnist')


def _augment_problems(config: ml_collections.ConfigDict) -> list[str]:
  problems = []
  names = [n.strip() for n in config.loss.augment.split(',')]
  if 'flip' in names and config.data.name in NO_FLIP_DATA:
    problems.append(
        f'config.loss.augment={config.loss.augment!r} flips images, and '
        f'the mirror image of a digit is not a digit ({config.data.name}); '
        "drop 'flip' (color, translation and cutout suit digits).")
  if config.model.ema_decay and config.model.ema_halflife_images:
    problems.append(
        f'config.model.ema_decay={config.model.ema_decay} and '
        f'config.model.ema_halflife_images={config.model.ema_halflife_images}'
        ' both set the decoder\'s average: set one (the other 0 / None).')
  return problems


def _eval_problems(config: ml_collections.ConfigDict) -> list[str]:
  kind = config.eval.fid_features
  shape = (config.data.image_size, config.data.channels)
  if kind == 'digits' and shape != (28, 1):
    return ["config.eval.fid_features='digits' needs 28x28 grayscale digits, "
            f'not {shape[0]}x{shape[0]}x{shape[1]}; use \'inception\' (with '
            "config.eval.inception_weights) or 'none' for other data."]
  if kind == 'inception' and not config.eval.inception_weights:
    return ["config.eval.fid_features='inception' needs "
            'config.eval.inception_weights. ' +
            inception_weights.missing_weights_message(inception_weights.WEIGHTS_FILE)]
  return []


def _device_problems(config: ml_collections.ConfigDict, device_count: int,
                     process_count: int) -> list[str]:
  batch_size = config.train.batch_size
  for count, what in ((device_count, 'devices'),
                      (process_count, 'processes')):
    if batch_size % count:
      return [f'config.train.batch_size={batch_size} does not split evenly '
              f'across the {count} {what}; use a multiple of {count}.']
  return []


def problems(config: ml_collections.ConfigDict,
             device_count: int | None = None,
             process_count: int | None = None) -> list[str]:
  """What is wrong with `config`, one sentence per problem ([] if nothing).

  Args:
    config: the run's configuration.
    device_count: devices the batch is split across (default: all of JAX's).
    process_count: processes reading the data (default: JAX's).
  """
  found = _field_problems(config)
  if found:  # the cross-field checks below assume valid fields
    return found
  found = (_model_problems(config) + _loss_problems(config)
           + _eval_problems(config))
  return found + _device_problems(
      config, jax.device_count() if device_count is None else device_count,
      jax.process_count() if process_count is None else process_count)


def validate(config: ml_collections.ConfigDict,
             device_count: int | None = None,
             process_count: int | None = None) -> None:
  """Raises `errors.ConfigError` listing every problem of `config`.

  Args:
    config: the run's configuration.
    device_count: devices the batch is split across (default: all of JAX's).
    process_count: processes reading the data (default: JAX's).
  """
  found = problems(config, device_count, process_count)
  if found:
    raise errors.ConfigError(' '.join(found) if len(found) == 1 else
                             'The config has problems:\n  ' +
                             '\n  '.join(found))
