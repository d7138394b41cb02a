"""The networks: shapes, parameter counts, Dis_l, initialisation,
BatchNorm and spectral normalisation."""

import functools

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from tests import helpers
from vaegan_jax.model import layers
from vaegan_jax.model import networks
from vaegan_jax.model import state as state_lib

LARSEN64_PARAMS = {
    'encoder': (5 * 5 * 3 * 64 + 2 * 64          # conv 64, BatchNorm
                + 5 * 5 * 64 * 128 + 2 * 128     # conv 128
                + 5 * 5 * 128 * 256 + 2 * 256    # conv 256
                + 8 * 8 * 256 * 1024 + 2 * 1024  # dense 1024
                + 2 * (1024 * 128 + 128)),       # mean and log-variance heads
    'decoder': (128 * 8 * 8 * 256 + 2 * 8 * 8 * 256  # dense to 8x8x256
                + 5 * 5 * 256 * 256 + 2 * 256        # deconv 256
                + 5 * 5 * 256 * 128 + 2 * 128        # deconv 128
                + 5 * 5 * 128 * 32 + 2 * 32          # deconv 32
                + 5 * 5 * 32 * 3 + 3),               # conv to RGB, with bias
    'discriminator': (5 * 5 * 3 * 32 + 32               # conv 32, bias, no BN
                      + 5 * 5 * 32 * 128 + 2 * 128      # conv 128
                      + 5 * 5 * 128 * 256 + 2 * 256     # conv 256
                      + 5 * 5 * 256 * 256 + 2 * 256     # conv 256 (Dis_l)
                      + 8 * 8 * 256 * 512 + 2 * 512     # dense 512
                      + 512 + 1),                       # logit
}


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def test_larsen64_parameter_counts():
  state = state_lib.abstract_train_state(default.get_config())
  for net, expected in LARSEN64_PARAMS.items():
    assert _count(state.params[net]) == expected, net
  # 18.1M + 4.7M + 11.0M parameters.
  assert sum(LARSEN64_PARAMS.values()) == 33_718_372


@pytest.mark.parametrize('batch', [1, 5, 64])
def test_larsen64_shapes(batch):
  config = default.get_config()
  nets = networks.build(config)
  state = state_lib.abstract_train_state(config)
  variables = lambda net: {'params': state.params[net],
                           'batch_stats': state.batch_stats[net]}
  x = jax.ShapeDtypeStruct((batch, 64, 64, 3), jnp.float32)
  z = jax.ShapeDtypeStruct((batch, 128), jnp.float32)
  mean, logvar = jax.eval_shape(
      lambda v, x: nets.encoder.apply(v, x, train=False),
      variables('encoder'), x)
  image = jax.eval_shape(lambda v, z: nets.decoder.apply(v, z, train=False),
                         variables('decoder'), z)
  logit, features = jax.eval_shape(
      lambda v, x: nets.discriminator.apply(v, x, train=False),
      variables('discriminator'), x)
  chex.assert_shape([mean, logvar], (batch, 128))
  chex.assert_shape(image, (batch, 64, 64, 3))
  chex.assert_shape(logit, (batch,))
  chex.assert_shape(features, (batch, 8, 8, 256))  # 16,384 Dis_l values


@pytest.mark.parametrize('size,batch', [(28, 2), (28, 7), (32, 4)])
def test_digits_shapes_and_range(size, batch):
  config = helpers.tiny_config(data__image_size=size)
  config.model.arch = 'digits'
  for field in ('latent_dim', 'encoder_widths', 'encoder_dense',
                'decoder_widths', 'decoder_base_width',
                'discriminator_widths', 'discriminator_dense'):
    config.model[field] = None
  nets = networks.build(config)
  state = state_lib.create_train_state(config, jax.random.key(0))
  x = jnp.asarray(helpers.random_images(config, batch))

  @jax.jit
  def run(state, x):
    v = lambda net: {'params': state.params[net],
                     'batch_stats': state.batch_stats[net]}
    mean, logvar = nets.encoder.apply(v('encoder'), x, train=False)
    image = nets.decoder.apply(v('decoder'), mean, train=False)
    logit, features = nets.discriminator.apply(v('discriminator'), x,
                                               train=False)
    return mean, logvar, image, logit, features

  mean, logvar, image, logit, features = run(state, x)
  chex.assert_shape([mean, logvar], (batch, 32))
  chex.assert_shape(image, (batch, size, size, 1))
  chex.assert_shape(logit, (batch,))
  chex.assert_shape(features, (batch, size // 4, size // 4, 64))
  assert float(jnp.max(jnp.abs(image))) <= 1.0
  chex.assert_tree_all_finite((mean, logvar, image, logit, features))


def _discriminator(config):
  nets = networks.build(config)
  state = state_lib.create_train_state(config, jax.random.key(1))
  x = jnp.asarray(helpers.random_images(config, 4))
  return nets.discriminator, state.params['discriminator'], x


@functools.partial(jax.jit, static_argnums=(0, 3))
def _features(dis, params, x, features_only=False):
  """Dis_l of `x` in training mode (BatchNorm on batch statistics)."""
  stats = dis.init(jax.random.key(0), x, train=False)['batch_stats']
  (_, features), _ = dis.apply(
      {'params': params, 'batch_stats': stats}, x, train=True,
      features_only=features_only, mutable=['batch_stats'])
  return features


def test_dis_l_is_the_raw_conv_output_before_batchnorm():
  config = helpers.tiny_config()  # Dis_l: the 3rd conv, Conv_2
  dis, params, x = _discriminator(config)
  features = _features(dis, params, x)
  chex.assert_trees_all_close(_features(dis, params, x, features_only=True),
                              features)
  assert float(jnp.min(features)) < 0  # no ReLU applied
  # Its own BatchNorm (BatchNorm_1 follows Conv_2) does not change it ...
  params = flax.core.unfreeze(params)
  bumped = jax.tree.map(lambda p: p + 3.0, params['BatchNorm_1'])
  changed = dict(params, BatchNorm_1=bumped)
  chex.assert_trees_all_close(_features(dis, changed, x), features)
  # ... while the convolution itself does.
  conv = dict(params['Conv_2'], kernel=params['Conv_2']['kernel'] * 2)
  chex.assert_trees_all_close(_features(dis, dict(params, Conv_2=conv), x),
                              2 * features, rtol=1e-5)


def test_dis_l_layer_is_configurable():
  config = helpers.tiny_config(model__dis_feature_layer=1)
  dis, params, x = _discriminator(config)
  chex.assert_shape(_features(dis, params, x), (4, 28, 28, 8))


def test_larsen_init_is_uniform_fan_in():
  kernel = layers.uniform_fan_in()(jax.random.key(0), (5, 5, 64, 128))
  limit = 1 / np.sqrt(3 * 5 * 5 * 64)
  assert float(jnp.max(jnp.abs(kernel))) <= limit
  assert float(jnp.max(jnp.abs(kernel))) > 0.99 * limit
  np.testing.assert_allclose(float(jnp.std(kernel)), limit / np.sqrt(3),
                             rtol=0.02)


def test_batchnorm_keeps_ninety_percent_of_the_running_mean():
  config = helpers.tiny_config()
  nets = networks.build(config)
  x = jnp.asarray(helpers.random_images(config, 8)) + 0.5
  variables = nets.discriminator.init(jax.random.key(0), x, train=False)
  _, mutated = jax.jit(functools.partial(
      nets.discriminator.apply, train=True, mutable=['batch_stats']))(
          variables, x)
  conv_out = _features(nets.discriminator.clone(feature_layer=2),
                       variables['params'], x)
  np.testing.assert_allclose(
      mutated['batch_stats']['BatchNorm_0']['mean'],
      0.1 * jnp.mean(conv_out, axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)


def test_spectral_norm_gives_a_largest_singular_value_near_one():
  config = helpers.tiny_config(model__spectral_norm=True)
  dis = networks.build(config).discriminator
  x = jnp.asarray(helpers.random_images(config, 4))
  variables = dis.init(jax.random.key(0), x, train=False)
  # Kernels far from unit norm, so the normalisation has work to do.
  variables = {'params': jax.tree.map(lambda p: 5.0 * p, variables['params']),
               'batch_stats': variables['batch_stats']}

  @jax.jit
  def power_iteration(stats):
    _, mutated = dis.apply({'params': variables['params'],
                            'batch_stats': stats}, x, train=True,
                           mutable=['batch_stats'])
    return mutated['batch_stats']

  stats = variables['batch_stats']
  for _ in range(200):  # one power iteration per training step
    stats = power_iteration(stats)
  for layer, index in (('Conv_1', 1), ('Dense_0', 3)):
    kernel = np.asarray(variables['params'][layer]['kernel'])
    matrix = kernel.reshape(-1, kernel.shape[-1])
    sigma = float(stats[f'SpectralNorm_{index}'][f'{layer}/kernel/sigma'])
    true_sigma = np.linalg.svd(matrix, compute_uv=False)[0]
    assert true_sigma > 3.0
    np.testing.assert_allclose(
        np.linalg.svd(matrix / sigma, compute_uv=False)[0], 1.0, rtol=0.02)
