"""The three VAE-GAN networks: encoder q(z|x), decoder p(x|z), discriminator.

`larsen64` is the CelebA architecture of Larsen et al. (2016) as their code
has it; `digits` is the same design, narrower, for 28 or 32 pixel digits.
Every stride-2 convolution is 5x5 with padding 2, so it halves even sizes.
The encoder's and discriminator's `nn.Conv` layers call their `conv`, which
`build` takes from `layers.conv_for_platform` (a faster strided input
gradient on the CPU, XLA's convolution elsewhere).
"""

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from vaegan_jax.model import architectures
from vaegan_jax.model import layers

NETWORKS = ('encoder', 'decoder', 'discriminator')


def _norm(module: nn.Module, train: bool) -> nn.BatchNorm:
  """BatchNorm keeping `bn_momentum` (0.9 as the original) of the average."""
  return nn.BatchNorm(use_running_average=not train,
                      momentum=module.bn_momentum, epsilon=module.bn_epsilon,
                      dtype=module.dtype)


def _embed(module: nn.Module, condition: jax.Array) -> jax.Array:
  """The learned embedding of a one-hot class or multi-hot attribute vector
  (a dense layer without bias: one learned vector per class or attribute)."""
  return nn.Dense(module.condition_embedding, use_bias=False,
                  kernel_init=module.kernel_init, dtype=module.dtype,
                  name='condition_embedding')(condition)


class Encoder(nn.Module):
  """x -> (mean, logvar) of q(z|x).

  Stride-2 convolutions without bias, each followed by BatchNorm and ReLU; a
  dense layer without bias, BatchNorm, ReLU; two dense heads with bias. With
  a `condition`, its embedding is appended to every pixel as channels.
  """
  widths: Sequence[int]
  dense: int
  latent_dim: int
  kernel_init: layers.Initializer = nn.initializers.lecun_normal()
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  condition_embedding: int = 32
  dtype: Any = None
  conv: layers.ConvFunction = jax.lax.conv_general_dilated

  @nn.compact
  def __call__(self, x: jax.Array, train: bool,
               condition: jax.Array | None = None):
    if condition is not None:
      c = _embed(self, condition).astype(x.dtype)[:, None, None, :]
      x = jnp.concatenate([x, jnp.broadcast_to(c, (*x.shape[:3],
                                                   c.shape[-1]))], axis=-1)
    for width in self.widths:
      x = nn.Conv(width, (5, 5), (2, 2), layers.same_padding(5),
                  use_bias=False, kernel_init=self.kernel_init,
                  dtype=self.dtype, conv_general_dilated=self.conv)(x)
      x = nn.relu(_norm(self, train)(x))
    x = x.reshape(x.shape[0], -1)
    x = nn.Dense(self.dense, use_bias=False, kernel_init=self.kernel_init,
                 dtype=self.dtype)(x)
    x = nn.relu(_norm(self, train)(x))
    mean = nn.Dense(self.latent_dim, kernel_init=self.kernel_init,
                    dtype=self.dtype, name='mean')(x)
    logvar = nn.Dense(self.latent_dim, kernel_init=self.kernel_init,
                      dtype=self.dtype, name='logvar')(x)
    return mean.astype(jnp.float32), logvar.astype(jnp.float32)


class Decoder(nn.Module):
  """z -> image in [-1, 1]; also the GAN's generator.

  Dense to base_size x base_size x base_width without bias, BatchNorm, ReLU;
  stride-2 transposed convolutions without bias, each with BatchNorm and
  ReLU; a 5x5 stride-1 convolution with bias to the image channels; tanh.
  With a `condition`, its embedding is appended to z.
  """
  widths: Sequence[int]
  base_width: int
  base_size: int
  channels: int
  kernel_init: layers.Initializer = nn.initializers.lecun_normal()
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  conv_transpose_impl: str = 'subpixel'
  condition_embedding: int = 32
  dtype: Any = None

  @nn.compact
  def __call__(self, z: jax.Array, train: bool,
               condition: jax.Array | None = None):
    if condition is not None:
      z = jnp.concatenate([z, _embed(self, condition).astype(z.dtype)], -1)
    x = nn.Dense(self.base_size ** 2 * self.base_width, use_bias=False,
                 kernel_init=self.kernel_init, dtype=self.dtype)(z)
    x = nn.relu(_norm(self, train)(x))
    x = x.reshape(x.shape[0], self.base_size, self.base_size, self.base_width)
    for width in self.widths:
      x = layers.ConvTranspose2x(width, 5, use_bias=False,
                                 impl=self.conv_transpose_impl,
                                 kernel_init=self.kernel_init,
                                 dtype=self.dtype)(x)
      x = nn.relu(_norm(self, train)(x))
    x = nn.Conv(self.channels, (5, 5), (1, 1), layers.same_padding(5),
                kernel_init=self.kernel_init, dtype=self.dtype)(x)
    return jnp.tanh(x).astype(jnp.float32)


DIS_NORMS = ('batch', 'layer', 'none')


class Discriminator(nn.Module):
  """x -> (logit, Dis_l features).

  A 5x5 stride-1 convolution with bias and ReLU (no normalisation), then
  stride-2 convolutions without bias, each with BatchNorm and ReLU; a dense
  layer without bias, BatchNorm, ReLU; a dense logit with bias. `norm`
  replaces BatchNorm by LayerNorm or nothing (WGAN-GP needs a per-example
  critic); `spectral_norm` divides every kernel by its largest singular value
  (power iteration state in 'batch_stats').

  Dis_l is the raw output of convolution number `feature_layer` (1-based),
  before its normalisation and ReLU. With `features_only=True` the call stops
  there and returns (None, features): no layer above Dis_l runs.

  `minibatch_std` appends, before the dense layer, a channel holding the
  mean over features of their standard deviation across groups of 4 images
  (Karras et al. 2018): a batch of near-copies looks different from real
  data. With a `condition`, the logit adds the inner product of its learned
  projection with the dense layer's output (Miyato and Koyama 2018).
  """
  widths: Sequence[int]
  dense: int
  feature_layer: int
  kernel_init: layers.Initializer = nn.initializers.lecun_normal()
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  norm: str = 'batch'
  spectral_norm: bool = False
  minibatch_std: bool = False
  dtype: Any = None
  conv: layers.ConvFunction = jax.lax.conv_general_dilated

  def _linear(self, layer: nn.Module, x: jax.Array, train: bool) -> jax.Array:
    if self.spectral_norm:
      return nn.SpectralNorm(layer)(x, update_stats=train)
    return layer(x)

  def _normalize(self, x: jax.Array, train: bool) -> jax.Array:
    if self.norm == 'batch':
      return _norm(self, train)(x)
    if self.norm == 'layer':
      return nn.LayerNorm(epsilon=self.bn_epsilon, dtype=self.dtype)(x)
    return x

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, features_only: bool = False,
               condition: jax.Array | None = None):
    features = None
    for i, width in enumerate(self.widths):
      first = i == 0
      x = self._linear(nn.Conv(
          width, (5, 5), (1, 1) if first else (2, 2), layers.same_padding(5),
          use_bias=first, kernel_init=self.kernel_init, dtype=self.dtype,
          conv_general_dilated=self.conv), x, train)
      if i + 1 == self.feature_layer:
        features = x.astype(jnp.float32)
        if features_only:
          return None, features
      x = nn.relu(x if first else self._normalize(x, train))
    if self.minibatch_std:
      x = _with_minibatch_std(x)
    x = x.reshape(x.shape[0], -1)
    x = self._linear(nn.Dense(self.dense, use_bias=False,
                              kernel_init=self.kernel_init, dtype=self.dtype),
                     x, train)
    x = nn.relu(self._normalize(x, train))
    logit = self._linear(nn.Dense(1, kernel_init=self.kernel_init,
                                  dtype=self.dtype), x, train)[:, 0]
    if condition is not None:
      projection = self._linear(nn.Dense(
          self.dense, use_bias=False, kernel_init=self.kernel_init,
          dtype=self.dtype, name='condition_projection'), condition, train)
      logit = logit + jnp.sum(projection * x, axis=-1)
    return logit.astype(jnp.float32), features


def _with_minibatch_std(x: jax.Array, group: int = 4) -> jax.Array:
  """[B, H, W, C] -> [B, H, W, C + 1]: the extra channel is the mean over
  (H, W, C) of the standard deviation across each group of `group`
  consecutive images (the whole batch if it does not divide)."""
  b = x.shape[0]
  group = group if b % group == 0 else b
  grouped = x.astype(jnp.float32).reshape(b // group, group, *x.shape[1:])
  std = jnp.sqrt(jnp.var(grouped, axis=1) + 1e-8)  # [B / group, H, W, C]
  stat = jnp.repeat(jnp.mean(std, axis=(1, 2, 3)), group)  # [B]
  channel = jnp.broadcast_to(stat[:, None, None, None].astype(x.dtype),
                             (*x.shape[:3], 1))
  return jnp.concatenate([x, channel], axis=-1)


@dataclasses.dataclass(frozen=True)
class Networks:
  """The three modules of one configuration, initialised and applied by
  name: the one place that passes a conditional model its conditions."""
  encoder: Encoder
  decoder: Decoder
  discriminator: Discriminator

  def init(self, name: str, rng: jax.Array, x: jax.Array,
           condition: jax.Array | None = None, **kwargs) -> Any:
    """`Module.init` of the network `name` ('encoder', 'decoder' or
    'discriminator'); `condition` is passed only if given."""
    if condition is not None:
      kwargs['condition'] = condition
    return getattr(self, name).init(rng, x, **kwargs)

  def apply(self, name: str, variables: Any, x: jax.Array,
            condition: jax.Array | None = None, **kwargs) -> Any:
    """`Module.apply` of the network `name`, e.g. `nets.apply('decoder',
    variables, z, condition, train=False)`; `condition` is passed only if
    given (an unconditional model takes none)."""
    if condition is not None:
      kwargs['condition'] = condition
    return getattr(self, name).apply(variables, x, **kwargs)


def build(config: ml_collections.ConfigDict) -> Networks:
  """Builds the encoder, decoder and discriminator from `config`.

  The config is assumed valid (`validation.validate`).

  Args:
    config: uses `config.model` and `config.data.{image_size, channels}`.

  Returns:
    The three (unbound) flax modules.
  """
  spec = architectures.resolve(config.model)
  size, channels = config.data.image_size, config.data.channels
  n_up = len(spec['decoder_widths'])
  dtype = jnp.dtype(config.model.dtype)
  conv = layers.conv_for_platform()  # the strided-gradient form on CPU only
  common = dict(kernel_init=layers.kernel_init(config.model.init),
                bn_momentum=config.model.bn_momentum,
                bn_epsilon=config.model.bn_epsilon, dtype=dtype)
  embedding = config.model.condition_embedding
  return Networks(
      encoder=Encoder(spec['encoder_widths'], spec['encoder_dense'],
                      spec['latent_dim'], condition_embedding=embedding,
                      conv=conv, **common),
      decoder=Decoder(spec['decoder_widths'], spec['decoder_base_width'],
                      size // 2 ** n_up, channels,
                      conv_transpose_impl=config.model.conv_transpose_impl,
                      condition_embedding=embedding, **common),
      discriminator=Discriminator(spec['discriminator_widths'],
                                  spec['discriminator_dense'],
                                  spec['dis_feature_layer'],
                                  norm=config.model.dis_norm,
                                  spectral_norm=config.model.spectral_norm,
                                  minibatch_std=config.model.minibatch_std,
                                  conv=conv, **common),
  )
