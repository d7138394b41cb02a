"""R1 with lazy regularisation: the penalty against hand computations on
tiny discriminators, its schedule, and the discriminator's 'r1' term in the
step (every k-th step, k times)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests import helpers
from vaegan_jax.model import algorithm
from vaegan_jax.model import losses
from vaegan_jax.model import networks
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import validation

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


# --------------------------------------------------------------------------
# In the step: the discriminator's 'r1' term, lazily.
# --------------------------------------------------------------------------

STEP_RNG = jax.random.key(42)


def _step(step, **overrides):
  """The discriminator's gradient and the loss terms at `step`."""
  config = helpers.tiny_config(loss__equilibrium_gating=False, **overrides)
  state = state_lib.create_train_state(config, jax.random.key(0))
  batch = {'image': jnp.asarray(helpers.random_images(config, 8))}
  hp, nets = algorithm.hyperparameters(config), networks.build(config)
  out = jax.jit(lambda s: algorithm.losses_and_gradients(
      hp, nets, s, batch, STEP_RNG))(state.replace(step=jnp.int32(step)))
  return out.grads['discriminator'], out.terms


def _norm(tree):
  return float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(tree))))


@pytest.mark.slow
def test_a_lazy_steps_penalty_gradient_is_k_times_the_eager_ones():
  r1 = {'loss__r1_weight': 10.0}
  without, _ = _step(8)
  eager, eager_terms = _step(8, loss__r1_every=1, **r1)
  lazy, lazy_terms = _step(8, loss__r1_every=4, **r1)
  penalty = jax.tree.map(lambda a, b: a - b, eager, without)
  assert _norm(penalty) > 1e-3 * _norm(without)
  chex.assert_trees_all_close(
      jax.tree.map(lambda a, b: a - b, lazy, without),
      jax.tree.map(lambda g: 4 * g, penalty), rtol=1e-4, atol=1e-5)
  assert float(lazy_terms['r1']) == float(eager_terms['r1']) > 0
  # Between lazy steps: no penalty, the gradient of the GAN loss alone.
  between, between_terms = _step(9, loss__r1_every=4, **r1)
  chex.assert_trees_all_close(between, _step(9)[0], rtol=1e-6, atol=1e-7)
  assert float(between_terms['r1']) == 0.0


@pytest.mark.parametrize('gan', ['minimax', 'non_saturating', 'lsgan',
                                 'hinge'])
def test_every_gan_loss_takes_the_penalty(gan):
  config = helpers.tiny_config(loss__gan=gan, loss__r1_weight=1.0,
                               loss__r1_every=1, loss__equilibrium_gating=False)
  assert not validation.problems(config)
  state = state_lib.create_train_state(config, jax.random.key(0))
  batch = {'image': jnp.asarray(helpers.random_images(config, 8))}
  hp, nets = algorithm.hyperparameters(config), networks.build(config)
  terms, _ = jax.jit(lambda s: algorithm.loss_terms(
      hp, nets, 'vaegan', s.params, s.batch_stats, batch, STEP_RNG))(state)
  assert float(terms['r1']) > 0 and np.isfinite(float(terms['gan_d']))


def test_wgan_gp_with_r1_is_one_line_of_config_validation():
  config = helpers.tiny_config(loss__gan='wgan_gp', loss__r1_weight=1.0,
                               loss__equilibrium_gating=False,
                               model__dis_norm='layer')
  assert validation.problems(config) == [
      'config.loss.r1_weight=1.0 adds R1 to WGAN-GP, which has its own '
      'gradient penalty (config.loss.gp_weight); set '
      '--config.loss.r1_weight=0 or another config.loss.gan.']
