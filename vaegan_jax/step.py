"""Algorithm 1 of Larsen et al. (2016): one forward pass, three gradients.

    θ_Enc ← θ_Enc − ∇_Enc (kl_weight · L_prior + L_llike)
    θ_Dec ← θ_Dec − ∇_Dec (γ · L_llike − L_GAN)     [(1 − γ) · L_GAN: original]
    θ_Dis ← θ_Dis − ∇_Dis L_GAN                     [as the BCE it minimises]

`forward` computes every loss term once, at the current parameters. Two
pullbacks of its `jax.vjp` give the three gradients (`make_gradients`):

* the encoder's and the discriminator's from one cotangent, the sum of their
  two objectives, because `forward` cuts the two paths the method forbids, as
  the authors' code does: the discriminator's parameters are constants
  inside L_llike (`stop_gradient`), and reconstructions shown to the
  discriminator are decoded from `stop_gradient(z)`, so the GAN loss never
  reaches the encoder;
* the decoder's from its own cotangent γ · L_llike + w · GAN term, since the
  decoder must ascend the discriminator's loss while the discriminator
  descends it, and only the decoder is weighted by γ.

The decoder's L_llike gradient runs back through the same passes (the
discriminator on X̃, then the decoder on Z) as the encoder's, so it is taken
from the first pullback rather than computed twice: the decoder's parameters
enter the X̃ pass through `scale_gradient` (γ / the encoder's weight) and the
X_p pass as a separate copy (`GENERATOR`), whose gradient alone comes from
the second pullback. The result is the same, in about 13% fewer FLOPs.

The same step trains the rest of the family (`config.loss.objective`): a VAE
(pixel reconstruction, no discriminator), a GAN (no encoder), a VAE followed
by a GAN from its decoder, and a λ-blend of the VAE and GAN losses. Each is a
table of weights in `objectives`; the isolation above holds for all of them.
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

TERMS = ('kl', 'llike', 'pixel', 'gan_d', 'gan_g', 'gp')
OBJECTIVES = ('vaegan', 'vae', 'gan', 'vae_then_gan', 'blend')
DECODER_WEIGHTINGS = ('original', 'paper')
FORWARD_METRICS = ('d/real', 'd/recon', 'd/prior', 'bce/real', 'bce/fake',
                   'posterior/logvar')

# The key under which `make_gradients` passes the decoder's parameters for
# the X_p pass, so that they get a gradient of their own (`make_forward`).
GENERATOR = 'generator'
# The loss term each objective computes on the reconstruction X~ = Dec(Z).
RECON_TERM = {'vaegan': 'llike', 'vae': 'pixel', 'blend': 'pixel'}

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
PyTree = Any
Weights = dict[str, dict[str, Any]]


def trains(objective: str) -> dict[str, bool]:
  """Which networks `objective` (not 'vae_then_gan') updates."""
  return {'encoder': objective != 'gan', 'decoder': True,
          'discriminator': objective != 'vae'}


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError for loss settings that do not fit together."""
  loss = config.loss
  if loss.objective not in OBJECTIVES:
    raise ValueError(f'Unknown config.loss.objective={loss.objective!r}; '
                     f'choose one of {OBJECTIVES}.')
  if loss.decoder_weighting not in DECODER_WEIGHTINGS:
    raise ValueError(
        f'Unknown config.loss.decoder_weighting={loss.decoder_weighting!r}; '
        f'choose one of {DECODER_WEIGHTINGS}.')
  gan = losses.gan_loss(loss.gan)
  adversarial = loss.objective != 'vae'
  if adversarial and loss.equilibrium_gating and not gan.cross_entropy:
    raise ValueError(
        f'config.loss.equilibrium_gating compares the discriminator\'s '
        f'cross-entropy with its equilibrium, which config.loss.gan='
        f'{loss.gan!r} does not have; set --config.loss.equilibrium_gating='
        f'False or use minimax or non_saturating.')
  if gan.gradient_penalty and config.model.dis_norm == 'batch':
    raise ValueError(
        f'config.loss.gan={loss.gan!r} penalises the gradient of each '
        'example\'s score, which BatchNorm on batch statistics mixes across '
        'examples; set --config.model.dis_norm=layer (or none).')
  if not 0.0 <= loss.blend_lambda <= 1.0:
    raise ValueError(f'config.loss.blend_lambda={loss.blend_lambda} must be '
                     'in [0, 1].')
  if loss.n_critic < 1:
    raise ValueError(f'config.loss.n_critic={loss.n_critic} must be >= 1.')


def kl_weight(config: ml_collections.ConfigDict, step: jax.Array) -> jax.Array:
  """config.loss.kl_weight, ramped up linearly over kl_warmup_steps."""
  warmup = config.loss.kl_warmup_steps
  ramp = 1.0 if warmup <= 0 else jnp.minimum(1.0, step / warmup)
  return config.loss.kl_weight * jnp.asarray(ramp, jnp.float32)


def objectives(config: ml_collections.ConfigDict, objective: str,
               step: jax.Array | int = 0) -> Weights:
  """Each network's objective as weights of every loss term in `TERMS`.

  'kl' is L_prior, 'llike' L_llike on Dis_l, 'pixel' the pixel
  reconstruction error, 'gan_d' the discriminator's GAN loss (the BCE for
  minimax: −L_GAN in the paper's notation), 'gan_g' the decoder's GAN term
  (for minimax the mean of log(1 − D(x̂)), so the vaegan decoder descends
  γ · L_llike − L_GAN as in Algorithm 1) and 'gp' WGAN-GP's penalty.

  Args:
    config: the run's configuration.
    objective: one of `OBJECTIVES` but 'vae_then_gan' (whose phases are
      'vae' and 'gan').
    step: the global step (for the KL warm-up).

  Returns:
    {network: {term: weight}} with every term present.
  """
  loss = config.loss
  kl = kl_weight(config, step)
  gp = loss.gp_weight if losses.gan_loss(loss.gan).gradient_penalty else 0.0
  lam = loss.blend_lambda
  dis = {'gan_d': 1.0, 'gp': gp}
  if objective == 'vaegan':
    gan = 1.0 - loss.gamma if loss.decoder_weighting == 'original' else 1.0
    table = {'encoder': {'kl': kl, 'llike': 1.0},
             'decoder': {'llike': loss.gamma, 'gan_g': gan},
             'discriminator': dis}
  elif objective == 'vae':
    table = {'encoder': {'kl': kl, 'pixel': 1.0}, 'decoder': {'pixel': 1.0},
             'discriminator': {}}
  elif objective == 'gan':
    table = {'encoder': {}, 'decoder': {'gan_g': 1.0}, 'discriminator': dis}
  elif objective == 'blend':
    table = {'encoder': {'kl': (1 - lam) * kl, 'pixel': 1 - lam},
             'decoder': {'pixel': 1 - lam, 'gan_g': lam},
             'discriminator': dis}
  else:
    raise ValueError(f'No single objective {objective!r}.')
  return {net: {t: jnp.asarray(w.get(t, 0.0), jnp.float32) for t in TERMS}
          for net, w in table.items()}


def make_forward(config: ml_collections.ConfigDict, nets: models.Networks,
                 objective: str
                 ) -> Callable[..., tuple[dict[str, jax.Array], Any]]:
  """The forward pass of one step: loss terms as a function of parameters.

  Args:
    config: the run's configuration.
    nets: the modules of `models.build(config)`.
    objective: which parts run ('vae' skips the discriminator, 'gan' the
      encoder; 'vaegan' reconstructs on Dis_l, the others on pixels).

  Returns:
    forward(params, batch_stats, images, rng) -> (terms, (batch_stats,
    metrics)); every key of `TERMS` and `FORWARD_METRICS` is present (zero
    where this objective does not compute it). The X_p pass decodes with
    params[GENERATOR] where present (the same values as params['decoder']).
  """
  loss = config.loss
  gan = losses.gan_loss(loss.gan)
  latent_dim = models.latent_dim(config)
  encode, adversarial = trains(objective)['encoder'], objective != 'vae'

  def forward(params, batch_stats, images, rng):
    def apply(net, net_params, x, stats, **kwargs):
      out, mutated = nets[net].apply(
          {'params': net_params, 'batch_stats': stats}, x, train=True,
          mutable=['batch_stats'], **kwargs)
      return out, mutated.get('batch_stats', {})

    n = images.shape[0]
    k_eps, k_prior, k_gp = jax.random.split(rng, 3)
    zero = jnp.zeros((), jnp.float32)
    terms = dict.fromkeys(TERMS, zero)
    metrics = dict.fromkeys(FORWARD_METRICS, zero)
    stats = dict(batch_stats)
    if encode:
      # Z ~ Enc(X) by reparameterisation; X~ = Dec(Z).
      (mean, logvar), stats['encoder'] = apply(
          'encoder', params['encoder'], images, batch_stats['encoder'])
      z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(k_eps, mean.shape)
      recon, stats['decoder'] = apply('decoder', params['decoder'], z,
                                      batch_stats['decoder'])
      terms['kl'] = jnp.mean(losses.kl_divergence(mean, logvar))
      metrics['posterior/logvar'] = jnp.mean(logvar)
      if objective == 'vaegan':
        # L_llike = -log N(Dis_l(X) | Dis_l(X~), I), the discriminator's
        # parameters constants: it never minimises L_llike. This pass's
        # BatchNorm statistics are not kept.
        (pair_logits, features), _ = apply(
            'discriminator', jax.lax.stop_gradient(params['discriminator']),
            jnp.concatenate([recon, images]), batch_stats['discriminator'])
        terms['llike'] = jnp.mean(losses.reconstruction(
            features[:n], features[n:], loss.recon, loss.recon_reduction))
        metrics['d/recon'] = jnp.mean(jax.nn.sigmoid(pair_logits[:n]))
      else:
        terms['pixel'] = jnp.mean(losses.reconstruction(
            recon, images, loss.recon, loss.recon_reduction))
    if adversarial:
      # X_p = Dec(Z_p), Z_p ~ N(0, I); with discriminate_recon also Dec(Z)
      # from stop_gradient(Z) in the same batch, so the GAN loss never
      # reaches the encoder. L_GAN on X against these.
      z_gen = jax.random.normal(k_prior, (n, latent_dim))
      with_recon = loss.discriminate_recon and encode
      if with_recon:
        z_gen = jnp.concatenate([z_gen, jax.lax.stop_gradient(z)])
      fakes, stats['decoder'] = apply(
          'decoder', params.get(GENERATOR, params['decoder']), z_gen,
          stats['decoder'])
      (logits, _), stats['discriminator'] = apply(
          'discriminator', params['discriminator'],
          jnp.concatenate([images, fakes]), batch_stats['discriminator'])
      real, fake = logits[:n], logits[n:]
      sources = jnp.split(fake, fakes.shape[0] // n)
      terms['gan_d'] = gan.discriminator(real, fake, loss.real_weight)
      terms['gan_g'] = sum(gan.generator(s) for s in sources)
      if gan.gradient_penalty:
        critic = lambda x: apply('discriminator', params['discriminator'], x,
                                 batch_stats['discriminator'])[0][0]
        terms['gp'] = losses.gradient_penalty(critic, images, fakes[:n], k_gp)
      metrics.update({
          'd/real': jnp.mean(jax.nn.sigmoid(real)),
          'd/prior': jnp.mean(jax.nn.sigmoid(sources[0])),
          'bce/real': jnp.mean(losses.bce_real(real)),
          'bce/fake': jnp.mean(losses.bce_fake(fake)),
      })
      if with_recon:
        metrics['d/recon'] = jnp.mean(jax.nn.sigmoid(sources[1]))
    return terms, (stats, metrics)

  return forward


def make_gradients(config: ml_collections.ConfigDict, nets: models.Networks,
                   objective: str) -> Callable[..., tuple[dict[str, PyTree],
                                                          Any]]:
  """Each network's gradient of its own objective, from one forward pass.

  Args:
    config: the run's configuration.
    nets: the modules of `models.build(config)`.
    objective: one of `OBJECTIVES` but 'vae_then_gan'.

  Returns:
    gradients(params, batch_stats, images, rng, weights) -> (grads, (terms,
    batch_stats, metrics)), with `weights` from `objectives` and `grads`
    keyed by network (zero for a network the objective does not train).
  """
  forward = make_forward(config, nets, objective)
  recon_term = RECON_TERM.get(objective)

  def gradients(params, batch_stats, images, rng, weights):
    own_weights = (weights['encoder'], weights['discriminator'])
    # The X~ pass's decoder gradient comes from the first pullback, whose
    # weight on the reconstruction term is the encoder's: rescale it to the
    # decoder's (zero where neither weighs it).
    scale = jnp.asarray(1.0, jnp.float32)
    if recon_term is not None:
      own_weight = sum(w[recon_term] for w in own_weights)
      scale = jnp.where(own_weight == 0, 0.0, weights['decoder'][recon_term]
                        / jnp.where(own_weight == 0, 1.0, own_weight))

    def split_forward(p):
      p = dict(p, decoder=scale_gradient(p['decoder'], scale))
      return forward(p, batch_stats, images, rng)

    terms, pullback, (new_stats, metrics) = jax.vjp(
        split_forward, dict(params, **{GENERATOR: params['decoder']}),
        has_aux=True)
    own = pullback(_cotangent(terms, *own_weights))[0]
    generator = pullback(_cotangent(terms, weights['decoder']))[0][GENERATOR]
    grads = {'encoder': own['encoder'],
             'decoder': jax.tree.map(jnp.add, own['decoder'], generator),
             'discriminator': own['discriminator']}
    return grads, (terms, new_stats, metrics)

  return gradients


@jax.custom_vjp
def scale_gradient(tree: PyTree, scale: jax.Array) -> PyTree:
  """The identity on `tree`, whose gradient is multiplied by `scale`."""
  del scale
  return tree


def _scale_gradient_fwd(tree, scale):
  return tree, scale


def _scale_gradient_bwd(scale, cotangent):
  return (jax.tree.map(lambda c: c * scale.astype(c.dtype), cotangent),
          jnp.zeros_like(scale))


scale_gradient.defvjp(_scale_gradient_fwd, _scale_gradient_bwd)


def _cotangent(terms: dict[str, jax.Array], *tables: dict[str, Any]
               ) -> dict[str, jax.Array]:
  return {k: sum(jnp.asarray(t.get(k, 0.0), v.dtype) for t in tables)
          for k, v in terms.items()}


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


def _phases(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  objective = config.loss.objective
  return ('vae', 'gan') if objective == 'vae_then_gan' else (objective,)


def make_train_step(config: ml_collections.ConfigDict
                    ) -> Callable[[state_lib.TrainState, Batch, jax.Array],
                                  tuple[state_lib.TrainState, Metrics]]:
  """Builds `train_step(state, batch, rng) -> (state, metrics)` for `config`.

  The returned function is pure; `parallel.jit_train_step` compiles it with
  the batch sharded across devices. Its randomness is
  `jax.random.fold_in(rng, state.step)`, so a resumed run draws the same
  noise as an uninterrupted one. With `config.loss.n_critic` > 1 the
  discriminator first takes n_critic − 1 updates of its own on the same real
  images and fresh prior samples.

  Args:
    config: the run's configuration.

  Returns:
    The train step.
  """
  validate(config)
  nets = models.build(config)
  txs, schedules = optim.build(config)
  phases = _phases(config)
  grads_fns = [make_gradients(config, nets, p) for p in phases]
  critic_fn = make_gradients(config, nets, 'gan')

  def by_phase(step, values):
    """The first phase's value before pretrain_steps, then the second's."""
    if len(phases) == 1:
      return values[0]
    return _where(step < config.loss.pretrain_steps, *values)

  def update(state, net, grads, apply_update):
    updates, new_opt = txs[net].update(grads, state.opt_state[net],
                                       state.params[net])
    lr = schedules[net](state.step)
    new_params = optax.apply_updates(
        state.params[net], jax.tree.map(lambda u: -lr * u, updates))
    return _where(apply_update, (new_params, new_opt),
                  (state.params[net], state.opt_state[net])), lr

  def critic_step(state, images, rng, active):
    weights = objectives(config, 'gan', state.step)
    grads, (_, stats, _) = critic_fn(state.params, state.batch_stats, images,
                                     rng, weights)
    (params, opt), _ = update(state, 'discriminator',
                              grads['discriminator'], active)
    new_stats = _where(active, stats['discriminator'],
                       state.batch_stats['discriminator'])
    return state.replace(
        params=dict(state.params, discriminator=params),
        opt_state=dict(state.opt_state, discriminator=opt),
        batch_stats=dict(state.batch_stats, discriminator=new_stats))

  def train_step(state, batch, rng):
    _check_batch(config, batch)
    rng = jax.random.fold_in(rng, state.step)
    images = batch['image']
    step_weights = [objectives(config, p, state.step) for p in phases]
    weights = by_phase(state.step, step_weights)
    active = by_phase(state.step, [
        {net: jnp.asarray(on) for net, on in trains(p).items()}
        for p in phases])
    for i in range(config.loss.n_critic - 1):
      state = critic_step(state, images, jax.random.fold_in(rng, i + 1),
                          active['discriminator'])
    rng = jax.random.fold_in(rng, 0)
    if len(phases) == 1:
      grads, (terms, batch_stats, metrics) = grads_fns[0](
          state.params, state.batch_stats, images, rng, weights)
    else:
      grads, (terms, batch_stats, metrics) = jax.lax.cond(
          state.step < config.loss.pretrain_steps,
          *[lambda f=f: f(state.params, state.batch_stats, images, rng,
                          weights) for f in grads_fns])
    apply_update = {net: g & active[net]
                    for net, g in gates(config, metrics).items()}
    params, opt_state = {}, {}
    for net in models.NETWORKS:
      (params[net], opt_state[net]), lr = update(state, net, grads[net],
                                                  apply_update[net])
      metrics[f'loss/{net}'] = sum(weights[net][k] * terms[k] for k in TERMS)
      metrics[f'grad_norm/{net}'] = optax.tree.norm(grads[net])
      metrics[f'param_norm/{net}'] = optax.tree.norm(params[net])
      metrics[f'lr/{net}'] = lr
      metrics[f'updated/{net}'] = apply_update[net].astype(jnp.float32)
    metrics.update({f'loss/{k}': v for k, v in terms.items()})
    metrics['kl_weight'] = kl_weight(config, state.step)
    new_state = state.replace(step=state.step + 1, params=params,
                              batch_stats=batch_stats, opt_state=opt_state)
    return new_state, metrics

  return train_step
