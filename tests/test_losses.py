"""Loss values against closed forms, and the directions each loss pushes."""

import jax
import jax.numpy as jnp
import numpy as np

from vaegan_jax.model import losses


def test_kl_matches_the_closed_form_per_dimension():
  mean = jnp.array([[0.0, 1.0, -2.0], [0.5, 0.0, 0.0]])
  var = jnp.array([[1.0, 0.25, 4.0], [1.0, 2.0, 0.5]])
  expected = 0.5 * np.sum(var + mean ** 2 - 1 - np.log(var), axis=-1)
  np.testing.assert_allclose(losses.kl_divergence(mean, jnp.log(var)),
                             expected, rtol=1e-6)
  assert float(losses.kl_divergence(jnp.zeros((1, 4)),
                                    jnp.zeros((1, 4)))[0]) == 0.0


def test_kl_matches_a_monte_carlo_estimate():
  mean, logvar = jnp.array([0.7, -0.3]), jnp.array([-0.5, 0.4])
  z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(
      jax.random.key(0), (200_000, 2))
  log_q = jax.scipy.stats.norm.logpdf(z, mean, jnp.exp(0.5 * logvar))
  log_p = jax.scipy.stats.norm.logpdf(z)
  estimate = float(jnp.mean(jnp.sum(log_q - log_p, axis=-1)))
  np.testing.assert_allclose(
      float(losses.kl_divergence(mean[None], logvar[None])[0]), estimate,
      rtol=0.02)


def test_reconstruction_kinds_and_reductions():
  pred = jnp.array([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]])
  target = jnp.array([[[1.0, 0.0], [0.0, 4.0]], [[1.0, -1.0], [1.0, -1.0]]])
  diff = np.asarray(pred - target).reshape(2, -1)
  np.testing.assert_allclose(losses.reconstruction(pred, target),
                             0.5 * np.sum(diff ** 2, axis=1))
  np.testing.assert_allclose(
      losses.reconstruction(pred, target, reduction='mean'),
      0.5 * np.mean(diff ** 2, axis=1))
  np.testing.assert_allclose(losses.reconstruction(pred, target, 'l1'),
                             np.sum(np.abs(diff), axis=1))


def test_bce_is_the_binary_cross_entropy_of_the_intensities():
  pred = jnp.array([[-0.8, 0.0, 0.6], [0.9, -0.2, 0.3]])
  target = jnp.array([[-1.0, 0.5, 1.0], [0.2, -0.6, 1.0]])
  p, t = (np.asarray(pred) + 1) / 2, (np.asarray(target) + 1) / 2
  expected = -np.sum(t * np.log(p) + (1 - t) * np.log(1 - p), axis=1)
  np.testing.assert_allclose(losses.reconstruction(pred, target, 'bce'),
                             expected, rtol=1e-5)
  # Lowest where the probabilities are the intensities.
  assert float(losses.reconstruction(target * 0.999, target, 'bce').sum()) < (
      float(losses.reconstruction(pred, target, 'bce').sum()))


def test_bce_of_a_saturated_pixel_is_finite_with_a_finite_gradient():
  wrong = lambda pred: jnp.sum(losses.reconstruction(
      pred, -jnp.ones((1, 2)), 'bce'))
  pred = jnp.ones((1, 2))  # a tanh that saturated at 1; the target is -1
  assert np.isfinite(float(wrong(pred))) and float(wrong(pred)) > 30
  assert np.isfinite(np.asarray(jax.grad(wrong)(pred))).all()


def test_l2_is_the_gaussian_negative_log_likelihood_up_to_a_constant():
  target = jax.random.normal(jax.random.key(0), (3, 16))
  preds = [target + 0.1, target - 0.3]
  nll = lambda p: -jnp.sum(jax.scipy.stats.norm.logpdf(target, p, 1.0), -1)
  np.testing.assert_allclose(
      losses.reconstruction(preds[0], target)
      - losses.reconstruction(preds[1], target),
      nll(preds[0]) - nll(preds[1]), rtol=1e-5)


def test_discriminator_bce_against_probabilities():
  real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5, -3.0, 1.0])
  sig = lambda x: 1 / (1 + np.exp(-np.asarray(x)))
  expected = (0.3 * np.mean(-np.log(sig(real)))
              + 0.7 * np.mean(-np.log(1 - sig(fake))))
  np.testing.assert_allclose(
      losses.bce_discriminator(real, fake, real_weight=0.3), expected,
      rtol=1e-6)


def test_bce_is_finite_for_confident_logits():
  logits = jnp.array([-200.0, 200.0])
  assert np.all(np.isfinite(losses.bce_real(logits)))
  assert np.all(np.isfinite(losses.bce_fake(logits)))


def test_generator_losses_push_fakes_towards_real():
  for name in ('minimax', 'non_saturating'):
    grad = jax.grad(losses.gan_loss(name).generator)(jnp.array([0.0, -2.0]))
    assert np.all(np.asarray(grad) < 0), name  # descending raises D(x̂)


def test_minimax_saturates_where_non_saturating_does_not():
  confident_fake = jnp.array([-10.0])  # D(x̂) ≈ 0
  minimax = jax.grad(losses.gan_loss('minimax').generator)(confident_fake)
  non_sat = jax.grad(
      losses.gan_loss('non_saturating').generator)(confident_fake)
  assert abs(float(minimax[0])) < 1e-4
  assert abs(float(non_sat[0])) > 0.99


def test_minimax_generator_is_minus_the_discriminators_fake_term():
  fake = jnp.array([0.3, -0.7, 2.0])
  np.testing.assert_allclose(
      losses.gan_loss('minimax').generator(fake),
      -losses.bce_discriminator(jnp.zeros(1), fake, real_weight=0.0),
      rtol=1e-6)


def test_lsgan_hinge_and_wasserstein_values():
  real, fake = jnp.array([1.5, 0.5]), jnp.array([-0.5, 0.2, 2.0])
  r, f = np.asarray(real), np.asarray(fake)
  cases = {
      'lsgan': (0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f ** 2),
                0.5 * np.mean((f - 1) ** 2)),
      'hinge': (0.5 * np.mean(np.maximum(0, 1 - r))
                + 0.5 * np.mean(np.maximum(0, 1 + f)), -np.mean(f)),
      'wgan_gp': (0.5 * (np.mean(f) - np.mean(r)), -np.mean(f)),
  }
  for name, (d_expected, g_expected) in cases.items():
    loss = losses.gan_loss(name)
    np.testing.assert_allclose(loss.discriminator(real, fake, 0.5),
                               d_expected, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(loss.generator(fake), g_expected, rtol=1e-6,
                               err_msg=name)
    assert not loss.cross_entropy
  assert losses.gan_loss('wgan_gp').gradient_penalty
  assert not losses.gan_loss('hinge').gradient_penalty


def _critic(x):
  """A smooth per-example critic: tanh features, then a weighted sum."""
  w = jnp.linspace(-1.0, 1.0, x[0].size).reshape(x.shape[1:])
  return jnp.sum(jnp.tanh(2.0 * x) * w, axis=tuple(range(1, x.ndim)))


def test_gradient_penalty_matches_finite_differences():
  key = jax.random.key(3)
  real = jax.random.normal(jax.random.key(0), (3, 2, 2, 1), jnp.float32)
  fake = jax.random.normal(jax.random.key(1), (3, 2, 2, 1), jnp.float32)
  penalty = float(losses.gradient_penalty(_critic, real, fake, key))
  # The same interpolates, and central differences of the critic at them.
  eps = np.asarray(jax.random.uniform(key, (3, 1, 1, 1)), np.float64)
  mixed = eps * np.asarray(real, np.float64) + (1 - eps) * np.asarray(fake)
  critic64 = lambda x: np.sum(np.tanh(2 * x) * np.linspace(-1, 1, 4).reshape(
      2, 2, 1), axis=(1, 2, 3))
  norms = []
  for i in range(3):
    grad = np.zeros(4)
    for j in range(4):
      step = np.zeros((2, 2, 1)).ravel()
      step[j] = 1e-6
      step = step.reshape(2, 2, 1)
      grad[j] = (critic64(mixed[i:i + 1] + step)[0]
                 - critic64(mixed[i:i + 1] - step)[0]) / 2e-6
    norms.append(np.linalg.norm(grad))
  np.testing.assert_allclose(penalty, np.mean((np.array(norms) - 1) ** 2),
                             rtol=1e-4)
  # A critic with unit gradient norm everywhere has no penalty.
  unit = lambda x: jnp.sum(x, axis=(1, 2, 3)) / 2.0  # ‖∇‖ = sqrt(4)/2 = 1
  assert float(losses.gradient_penalty(unit, real, fake, key)) < 1e-10
