"""bfloat16 computation (`config.model.dtype`): float32 state, bf16 maths.

Parameters, optimizer states and BatchNorm statistics stay float32, every
convolution and dense layer of the step runs in bfloat16, the losses are
float32, and one step lands within a stated tolerance of the float32 step.
"""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np

from tests import helpers
from vaegan_jax.model import state as state_lib
from vaegan_jax.model import algorithm as step_lib

RNG = jax.random.key(1)

# One step from the same state and images, bfloat16 against float32: losses
# within 1%, gradient norms within 5% (measured: 0.02% and 1.5%).
LOSS_RTOL, GRAD_NORM_RTOL = 1e-2, 5e-2


def _configs():
  f32 = helpers.tiny_config()
  bf16 = helpers.tiny_config(model__dtype='bfloat16')
  return f32, bf16


def _float_dtypes(tree):
  return {x.dtype for x in jax.tree.leaves(tree)
          if jnp.issubdtype(x.dtype, jnp.floating)}


def test_bfloat16_step_keeps_float32_state_and_matches_float32():
  f32, bf16 = _configs()
  state = state_lib.create_train_state(f32, jax.random.key(0))
  batch = {'image': jnp.asarray(helpers.random_images(f32, 16))}
  results = {}
  for name, config in [('f32', f32), ('bf16', bf16)]:
    new_state, metrics = jax.jit(step_lib.make_train_step(config))(
        state, batch, RNG)
    results[name] = (new_state, metrics)
  new_state, metrics = results['bf16']
  chex.assert_tree_all_finite((new_state, metrics))
  assert _float_dtypes((new_state.params, new_state.opt_state,
                        new_state.batch_stats)) == {jnp.dtype(jnp.float32)}
  reference = results['f32'][1]
  for key in ('loss/kl', 'loss/llike', 'loss/gan_d', 'loss/gan_g'):
    assert metrics[key].dtype == jnp.float32, key
    np.testing.assert_allclose(metrics[key], reference[key],
                               rtol=LOSS_RTOL, err_msg=key)
  for net in ('encoder', 'decoder', 'discriminator'):
    key = f'grad_norm/{net}'
    np.testing.assert_allclose(metrics[key], reference[key],
                               rtol=GRAD_NORM_RTOL, err_msg=key)


def test_bfloat16_step_computes_in_bfloat16():
  _, bf16 = _configs()
  state = state_lib.abstract_train_state(bf16)
  images = jax.ShapeDtypeStruct((8, 28, 28, 1), jnp.float32)
  text = jax.jit(step_lib.make_train_step(bf16)).lower(
      state, {'image': images}, RNG).as_text()
  ops = [line for line in text.splitlines()
         if re.search(r'stablehlo\.(convolution|dot_general)', line)]
  assert len(ops) > 20
  # Both operands of every convolution and matmul, forward and backward.
  for line in ops:
    operands = re.search(r':\s*\((.*?)\)\s*->', line).group(1)
    assert operands.count('bf16') == 2, line
