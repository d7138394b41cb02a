"""Algorithm 1 of Larsen et al. (2016): one forward pass, three gradients.

    θ_Enc ← θ_Enc − ∇_Enc (kl_weight · L_prior + L_llike)
    θ_Dec ← θ_Dec − ∇_Dec (γ · L_llike − L_GAN)     [(1 − γ) · L_GAN: original]
    θ_Dis ← θ_Dis − ∇_Dis L_GAN                     [as the BCE it minimises]

`forward` computes every loss term once, at the current parameters. Two
pullbacks of its `jax.vjp` give the three gradients (`gradients`):

* the encoder's and the discriminator's from one cotangent, kl_weight ·
  L_prior + L_llike + L_GAN, because `forward` cuts the two paths the method
  forbids, as the authors' code does: the discriminator's parameters are
  constants inside L_llike (`stop_gradient`), and reconstructions shown to
  the discriminator are decoded from `stop_gradient(z)`, so the GAN loss
  never reaches the encoder;
* the decoder's from its own cotangent γ · L_llike + w · GAN term, since the
  decoder must ascend the discriminator's loss while the discriminator
  descends it, and only the decoder is weighted by γ.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from vaegan_jax import losses
from vaegan_jax import models
from vaegan_jax import optim
from vaegan_jax import state as state_lib

TERMS = ('kl', 'llike', 'gan_d', 'gan_g')
DECODER_WEIGHTINGS = ('original', 'paper')

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
PyTree = Any


def objectives(config: ml_collections.ConfigDict) -> dict[str, dict[str, float]]:
  """Each network's objective as weights of the loss terms in `TERMS`.

  'kl' is L_prior, 'llike' L_llike on Dis_l, 'gan_d' the discriminator's
  GAN loss (the BCE, −L_GAN of the paper's notation as the loss it ascends)
  and 'gan_g' the decoder's GAN term: for 'minimax' the mean of
  log(1 − D(x̂)), the part of −BCE that depends on the decoder, so the
  decoder's objective is γ · L_llike − L_GAN as in Algorithm 1.
  """
  loss = config.loss
  if loss.decoder_weighting not in DECODER_WEIGHTINGS:
    raise ValueError(
        f'Unknown config.loss.decoder_weighting={loss.decoder_weighting!r}; '
        f'choose one of {DECODER_WEIGHTINGS}.')
  gan_weight = 1.0 - loss.gamma if loss.decoder_weighting == 'original' else 1.0
  return {
      'encoder': {'kl': loss.kl_weight, 'llike': 1.0},
      'decoder': {'llike': loss.gamma, 'gan_g': gan_weight},
      'discriminator': {'gan_d': 1.0},
  }


def make_forward(config: ml_collections.ConfigDict, nets: models.Networks
                 ) -> Callable[..., tuple[dict[str, jax.Array], Any]]:
  """The forward pass of one step: loss terms as a function of parameters.

  Args:
    config: the run's configuration.
    nets: the modules of `models.build(config)`.

  Returns:
    forward(params, batch_stats, images, rng) -> (terms, (batch_stats,
    metrics)), with `terms` the scalar loss terms keyed by `TERMS`.
  """
  loss = config.loss
  gan = losses.gan_loss(loss.gan)

  def forward(params, batch_stats, images, rng):
    def apply(net, net_params, x, stats, **kwargs):
      out, mutated = nets[net].apply(
          {'params': net_params, 'batch_stats': stats}, x, train=True,
          mutable=['batch_stats'], **kwargs)
      return out, mutated['batch_stats']

    n = images.shape[0]
    k_eps, k_prior = jax.random.split(rng)
    # Z ~ Enc(X) by reparameterisation.
    (mean, logvar), enc_stats = apply('encoder', params['encoder'], images,
                                      batch_stats['encoder'])
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(k_eps, mean.shape)
    # X~ = Dec(Z); L_llike = -log N(Dis_l(X) | Dis_l(X~), I), with the
    # discriminator's parameters constants: it never minimises L_llike. The
    # BatchNorm statistics of this pass are not kept.
    recon, dec_stats = apply('decoder', params['decoder'], z,
                             batch_stats['decoder'])
    (pair_logits, features), _ = apply(
        'discriminator', jax.lax.stop_gradient(params['discriminator']),
        jnp.concatenate([recon, images]), batch_stats['discriminator'])
    llike = losses.reconstruction(features[:n], features[n:], loss.recon,
                                  loss.recon_reduction)
    # X_p = Dec(Z_p), Z_p ~ N(0, I); with discriminate_recon also Dec(Z) from
    # stop_gradient(Z) in the same batch, so the GAN loss never reaches the
    # encoder. L_GAN on X against these.
    z_gen = jax.random.normal(k_prior, mean.shape)
    if loss.discriminate_recon:
      z_gen = jnp.concatenate([z_gen, jax.lax.stop_gradient(z)])
    fakes, dec_stats = apply('decoder', params['decoder'], z_gen, dec_stats)
    (logits, _), dis_stats = apply(
        'discriminator', params['discriminator'],
        jnp.concatenate([images, fakes]), batch_stats['discriminator'])
    real_logits, fake_logits = logits[:n], logits[n:]
    sources = jnp.split(fake_logits, fakes.shape[0] // n)
    terms = {
        'kl': jnp.mean(losses.kl_divergence(mean, logvar)),
        'llike': jnp.mean(llike),
        'gan_d': gan.discriminator(real_logits, fake_logits,
                                   loss.real_weight),
        'gan_g': sum(gan.generator(s) for s in sources),
    }
    recon_logits = sources[1] if loss.discriminate_recon else pair_logits[:n]
    metrics = {
        'd/real': jnp.mean(jax.nn.sigmoid(real_logits)),
        'd/recon': jnp.mean(jax.nn.sigmoid(recon_logits)),
        'd/prior': jnp.mean(jax.nn.sigmoid(sources[0])),
        'bce/real': jnp.mean(losses.bce_real(real_logits)),
        'bce/fake': jnp.mean(losses.bce_fake(fake_logits)),
        'posterior/logvar': jnp.mean(logvar),
    }
    new_stats = {'encoder': enc_stats, 'decoder': dec_stats,
                 'discriminator': dis_stats}
    return terms, (new_stats, metrics)

  return forward


def _cotangent(terms: dict[str, jax.Array],
               weights: dict[str, float]) -> dict[str, jax.Array]:
  return {k: jnp.asarray(weights.get(k, 0.0), v.dtype)
          for k, v in terms.items()}


def make_gradients(config: ml_collections.ConfigDict, nets: models.Networks
                   ) -> Callable[..., tuple[dict[str, PyTree], Any]]:
  """Each network's gradient of its own objective, from one forward pass.

  Args:
    config: the run's configuration.
    nets: the modules of `models.build(config)`.

  Returns:
    gradients(params, batch_stats, images, rng) -> (grads, (terms,
    batch_stats, metrics)), with `grads` keyed by network.
  """
  forward = make_forward(config, nets)
  weights = objectives(config)

  def gradients(params, batch_stats, images, rng):
    terms, pullback, (new_stats, metrics) = jax.vjp(
        lambda p: forward(p, batch_stats, images, rng), params, has_aux=True)
    own = pullback(_cotangent(
        terms, {**weights['encoder'], **weights['discriminator']}))[0]
    decoder = pullback(_cotangent(terms, weights['decoder']))[0]['decoder']
    grads = {'encoder': own['encoder'], 'decoder': decoder,
             'discriminator': own['discriminator']}
    return grads, (terms, new_stats, metrics)

  return gradients


def gates(config: ml_collections.ConfigDict, metrics: Metrics
          ) -> dict[str, jax.Array]:
  """Equilibrium gating of the original (not in the paper).

  With the discriminator's mean BCE on real and on generated images: skip
  its update when either is below equilibrium − margin, skip the decoder's
  when either is above equilibrium + margin, and do both if both would be
  skipped. The encoder is always updated.

  Returns:
    {network: bool scalar, whether to apply its update}.
  """
  on = jnp.asarray(True)
  if not config.loss.equilibrium_gating:
    return {net: on for net in models.NETWORKS}
  eq, margin = config.loss.equilibrium, config.loss.margin
  real, fake = metrics['bce/real'], metrics['bce/fake']
  dis = ~((real < eq - margin) | (fake < eq - margin))
  dec = ~((real > eq + margin) | (fake > eq + margin))
  neither = ~(dis | dec)
  return {'encoder': on, 'decoder': dec | neither,
          'discriminator': dis | neither}


def _where(pred: jax.Array, new, old):
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def _check_batch(config: ml_collections.ConfigDict, batch: Batch) -> None:
  want = state_lib.image_shape(config)
  image = batch.get('image') if isinstance(batch, dict) else None
  if image is None or image.ndim != 4 or tuple(image.shape[1:]) != want:
    got = None if image is None else tuple(image.shape)
    raise ValueError(
        f"train_step expects batch={{'image': float32 [B, {want[0]}, "
        f"{want[1]}, {want[2]}]}} in [-1, 1] (from config.data.image_size "
        f"and config.data.channels) but got image of shape {got}.")


def make_train_step(config: ml_collections.ConfigDict
                    ) -> Callable[[state_lib.TrainState, Batch, jax.Array],
                                  tuple[state_lib.TrainState, Metrics]]:
  """Builds `train_step(state, batch, rng) -> (state, metrics)` for `config`.

  The returned function is pure; `parallel.jit_train_step` compiles it with
  the batch sharded across devices. Its randomness is
  `jax.random.fold_in(rng, state.step)`, so a resumed run draws the same
  noise as an uninterrupted one.

  Args:
    config: the run's configuration.

  Returns:
    The train step.
  """
  nets = models.build(config)
  txs, schedules = optim.build(config)
  gradients = make_gradients(config, nets)
  weights = objectives(config)

  def train_step(state, batch, rng):
    _check_batch(config, batch)
    rng = jax.random.fold_in(rng, state.step)
    grads, (terms, batch_stats, metrics) = gradients(
        state.params, state.batch_stats, batch['image'], rng)
    apply_update = gates(config, metrics)
    params, opt_state = {}, {}
    for net in models.NETWORKS:
      updates, new_opt = txs[net].update(grads[net], state.opt_state[net],
                                         state.params[net])
      lr = schedules[net](state.step)
      new_params = optax.apply_updates(
          state.params[net], jax.tree.map(lambda u: -lr * u, updates))
      params[net], opt_state[net] = _where(
          apply_update[net], (new_params, new_opt),
          (state.params[net], state.opt_state[net]))
      metrics[f'loss/{net}'] = sum(w * terms[k]
                                   for k, w in weights[net].items())
      metrics[f'grad_norm/{net}'] = optax.tree.norm(grads[net])
      metrics[f'param_norm/{net}'] = optax.tree.norm(params[net])
      metrics[f'lr/{net}'] = lr
      metrics[f'updated/{net}'] = apply_update[net].astype(jnp.float32)
    metrics.update({f'loss/{k}': v for k, v in terms.items()})
    new_state = state.replace(step=state.step + 1, params=params,
                              batch_stats=batch_stats, opt_state=opt_state)
    return new_state, metrics

  return train_step
