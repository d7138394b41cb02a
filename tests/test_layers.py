"""The reformulated convolutions compute what XLA's and Flax's plain ones
compute.

`layers.conv_general_dilated` (the networks' strided convolutions, with their
input gradient in phase form) and `layers.conv_transpose_2x` ('subpixel', the
transposed convolution as four phase convolutions) must give the same
outputs, input gradients, kernel gradients and second derivatives as
`lax.conv_general_dilated` and `lax.conv_transpose`.
"""

import functools

import chex
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from configs import default
from vaegan_jax.model import layers
from vaegan_jax.model import networks
from vaegan_jax.model import state as state_lib

NHWC = ('NHWC', 'HWIO', 'NHWC')


def _normal(seed, shape):
  return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


def _lax_conv(x, kernel, stride, padding):
  return lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                                  dimension_numbers=NHWC)


def _ours(x, kernel, stride, padding):
  return layers.conv_general_dilated(x, kernel, (stride, stride), padding,
                                     dimension_numbers=NHWC)


def _value_and_grads(conv, x, kernel, cotangent):
  y, pullback = jax.vjp(conv, x, kernel)
  return y, pullback(cotangent)


# (input size, kernel size, stride, padding): the networks' 5x5 stride-2
# convolutions padded by 2 on even and odd sizes (64 -> 32, 7 -> 4), and
# other kernels, strides and asymmetric paddings.
CASES = [
    (8, 5, 2, ((2, 2), (2, 2))),
    (7, 5, 2, ((2, 2), (2, 2))),
    (14, 5, 2, ((2, 2), (2, 2))),
    (9, 3, 2, ((1, 1), (1, 1))),
    (10, 4, 2, ((1, 2), (2, 1))),
    (11, 5, 3, ((2, 2), (1, 0))),
    (6, 1, 2, ((0, 0), (0, 0))),
]


@pytest.mark.parametrize('size,k,stride,padding', CASES)
def test_strided_conv_equals_lax_with_gradients(size, k, stride, padding):
  x = _normal(0, (3, size, size + 1, 4))
  kernel = _normal(1, (k, k, 4, 6))
  y_ref = _lax_conv(x, kernel, stride, padding)
  cotangent = _normal(2, y_ref.shape)
  y, grads = jax.jit(lambda x, w, c: _value_and_grads(
      lambda x, w: _ours(x, w, stride, padding), x, w, c))(x, kernel,
                                                             cotangent)
  _, ref = _value_and_grads(
      lambda x, w: _lax_conv(x, w, stride, padding), x, kernel, cotangent)
  chex.assert_trees_all_close(y, y_ref, atol=1e-5, rtol=1e-5)
  chex.assert_trees_all_close(grads, ref, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize('size,k,stride,padding', CASES)
def test_phase_form_equals_lax(size, k, stride, padding):
  x = _normal(3, (2, size, size, 3))
  kernel = _normal(4, (k, k, 3, 5))
  chex.assert_trees_all_close(
      layers.strided_conv_phases(x, kernel, stride, padding),
      _lax_conv(x, kernel, stride, padding), atol=1e-5, rtol=1e-5)


def test_second_derivatives_equal_lax():
  # A gradient penalty differentiates the input gradient again.
  x = _normal(5, (2, 8, 8, 3))
  kernel = _normal(6, (5, 5, 3, 4))

  def penalty(conv):
    def f(kernel):
      gx = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, kernel))))(x)
      return jnp.sum(gx ** 2)
    return jax.grad(f)(kernel)

  padding = ((2, 2), (2, 2))
  chex.assert_trees_all_close(
      penalty(lambda x, w: _ours(x, w, 2, padding)),
      penalty(lambda x, w: _lax_conv(x, w, 2, padding)), atol=1e-4,
      rtol=1e-4)


def test_unstrided_and_other_convolutions_are_lax_itself():
  x = _normal(7, (2, 6, 6, 3))
  kernel = _normal(8, (3, 3, 3, 4))
  for kwargs in [dict(window_strides=(1, 1), padding=((1, 1), (1, 1))),
                 dict(window_strides=(2, 2), padding='SAME'),
                 dict(window_strides=(2, 2), padding=((1, 1), (1, 1)),
                      rhs_dilation=(2, 2))]:
    jaxpr = jax.make_jaxpr(lambda x, w: layers.conv_general_dilated(
        x, w, dimension_numbers=NHWC, **kwargs))(x, kernel)
    assert 'custom_vjp' not in str(jaxpr), kwargs
    chex.assert_trees_all_close(
        layers.conv_general_dilated(x, kernel, dimension_numbers=NHWC,
                                    **kwargs),
        lax.conv_general_dilated(x, kernel, dimension_numbers=NHWC,
                                 **kwargs))


def test_the_phase_form_is_chosen_on_the_cpu_only():
  assert layers.conv_for_platform('cpu') is layers.conv_general_dilated
  for platform in ('gpu', 'tpu'):
    assert layers.conv_for_platform(platform) is lax.conv_general_dilated
  # The networks built here (on the CPU) call it in their strided layers.
  config = default.get_config()
  config.model.arch = 'digits'
  config.data.image_size, config.data.channels = 28, 1
  nets = networks.build(config)
  x = jnp.zeros((2, 28, 28, 1))
  for net in (nets.encoder, nets.discriminator):
    assert net.conv is layers.conv_general_dilated
    variables = net.init(jax.random.key(0), x, train=False)
    jaxpr = jax.make_jaxpr(lambda v, x: net.apply(v, x, train=False))(
        variables, x)
    assert 'custom_vjp' in str(jaxpr), type(net).__name__


def test_flax_conv_keeps_its_parameters_and_outputs():
  x = _normal(9, (2, 9, 9, 3))
  plain = nn.Conv(5, (5, 5), (2, 2), ((2, 2), (2, 2)))
  ours = nn.Conv(5, (5, 5), (2, 2), ((2, 2), (2, 2)),
                 conv_general_dilated=layers.conv_general_dilated)
  variables = plain.init(jax.random.key(0), x)
  chex.assert_trees_all_equal_structs(ours.init(jax.random.key(0), x),
                                      variables)
  loss = lambda m: lambda v, x: jnp.sum(jnp.sin(m.apply(v, x)))
  chex.assert_trees_all_close(ours.apply(variables, x),
                              plain.apply(variables, x), atol=1e-5)
  chex.assert_trees_all_close(
      jax.grad(loss(ours), (0, 1))(variables, x),
      jax.grad(loss(plain), (0, 1))(variables, x), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize('size,kernel_size', [(7, 5), (8, 5), (5, 3), (4, 3)])
def test_subpixel_conv_transpose_equals_lax_with_gradients(size, kernel_size):
  x = _normal(10, (2, size, size + 1, 5))
  kernel = _normal(11, (kernel_size, kernel_size, 5, 3))
  transpose = lambda impl: lambda x, w: layers.conv_transpose_2x(x, w, impl)
  y_ref = transpose('lax')(x, kernel)
  chex.assert_shape(y_ref, (2, 2 * size, 2 * size + 2, 3))
  cotangent = _normal(12, y_ref.shape)
  y, grads = jax.jit(lambda x, w, c: _value_and_grads(
      transpose('subpixel'), x, w, c))(x, kernel, cotangent)
  _, ref = _value_and_grads(transpose('lax'), x, kernel, cotangent)
  chex.assert_trees_all_close(y, y_ref, atol=1e-5, rtol=1e-5)
  chex.assert_trees_all_close(grads, ref, atol=1e-4, rtol=1e-5)


def test_interleave_phases_places_each_phase():
  phases = [jnp.full((1, 2, 3, 1), float(p)) for p in range(4)]
  y = layers.interleave_phases(phases)[0, :, :, 0]
  np.testing.assert_array_equal(y[0::2, 0::2], 0)
  np.testing.assert_array_equal(y[0::2, 1::2], 1)
  np.testing.assert_array_equal(y[1::2, 0::2], 2)
  np.testing.assert_array_equal(y[1::2, 1::2], 3)


def test_bfloat16_stays_bfloat16():
  x = _normal(13, (2, 8, 8, 3)).astype(jnp.bfloat16)
  kernel = _normal(14, (5, 5, 3, 4)).astype(jnp.bfloat16)
  f = lambda x, w: jnp.sum(_ours(x, w, 2, ((2, 2), (2, 2))).astype(
      jnp.float32))
  gx, gw = jax.grad(f, (0, 1))(x, kernel)
  assert gx.dtype == jnp.bfloat16 and gw.dtype == jnp.bfloat16
  ref = jax.grad(lambda x, w: jnp.sum(_lax_conv(
      x, w, 2, ((2, 2), (2, 2))).astype(jnp.float32)), (0, 1))(x, kernel)
  chex.assert_trees_all_close((gx, gw), ref, atol=0.1, rtol=0.05)


@pytest.mark.parametrize('kernel_size', [3, 5])
def test_subpixel_conv_transpose_equals_flax_conv_transpose(kernel_size):
  p = kernel_size // 2
  flax_layer = flax.linen.ConvTranspose(
      6, (kernel_size, kernel_size), strides=(2, 2),
      padding=((p, p + 1), (p, p + 1)))
  x = jax.random.normal(jax.random.key(0), (3, 7, 8, 5))
  variables = flax_layer.init(jax.random.key(1), x)
  ours = layers.ConvTranspose2x(6, kernel_size, impl='subpixel')
  chex.assert_trees_all_equal_shapes(ours.init(jax.random.key(1), x),
                                     variables)
  y = flax_layer.apply(variables, x)
  chex.assert_shape(y, (3, 14, 16, 6))
  chex.assert_trees_all_close(ours.apply(variables, x), y, atol=1e-5)
  cotangent = jax.random.normal(jax.random.key(2), y.shape)
  grad = lambda layer: jax.grad(
      lambda v, x: jnp.sum(layer.apply(v, x) * cotangent), (0, 1))(
          variables, x)
  chex.assert_trees_all_close(grad(ours), grad(flax_layer), rtol=1e-4,
                              atol=1e-4)


@pytest.mark.slow
def test_decoder_implementations_agree():
  config = default.get_config()
  lax_config = default.get_config()
  lax_config.model.conv_transpose_impl = 'lax'
  state = state_lib.create_train_state(config, jax.random.key(0))
  v = {'params': state.params['decoder'],
       'batch_stats': state.batch_stats['decoder']}
  z = jax.random.normal(jax.random.key(1), (2, 128))
  out = lambda cfg: jax.jit(functools.partial(
      networks.build(cfg).decoder.apply, train=False))(v, z)
  chex.assert_trees_all_close(out(config), out(lax_config), atol=1e-5)
