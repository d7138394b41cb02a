"""R1 with lazy regularisation: the penalty against hand computations on
tiny discriminators, and its schedule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaegan_jax.model import losses

RNG = np.random.default_rng(0)
REAL = jnp.asarray(RNG.normal(size=(5, 4, 4, 2)), jnp.float32)


def _linear(w, b=0.0):
  """D(x) = w · x + b, whose ∇_x D is w for every image."""
  return lambda x: x.reshape(x.shape[0], -1) @ w + b


def test_the_penalty_of_a_linear_discriminator_is_its_weights_norm():
  w = jnp.asarray(RNG.normal(size=32), jnp.float32)
  penalty = losses.r1_penalty(_linear(w, 3.0), REAL)
  np.testing.assert_allclose(penalty, float(jnp.sum(w ** 2)), rtol=1e-6)
  # Its gradient with respect to the weights: ∇_w ‖w‖² = 2w.
  grad = jax.grad(lambda v: losses.r1_penalty(_linear(v), REAL))(w)
  np.testing.assert_allclose(grad, 2 * w, rtol=1e-6)


def test_the_penalty_averages_each_real_images_gradient_norm():
  # D(x) = ½ a Σ x², ∇_x D = a·x: the penalty is a² · mean ‖x‖².
  critic = lambda x: 0.5 * 1.5 * jnp.sum(x.reshape(x.shape[0], -1) ** 2, -1)
  want = 1.5 ** 2 * np.mean(np.sum(np.asarray(REAL).reshape(5, -1) ** 2, -1))
  np.testing.assert_allclose(losses.r1_penalty(critic, REAL), want,
                             rtol=1e-5)


@pytest.mark.parametrize('every', [1, 4])
def test_lazy_computes_the_penalty_on_every_kth_step_only(every):
  penalty = lambda: jnp.float32(2.5)
  lazy = jax.jit(lambda step: losses.lazy(penalty, step, every))
  got = [float(lazy(step)) for step in range(9)]
  assert got == [2.5 if step % every == 0 else 0.0 for step in range(9)]
