"""VAE-GAN losses as pure functions of network outputs.

Per-example terms return shape [B]; the train step averages over the batch.
GAN losses work on logits (the sigmoid lives only inside the loss) and are
registered in `GAN_LOSSES` as a pair: the discriminator's loss, which it
minimises, and the decoder's (generator's) loss, which it minimises.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


def kl_divergence(mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(mean, exp(logvar)) || N(0, I)), summed over latent dimensions.

  Args:
    mean: [B, D] posterior means.
    logvar: [B, D] posterior log-variances.

  Returns:
    [B] KL divergence per example.
  """
  return -0.5 * jnp.sum(1.0 + logvar - mean ** 2 - jnp.exp(logvar), axis=-1)


RECONSTRUCTIONS = ('l2', 'l1', 'bce')
# Probabilities under 'bce' are clipped to [BCE_EPS, 1 − BCE_EPS], so that
# a saturated tanh pixel (exactly ±1 in float32) has a finite loss (at most
# 16.1 nats) and a finite gradient (PyTorch's binary_cross_entropy clamps
# the log at −100 instead, whose gradient there is 0 · ∞).
BCE_EPS = 1e-7
REDUCTIONS = ('sum', 'mean')


def reconstruction(pred: jax.Array, target: jax.Array, kind: str = 'l2',
                   reduction: str = 'sum') -> jax.Array:
  """Reconstruction error per example, in feature or pixel space.

  'l2' is the Gaussian negative log-likelihood -log N(target | pred, I)
  without its constant: ½‖pred − target‖². 'l1' is ‖pred − target‖₁.
  'bce' is the Bernoulli negative log-likelihood of pixels, as a VAE's
  binary cross-entropy: pixels in [-1, 1] are read as probabilities
  (x + 1) / 2 of the target's intensities (x + 1) / 2. It is for pixels
  only (`pred` the decoder's tanh output), not for Dis_l features.

  Args:
    pred: [B, ...] features (or pixels) of the reconstruction.
    target: [B, ...] features (or pixels) of the data.
    kind: 'l2', 'l1' or 'bce'.
    reduction: 'sum' over all non-batch elements (the original, a proper
      log-likelihood) or 'mean'.

  Returns:
    [B] error per example.
  """
  diff = (pred - target).reshape(pred.shape[0], -1)
  if kind == 'l2':
    err = 0.5 * diff ** 2
  elif kind == 'l1':
    err = jnp.abs(diff)
  elif kind == 'bce':
    p = jnp.clip((pred + 1.0) / 2.0, BCE_EPS, 1.0 - BCE_EPS)
    p = p.reshape(diff.shape)
    t = ((target + 1.0) / 2.0).reshape(diff.shape)
    err = -(t * jnp.log(p) + (1.0 - t) * jnp.log1p(-p))
  else:
    raise ValueError(f'Unknown config.loss.recon={kind!r}; choose one of '
                     f'{RECONSTRUCTIONS}.')
  if reduction == 'sum':
    return jnp.sum(err, axis=-1)
  if reduction == 'mean':
    return jnp.mean(err, axis=-1)
  raise ValueError(f'Unknown config.loss.recon_reduction={reduction!r}; '
                   f'choose one of {REDUCTIONS}.')


def bce_real(logits: jax.Array) -> jax.Array:
  """-log D(x) = -log sigmoid(logit), per example."""
  return jax.nn.softplus(-logits)


def bce_fake(logits: jax.Array) -> jax.Array:
  """-log(1 - D(x)) = -log sigmoid(-logit), per example."""
  return jax.nn.softplus(logits)


class GanLoss(NamedTuple):
  """A GAN objective as two losses to minimise.

  discriminator(real_logits, fake_logits, real_weight) -> scalar: weighs the
    real term by real_weight and the generated term by 1 − real_weight (the
    original's 0.5 : 0.5 halves the usual sum of the two).
  generator(fake_logits) -> scalar, for one source of generated images.
  cross_entropy: whether the outputs are logits of D(x) = sigmoid(logit),
    which equilibrium gating needs.
  gradient_penalty: whether the discriminator's loss adds
    `gradient_penalty` (WGAN-GP).
  """
  discriminator: Callable[[jax.Array, jax.Array, float], jax.Array]
  generator: Callable[[jax.Array], jax.Array]
  cross_entropy: bool = True
  gradient_penalty: bool = False


def _weighted(real_term: jax.Array, fake_term: jax.Array,
              real_weight: float) -> jax.Array:
  return (real_weight * jnp.mean(real_term)
          + (1.0 - real_weight) * jnp.mean(fake_term))


def bce_discriminator(real_logits: jax.Array, fake_logits: jax.Array,
                      real_weight: float = 0.5) -> jax.Array:
  """The discriminator's cross-entropy, −L_GAN of the paper.

  real_weight · mean(−log D(x)) + (1 − real_weight) · mean(−log(1 − D(x̂))),
  the original weighting real against all generated images 0.5 : 0.5.
  """
  return _weighted(bce_real(real_logits), bce_fake(fake_logits), real_weight)


def minimax_generator(fake_logits: jax.Array) -> jax.Array:
  """The original's saturating decoder term: minimise mean log(1 − D(x̂))."""
  return -jnp.mean(bce_fake(fake_logits))


def non_saturating_generator(fake_logits: jax.Array) -> jax.Array:
  """The usual alternative: minimise mean −log D(x̂)."""
  return jnp.mean(bce_real(fake_logits))


def lsgan_discriminator(real: jax.Array, fake: jax.Array,
                        real_weight: float = 0.5) -> jax.Array:
  """Least squares (Mao et al. 2017): real outputs to 1, generated to 0."""
  return _weighted((real - 1.0) ** 2, fake ** 2, real_weight)


def lsgan_generator(fake: jax.Array) -> jax.Array:
  """½ mean (D(x̂) − 1)²."""
  return 0.5 * jnp.mean((fake - 1.0) ** 2)


def hinge_discriminator(real: jax.Array, fake: jax.Array,
                        real_weight: float = 0.5) -> jax.Array:
  """Hinge: mean max(0, 1 − D(x)) and mean max(0, 1 + D(x̂))."""
  return _weighted(jax.nn.relu(1.0 - real), jax.nn.relu(1.0 + fake),
                   real_weight)


def wasserstein_discriminator(real: jax.Array, fake: jax.Array,
                              real_weight: float = 0.5) -> jax.Array:
  """The critic's loss: mean D(x̂) − mean D(x) (weighted)."""
  return _weighted(-real, fake, real_weight)


def critic_generator(fake: jax.Array) -> jax.Array:
  """−mean D(x̂), the generator's loss of WGAN and hinge GANs."""
  return -jnp.mean(fake)


def gradient_penalty(critic: Callable[[jax.Array], jax.Array],
                     real: jax.Array, fake: jax.Array,
                     key: jax.Array) -> jax.Array:
  """WGAN-GP's penalty E[(‖∇D(x̂)‖₂ − 1)²] at random interpolates x̂.

  Args:
    critic: images [B, ...] -> scores [B], each depending on its own image
      only (no BatchNorm on batch statistics).
    real: [B, ...] real images.
    fake: [B, ...] generated images (treated as constants).
    key: PRNG key for the interpolation fractions.

  Returns:
    The penalty (scalar), to be weighted by λ (10 in Gulrajani et al.).
  """
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1))
  mixed = eps * real + (1.0 - eps) * jax.lax.stop_gradient(fake)
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(mixed)
  norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, -1)
                   + 1e-12)
  return jnp.mean((norms - 1.0) ** 2)


def r1_penalty(critic: Callable[[jax.Array], jax.Array],
               real: jax.Array) -> jax.Array:
  """R1 (Mescheder et al. 2018): E‖∇_x D(x)‖² on real images.

  The discriminator's loss weighs it by γ_R1 / 2; with lazy regularisation
  (StyleGAN2) it is computed every k-th step only and weighed k times as
  much there (`lazy`).

  Args:
    critic: images [B, ...] -> scores [B] (logits), each depending on its
      own image (with BatchNorm on batch statistics: the gradient of the
      batch's summed scores).
    real: [B, ...] real images.

  Returns:
    The penalty (scalar).
  """
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(real)
  return jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, -1))


def lazy(penalty: Callable[[], jax.Array], step: jax.Array | int,
         every: int) -> jax.Array:
  """`penalty()` on every `every`-th step (step 0 included), else 0.

  Under `jax.jit` the penalty is computed on those steps only
  (`jax.lax.cond`); weigh it by `every` to keep its expected weight.
  """
  if every <= 1:
    return penalty()
  shape = jax.eval_shape(penalty)
  return jax.lax.cond(jnp.asarray(step) % every == 0, penalty,
                      lambda: jnp.zeros(shape.shape, shape.dtype))


GAN_LOSSES: dict[str, GanLoss] = {
    'minimax': GanLoss(bce_discriminator, minimax_generator),
    'non_saturating': GanLoss(bce_discriminator, non_saturating_generator),
    'lsgan': GanLoss(lsgan_discriminator, lsgan_generator,
                     cross_entropy=False),
    'hinge': GanLoss(hinge_discriminator, critic_generator,
                     cross_entropy=False),
    'wgan_gp': GanLoss(wasserstein_discriminator, critic_generator,
                       cross_entropy=False, gradient_penalty=True),
}


def gan_loss(name: str) -> GanLoss:
  """Returns the GAN objective called `name` (see `GAN_LOSSES`)."""
  if name not in GAN_LOSSES:
    raise ValueError(f'Unknown config.loss.gan={name!r}; choose one of '
                     f'{sorted(GAN_LOSSES)}.')
  return GAN_LOSSES[name]
