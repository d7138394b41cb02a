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


RECONSTRUCTIONS = ('l2', 'l1')
REDUCTIONS = ('sum', 'mean')


def reconstruction(pred: jax.Array, target: jax.Array, kind: str = 'l2',
                   reduction: str = 'sum') -> jax.Array:
  """Reconstruction error per example, in feature or pixel space.

  'l2' is the Gaussian negative log-likelihood -log N(target | pred, I)
  without its constant: ½‖pred − target‖². 'l1' is ‖pred − target‖₁.

  Args:
    pred: [B, ...] features (or pixels) of the reconstruction.
    target: [B, ...] features (or pixels) of the data.
    kind: 'l2' or 'l1'.
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

  discriminator(real_logits, fake_logits, real_weight) -> scalar.
  generator(fake_logits) -> scalar, for one source of generated images.
  """
  discriminator: Callable[[jax.Array, jax.Array, float], jax.Array]
  generator: Callable[[jax.Array], jax.Array]


def bce_discriminator(real_logits: jax.Array, fake_logits: jax.Array,
                      real_weight: float = 0.5) -> jax.Array:
  """The discriminator's cross-entropy, −L_GAN of the paper.

  real_weight · mean(−log D(x)) + (1 − real_weight) · mean(−log(1 − D(x̂))),
  the original weighting real against all generated images 0.5 : 0.5.
  """
  return (real_weight * jnp.mean(bce_real(real_logits))
          + (1.0 - real_weight) * jnp.mean(bce_fake(fake_logits)))


def minimax_generator(fake_logits: jax.Array) -> jax.Array:
  """The original's saturating decoder term: minimise mean log(1 − D(x̂))."""
  return -jnp.mean(bce_fake(fake_logits))


def non_saturating_generator(fake_logits: jax.Array) -> jax.Array:
  """The usual alternative: minimise mean −log D(x̂)."""
  return jnp.mean(bce_real(fake_logits))


GAN_LOSSES: dict[str, GanLoss] = {
    'minimax': GanLoss(bce_discriminator, minimax_generator),
    'non_saturating': GanLoss(bce_discriminator, non_saturating_generator),
}


def gan_loss(name: str) -> GanLoss:
  """Returns the GAN objective called `name` (see `GAN_LOSSES`)."""
  if name not in GAN_LOSSES:
    raise ValueError(f'Unknown config.loss.gan={name!r}; choose one of '
                     f'{sorted(GAN_LOSSES)}.')
  return GAN_LOSSES[name]
