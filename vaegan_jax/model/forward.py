"""The forward pass of one step: every loss term from one pass of the networks.

    Z ~ q(Z|X)   X~ = Dec(Z)   X_p = Dec(Z_p), Z_p ~ N(0, I)
    L_prior = KL(q(Z|X) || p(Z))
    L_llike = -log N(Dis_l(X) | Dis_l(X~), I)        (pixels for the VAE)
    L_GAN   = log Dis(X) + log(1 - Dis(X_p)) [+ log(1 - Dis(X~))]
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from vaegan_jax.model import architectures
from vaegan_jax.model import losses
from vaegan_jax.model import networks
from vaegan_jax.model import objectives
from vaegan_jax.model import replay as replay_lib

# The decoder's parameters a second time, for its passes as the GAN's
# generator (on Z_p ~ p(Z), and on Z when the discriminator also judges
# reconstructions), so that `gradients` can weigh those passes by the
# decoder's GAN weight and its X~ = Dec(Z) pass by γ.
AS_GENERATOR = 'decoder_as_generator'
FORWARD_METRICS = ('d/real', 'd/recon', 'd/prior', 'bce/real', 'bce/fake',
                   'posterior/logvar')


def make_forward(config: ml_collections.ConfigDict, nets: networks.Networks,
                 objective: str) -> Callable[..., tuple[dict[str, jax.Array],
                                                        Any]]:
  """The forward pass of one step: every loss term as a function of params.

  Args:
    config: the run's configuration.
    nets: the modules of `networks.build(config)`.
    objective: one phase ('vae' runs no discriminator, 'gan' no encoder;
      'vaegan' reconstructs Dis_l, 'vae' and 'blend' pixels).

  Returns:
    forward(params, batch_stats, batch, rng, replay=None) -> (terms,
    (batch_stats, metrics, fakes)). `batch` is {'image'} plus 'condition'
    for a conditional model; `replay` the experience replay buffer
    (`state.TrainState.replay`), whose images the discriminator also judges.
    Every key of `objectives.TERMS` and `FORWARD_METRICS` is present (zero
    where `objective` does not compute it); `fakes` are this step's prior
    samples (constants; zeros without a discriminator).
    params[AS_GENERATOR], if present, decodes the generator's passes (else
    params['decoder']).
  """
  loss = config.loss
  gan = losses.gan_loss(loss.gan)
  latent_dim = architectures.latent_dim(config)
  encodes = objectives.trained_networks(objective)['encoder']
  adversarial = objective != 'vae'

  def forward(params, batch_stats, batch, rng, replay=None):
    def apply(net, net_params, x, stats, condition):
      kwargs = {} if condition is None else {'condition': condition}
      out, new = nets[net].apply({'params': net_params, 'batch_stats': stats},
                                 x, train=True, mutable=['batch_stats'],
                                 **kwargs)
      return out, new.get('batch_stats', {})

    images, cond = batch['image'], batch.get('condition')
    stack = lambda *c: None if cond is None else jnp.concatenate(c)
    n = images.shape[0]
    k_eps, k_prior, k_gp = jax.random.split(rng, 3)
    terms = dict.fromkeys(objectives.TERMS, jnp.zeros((), jnp.float32))
    metrics = dict.fromkeys(FORWARD_METRICS, jnp.zeros((), jnp.float32))
    stats = dict(batch_stats)
    fresh = jnp.zeros_like(images)  # without a discriminator: no samples
    if encodes:
      # Z ~ q(Z|X) by reparameterisation; X~ = Dec(Z).
      (mean, logvar), stats['encoder'] = apply(
          'encoder', params['encoder'], images, batch_stats['encoder'], cond)
      z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(k_eps, mean.shape)
      recon, stats['decoder'] = apply('decoder', params['decoder'], z,
                                      batch_stats['decoder'], cond)
      terms['kl'] = jnp.mean(losses.kl_divergence(mean, logvar))
      metrics['posterior/logvar'] = jnp.mean(logvar)
      if objective == 'vaegan':
        # L_llike = -log N(Dis_l(X) | Dis_l(X~), I). The discriminator's
        # parameters are constants here, as in the authors' code (its row
        # of the table does not weigh L_llike either); the BatchNorm
        # statistics of this pass are not kept.
        (logits, features), _ = apply(
            'discriminator', jax.lax.stop_gradient(params['discriminator']),
            jnp.concatenate([recon, images]), batch_stats['discriminator'],
            stack(cond, cond))
        terms['llike'] = jnp.mean(losses.reconstruction(
            features[:n], features[n:], loss.recon, loss.recon_reduction))
        metrics['d/recon'] = jnp.mean(jax.nn.sigmoid(logits[:n]))
      else:
        terms['pixel'] = jnp.mean(losses.reconstruction(
            recon, images, loss.recon, loss.recon_reduction))
    if adversarial:
      # X_p = Dec(Z_p), Z_p ~ N(0, I), and with discriminate_recon Dec(Z)
      # from stop_gradient(Z); the discriminator judges X against them (and
      # against replayed past samples).
      z_fake, fake_cond = jax.random.normal(k_prior, (n, latent_dim)), cond
      with_recon = loss.discriminate_recon and encodes
      if with_recon:
        z_fake = jnp.concatenate([z_fake, jax.lax.stop_gradient(z)])
        fake_cond = stack(cond, cond)
      fakes, stats['decoder'] = apply(
          'decoder', params.get(AS_GENERATOR, params['decoder']), z_fake,
          stats['decoder'], fake_cond)
      fresh = jax.lax.stop_gradient(fakes[:n])
      (logits, _), stats['discriminator'] = apply(
          'discriminator', params['discriminator'],
          jnp.concatenate([images, fakes]), batch_stats['discriminator'],
          stack(cond, fake_cond))
      real, fake = logits[:n], logits[n:]
      sources = jnp.split(fake, fakes.shape[0] // n)
      judged = fake
      if replay is not None:
        # Past samples, judged in a pass of their own (its BatchNorm
        # statistics not kept), so the decoder's loss does not depend on
        # them: they only add to the discriminator's loss.
        old, old_cond = replay_lib.sample(replay, fresh, cond,
                                          loss.replay_fraction,
                                          jax.random.fold_in(rng, 3))
        (old_logits, _), _ = apply(
            'discriminator', params['discriminator'], old,
            batch_stats['discriminator'], old_cond)
        judged = jnp.concatenate([fake, old_logits])
      terms['gan_d'] = gan.discriminator(real, judged, loss.real_weight)
      terms['gan_g'] = sum(gan.generator(s) for s in sources)
      if gan.gradient_penalty:
        critic = lambda x: apply('discriminator', params['discriminator'], x,
                                 batch_stats['discriminator'], cond)[0][0]
        terms['gp'] = losses.gradient_penalty(critic, images, fakes[:n], k_gp)
      metrics.update({
          'd/real': jnp.mean(jax.nn.sigmoid(real)),
          'd/prior': jnp.mean(jax.nn.sigmoid(sources[0])),
          'bce/real': jnp.mean(losses.bce_real(real)),
          'bce/fake': jnp.mean(losses.bce_fake(fake)),
      })
      if with_recon:
        metrics['d/recon'] = jnp.mean(jax.nn.sigmoid(sources[1]))
    return terms, (stats, metrics, fresh)

  return forward
