"""Each network's loss, as a row of weights over the loss terms.

The train step computes every loss term once per step (`TERMS`); a network's
loss is its row of `weights(config, objective, step)` times those terms. The
'vaegan' table is Algorithm 1 of Larsen et al. (2016) as data:

    network        kl     llike   gan_d   gan_g        gp
    encoder        β      1       .       .            .
    decoder        .      γ       .       1 − γ  [1]   .
    discriminator  .      .       1       .            λ_gp  [2]

β is `loss.kl_weight` (ramped over `loss.kl_warmup_steps`); [1] 1 − γ as the
authors' code (`loss.decoder_weighting='original'`), 1 as the paper writes
it ('paper'); [2] WGAN-GP only. 'gan_d' is the discriminator's loss (the BCE
for minimax: −L_GAN), 'gan_g' the decoder's GAN term (for minimax the mean of
log(1 − D(x̂)), so the decoder descends γ·L_llike − L_GAN). The other
objectives of the family are tables of the same terms.

Equilibrium gating (`gates`) is the original's rule for skipping the
decoder's or the discriminator's update.
"""

import jax
import jax.numpy as jnp
import ml_collections

from vaegan_jax.model import losses
from vaegan_jax.model import networks

NETWORKS = networks.NETWORKS
# 'kl' L_prior; 'llike' L_llike on Dis_l; 'pixel' the pixel reconstruction
# error; 'gan_d', 'gan_g' the two sides of the GAN loss; 'gp' WGAN-GP's
# gradient penalty.
TERMS = ('kl', 'llike', 'pixel', 'gan_d', 'gan_g', 'gp')
OBJECTIVES = ('vaegan', 'vae', 'gan', 'vae_then_gan', 'blend')
DECODER_WEIGHTINGS = ('original', 'paper')

Weights = dict[str, dict[str, jax.Array]]


def phases(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The objectives a run trains in turn: 'vae_then_gan' is 'vae' for
  `loss.pretrain_steps` steps, then 'gan'; any other objective is itself."""
  objective = config.loss.objective
  return ('vae', 'gan') if objective == 'vae_then_gan' else (objective,)


def trained_networks(objective: str) -> dict[str, bool]:
  """Whether `objective` (one phase) updates each network."""
  return {'encoder': objective != 'gan', 'decoder': True,
          'discriminator': objective != 'vae'}


def kl_weight(config: ml_collections.ConfigDict,
              step: jax.Array | int) -> jax.Array:
  """`loss.kl_weight`, ramped up linearly over `loss.kl_warmup_steps`."""
  warmup = config.loss.kl_warmup_steps
  ramp = 1.0 if warmup <= 0 else jnp.minimum(1.0, step / warmup)
  return config.loss.kl_weight * jnp.asarray(ramp, jnp.float32)


def weights(config: ml_collections.ConfigDict, objective: str,
            step: jax.Array | int = 0) -> Weights:
  """Each network's loss as weights of the loss terms.

  Args:
    config: the run's configuration.
    objective: one phase: 'vaegan', 'vae', 'gan' or 'blend'.
    step: the global step (for the KL warm-up).

  Returns:
    {network: {term: float32 weight}}: every network, and the terms its loss
    weighs (a term absent from a row has weight 0).
  """
  loss = config.loss
  kl = kl_weight(config, step)
  discriminator = {'gan_d': 1.0}
  if losses.gan_loss(loss.gan).gradient_penalty:
    discriminator['gp'] = loss.gp_weight
  lam = loss.blend_lambda
  if objective == 'vaegan':
    gan = 1.0 - loss.gamma if loss.decoder_weighting == 'original' else 1.0
    table = {'encoder': {'kl': kl, 'llike': 1.0},
             'decoder': {'llike': loss.gamma, 'gan_g': gan},
             'discriminator': discriminator}
  elif objective == 'vae':
    table = {'encoder': {'kl': kl, 'pixel': 1.0}, 'decoder': {'pixel': 1.0},
             'discriminator': {}}
  elif objective == 'gan':
    table = {'encoder': {}, 'decoder': {'gan_g': 1.0},
             'discriminator': discriminator}
  elif objective == 'blend':
    table = {'encoder': {'kl': (1 - lam) * kl, 'pixel': 1 - lam},
             'decoder': {'pixel': 1 - lam, 'gan_g': lam},
             'discriminator': discriminator}
  else:
    raise ValueError(f'No single-phase objective {objective!r}; choose one of '
                     f'{[o for o in OBJECTIVES if o != "vae_then_gan"]}.')
  return {net: {t: jnp.asarray(w, jnp.float32) for t, w in row.items()}
          for net, row in table.items()}


def gates(config: ml_collections.ConfigDict, bce_real: jax.Array,
          bce_fake: jax.Array) -> dict[str, jax.Array]:
  """Equilibrium gating of the authors' code (not in the paper).

  With the discriminator's mean BCE on real and on generated images: skip
  its update when either is below equilibrium − margin, skip the decoder's
  when either is above equilibrium + margin, and do both if both would be
  skipped. The encoder is always updated.

  Returns:
    {network: bool scalar, whether to apply its update}.
  """
  on = jnp.asarray(True)
  if not config.loss.equilibrium_gating:
    return dict.fromkeys(NETWORKS, on)
  low = config.loss.equilibrium - config.loss.margin
  high = config.loss.equilibrium + config.loss.margin
  discriminator = ~((bce_real < low) | (bce_fake < low))
  decoder = ~((bce_real > high) | (bce_fake > high))
  neither = ~(discriminator | decoder)
  return {'encoder': on, 'decoder': decoder | neither,
          'discriminator': discriminator | neither}
