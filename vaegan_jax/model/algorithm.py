"""Algorithm 1 of Larsen et al. (2016): one train step, top to bottom.

    Z ~ q(Z|X)   X~ = Dec(Z)   X_p = Dec(Z_p), Z_p ~ N(0, I)
    L_prior = KL(q(Z|X) || p(Z))
    L_llike = -log N(Dis_l(X) | Dis_l(X~), I)        (pixels for the VAE)
    L_GAN   = log Dis(X) + log(1 - Dis(X_p)) [+ log(1 - Dis(X~))]

    θ_Enc ← θ_Enc − ∇_Enc (L_prior + L_llike)
    θ_Dec ← θ_Dec − ∇_Dec (γ·L_llike − L_GAN)
    θ_Dis ← θ_Dis − ∇_Dis L_GAN

In reading order: `Hyperparameters`, what the step reads of the config, read
once; `loss_terms`, every loss term from one pass of the networks; `weights`,
each network's loss as a row of weights over those terms, beside
`losses_and_gradients`, which pulls each row back through one `jax.vjp` of
that pass; `gates`, the original's equilibrium gating; `make_train_step`,
the three optax updates. The same step trains the rest of the family
(`config.loss.objective`): a VAE, a GAN, a VAE then a GAN from its decoder
('vae_then_gan'), and a λ-blend of the two losses.

BatchNorm running statistics, the one policy:
- The encoder's update in its pass on X.
- The decoder's update twice per step: in its pass X~ = Dec(Z), then in its
  pass as the generator (on Z_p, and on stop_gradient(Z) with
  discriminate_recon), which starts from the first pass's statistics. Both
  are the decoder at work, on the two kinds of code it decodes at inference
  (encodings and prior samples).
- The discriminator's update in its pass on X against the generated images,
  the pass whose logits give L_GAN.
- The passes for L_llike (Dis_l of X~ and X: the discriminator as a feature
  extractor, its parameters constants there), for replayed images and for
  WGAN-GP's penalty drop theirs: each starts from the statistics the step
  started with, and what it computes is not kept.
Every pass normalises by its own batch's statistics (train mode), so which
running statistics a pass starts from does not change its output. Changing
this policy changes every result and the statistics a checkpoint holds.
"""

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from vaegan_jax.model import architectures
from vaegan_jax.model import augment as augment_lib
from vaegan_jax.model import ema as ema_lib
from vaegan_jax.model import losses
from vaegan_jax.model import networks
from vaegan_jax.model import optim
from vaegan_jax.model import replay as replay_lib
from vaegan_jax.model import state as state_lib

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
PyTree = Any
Weights = dict[str, dict[str, jax.Array]]

NETWORKS = networks.NETWORKS
# 'kl' L_prior; 'llike' L_llike on Dis_l; 'pixel' the pixel reconstruction
# error; 'gan_d', 'gan_g' the two sides of the GAN loss; 'gp' WGAN-GP's
# gradient penalty; 'r1' R1's, E‖∇_x D(x)‖² on real images.
TERMS = ('kl', 'llike', 'pixel', 'gan_d', 'gan_g', 'gp', 'r1')
OBJECTIVES = ('vaegan', 'vae', 'gan', 'vae_then_gan', 'blend')
DECODER_WEIGHTINGS = ('original', 'paper')
# The decoder's parameters a second time, for its passes as the generator.
# `losses_and_gradients` differentiates at both copies (the same arrays) and
# pulls each decoder term back to the copy its passes read: a term's
# backward pass then stops where its own passes end. With one copy, XLA runs
# every decoder term back through every decoder pass, with zero cotangents
# where a term does not reach: the digits step does 30.6 GFLOP against 20.6
# with the copy (tests/test_step.py, the test of `separate_generator`).
GENERATOR = 'decoder_as_generator'
# The copy of the decoder each decoder term reaches.
DECODER_PASS = {'llike': 'decoder', 'pixel': 'decoder', 'gan_g': GENERATOR}
FORWARD_METRICS = ('d/real', 'd/recon', 'd/prior', 'bce/real', 'bce/fake',
                   'posterior/logvar')


# --------------------------------------------------------------------------
# What the step reads of the config.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
  """The values of the config the train step uses (`config.loss` mostly).

  Attributes:
    phases: the objectives trained in turn ('vae_then_gan': 'vae' for
      `pretrain_steps` steps, then 'gan'; otherwise the objective alone).
    pretrain_steps: steps of the first phase.
    latent_dim: size of Z.
    image_shape: [H, W, C] of a batch's images.
    condition_shape: [K] of a conditional model's conditions, else None.
    gan: the GAN loss pair (`losses.GAN_LOSSES`).
    recon, recon_reduction: L_llike's (or the pixel error's) form.
    discriminate_recon: whether L_GAN also judges Dec(Z).
    real_weight: the discriminator's weight of real images against fakes.
    replay_fraction: the part of a batch replayed (with a replay buffer).
    kl_weight, kl_warmup_steps: β and the steps it ramps up over.
    gamma, decoder_weighting: γ, and the decoder's GAN weight (1 − γ
      'original', 1 'paper').
    gp_weight: λ of WGAN-GP's penalty.
    blend_lambda: λ of the 'blend' objective.
    n_critic: discriminator updates per step.
    equilibrium_gating, equilibrium, margin: the gating rule (`gates`).
    augment: DiffAugment's policies (`augment.POLICIES`; () off).
    augment_llike: whether L_llike's Dis_l passes are augmented too.
    r1_weight, r1_every: γ_R1 (0 off) and the steps between penalties.
  """
  phases: tuple[str, ...]
  pretrain_steps: int
  latent_dim: int
  image_shape: tuple[int, int, int]
  condition_shape: tuple[int] | None
  gan: losses.GanLoss
  recon: str
  recon_reduction: str
  discriminate_recon: bool
  real_weight: float
  replay_fraction: float
  kl_weight: float
  kl_warmup_steps: int
  gamma: float
  decoder_weighting: str
  gp_weight: float
  blend_lambda: float
  n_critic: int
  equilibrium_gating: bool
  equilibrium: float
  margin: float
  augment: tuple[str, ...] = ()
  augment_llike: bool = False
  r1_weight: float = 0.0
  r1_every: int = 1


def hyperparameters(config: ml_collections.ConfigDict) -> Hyperparameters:
  """Reads what the train step uses of `config`, once.

  Args:
    config: the run's configuration.

  Returns:
    The step's hyperparameters.
  """
  loss = config.loss
  objective = loss.objective
  return Hyperparameters(
      phases=('vae', 'gan') if objective == 'vae_then_gan' else (objective,),
      pretrain_steps=loss.pretrain_steps,
      latent_dim=architectures.latent_dim(config),
      image_shape=state_lib.image_shape(config),
      condition_shape=state_lib.condition_shape(config),
      gan=losses.gan_loss(loss.gan), recon=loss.recon,
      recon_reduction=loss.recon_reduction,
      discriminate_recon=loss.discriminate_recon,
      real_weight=loss.real_weight, replay_fraction=loss.replay_fraction,
      kl_weight=loss.kl_weight, kl_warmup_steps=loss.kl_warmup_steps,
      gamma=loss.gamma, decoder_weighting=loss.decoder_weighting,
      gp_weight=loss.gp_weight, blend_lambda=loss.blend_lambda,
      n_critic=loss.n_critic, equilibrium_gating=loss.equilibrium_gating,
      equilibrium=loss.equilibrium, margin=loss.margin,
      augment=augment_lib.policies(loss.augment),
      augment_llike=loss.augment_llike, r1_weight=loss.r1_weight,
      r1_every=loss.r1_every)


def trained_networks(objective: str) -> dict[str, bool]:
  """Whether `objective` (one phase) updates each network."""
  return {'encoder': objective != 'gan', 'decoder': True,
          'discriminator': objective != 'vae'}


# --------------------------------------------------------------------------
# The loss terms: one pass of the networks.
# --------------------------------------------------------------------------


class Noise(NamedTuple):
  """A step's randomness, all of it from the step's key.

  Attributes:
    eps: [B, latent] standard normal noise, Z = mean + σ·eps.
    prior: [B, latent] Z_p ~ N(0, I).
    penalty: the key of WGAN-GP's interpolation fractions.
    replay: the key that draws the replayed images.
    augment: the key of DiffAugment's draw.
  """
  eps: jax.Array
  prior: jax.Array
  penalty: jax.Array
  replay: jax.Array
  augment: jax.Array


def noise(rng: jax.Array, batch_size: int, latent_dim: int) -> Noise:
  """The noise `loss_terms` draws from `rng` for a batch."""
  k_eps, k_prior, k_gp = jax.random.split(rng, 3)
  shape = (batch_size, latent_dim)
  return Noise(jax.random.normal(k_eps, shape),
               jax.random.normal(k_prior, shape), k_gp,
               jax.random.fold_in(rng, 3), jax.random.fold_in(rng, 4))


def _apply(nets: networks.Networks, net: str, params: PyTree, x: jax.Array,
           stats: PyTree, condition: jax.Array | None
           ) -> tuple[Any, PyTree]:
  """One training-mode pass of `net`: (output, its new BatchNorm stats)."""
  out, new = nets.apply(net, {'params': params, 'batch_stats': stats}, x,
                        condition, train=True, mutable=['batch_stats'])
  return out, new.get('batch_stats', {})


def _stack(*conditions):
  """The conditions of concatenated batches (None for an unconditional
  model)."""
  return None if conditions[0] is None else jnp.concatenate(conditions)


def _vae_terms(hp, nets, objective, params, batch_stats, images, cond, eps,
               see):
  """Z ~ q(Z|X) by reparameterisation, X~ = Dec(Z); L_prior and L_llike (on
  Dis_l for 'vaegan', on pixels otherwise).

  Returns:
    (Z, terms, metrics, {'encoder', 'decoder'}: new BatchNorm statistics).
  """
  n = images.shape[0]
  stats, terms, metrics = {}, {}, {}
  (mean, logvar), stats['encoder'] = _apply(
      nets, 'encoder', params['encoder'], images, batch_stats['encoder'], cond)
  z = mean + jnp.exp(0.5 * logvar) * eps
  recon, stats['decoder'] = _apply(nets, 'decoder', params['decoder'], z,
                                   batch_stats['decoder'], cond)
  terms['kl'] = jnp.mean(losses.kl_divergence(mean, logvar))
  metrics['posterior/logvar'] = jnp.mean(logvar)
  if objective == 'vaegan':
    # L_llike = -log N(Dis_l(X) | Dis_l(X~), I). The discriminator's
    # parameters are constants here, as in the authors' code (its row of the
    # table does not weigh L_llike either).
    (logits, features), _ = _apply(
        nets, 'discriminator', jax.lax.stop_gradient(params['discriminator']),
        see(jnp.concatenate([recon, images])), batch_stats['discriminator'],
        _stack(cond, cond))
    terms['llike'] = jnp.mean(losses.reconstruction(
        features[:n], features[n:], hp.recon, hp.recon_reduction))
    metrics['d/recon'] = jnp.mean(jax.nn.sigmoid(logits[:n]))
  else:
    terms['pixel'] = jnp.mean(losses.reconstruction(
        recon, images, hp.recon, hp.recon_reduction))
  return z, terms, metrics, stats


def _gan_terms(hp, nets, params, batch_stats, decoder_stats, images, cond, z,
               rngs, replay, see, step):
  """X_p = Dec(Z_p), and with discriminate_recon Dec(stop_gradient(Z)); the
  discriminator judges X against them (and against replayed samples), each
  as `see` shows it (DiffAugment's one draw, or as they are).

  Returns:
    (terms, metrics, {'decoder', 'discriminator'}: new BatchNorm statistics,
    this step's prior samples as constants).
  """
  n = images.shape[0]
  stats = {}
  z_fake, fake_cond = rngs.prior, cond
  with_recon = hp.discriminate_recon and z is not None
  if with_recon:
    z_fake = jnp.concatenate([z_fake, jax.lax.stop_gradient(z)])
    fake_cond = _stack(cond, cond)
  fakes, stats['decoder'] = _apply(
      nets, 'decoder', params.get(GENERATOR, params['decoder']), z_fake,
      decoder_stats, fake_cond)
  fresh = jax.lax.stop_gradient(fakes[:n])
  (logits, _), stats['discriminator'] = _apply(
      nets, 'discriminator', params['discriminator'],
      see(jnp.concatenate([images, fakes])), batch_stats['discriminator'],
      _stack(cond, fake_cond))
  real, fake = logits[:n], logits[n:]
  sources = jnp.split(fake, fakes.shape[0] // n)
  judged = fake
  if replay is not None:
    # Past samples, judged in a pass of their own, so the decoder's loss
    # does not depend on them: they only add to the discriminator's loss.
    old, old_cond = replay_lib.sample(replay, fresh, cond, hp.replay_fraction,
                                      rngs.replay)
    (old_logits, _), _ = _apply(nets, 'discriminator', params['discriminator'],
                                see(old), batch_stats['discriminator'],
                                old_cond)
    judged = jnp.concatenate([fake, old_logits])
  terms = {'gan_d': hp.gan.discriminator(real, judged, hp.real_weight),
           'gan_g': sum(hp.gan.generator(s) for s in sources)}
  # The penalties' discriminator: its logits of images as `see` shows them,
  # differentiated with respect to the images before their augmentation.
  critic = lambda x: _apply(nets, 'discriminator', params['discriminator'],
                            see(x), batch_stats['discriminator'], cond)[0][0]
  if hp.gan.gradient_penalty:
    terms['gp'] = losses.gradient_penalty(critic, images, fakes[:n],
                                          rngs.penalty)
  if hp.r1_weight:  # lazy: every r1_every-th step
    terms['r1'] = losses.lazy(lambda: losses.r1_penalty(critic, images), step,
                              hp.r1_every)
  metrics = {'d/real': jnp.mean(jax.nn.sigmoid(real)),
             'd/prior': jnp.mean(jax.nn.sigmoid(sources[0])),
             'bce/real': jnp.mean(losses.bce_real(real)),
             'bce/fake': jnp.mean(losses.bce_fake(fake))}
  if with_recon:
    metrics['d/recon'] = jnp.mean(jax.nn.sigmoid(sources[1]))
  return terms, metrics, stats, fresh


def loss_terms(hp: Hyperparameters, nets: networks.Networks, objective: str,
               params: dict[str, PyTree], batch_stats: dict[str, PyTree],
               batch: Batch, rng: jax.Array,
               replay: replay_lib.Replay | None = None,
               step: jax.Array | int = 0
               ) -> tuple[dict[str, jax.Array], Any]:
  """Every loss term of one phase, from one pass of the networks.

  Args:
    hp: the step's hyperparameters.
    nets: the three modules.
    objective: one phase ('vae' runs no discriminator, 'gan' no encoder;
      'vaegan' reconstructs Dis_l, 'vae' and 'blend' pixels).
    params, batch_stats: {network: its parameters / BatchNorm statistics}.
    batch: {'image'}, plus 'condition' for a conditional model.
    rng: the key of this step's noise (`noise`).
    replay: the experience replay buffer, whose images the discriminator
      also judges, or None.
    step: the global step (R1 is computed on every `hp.r1_every`-th).

  Returns:
    (terms, (batch_stats, metrics, fakes)): every key of `TERMS` and
    `FORWARD_METRICS` (zero where `objective` does not compute it), the new
    BatchNorm statistics, and this step's prior samples (constants; zeros
    without a discriminator).
  """
  images, cond = batch['image'], batch.get('condition')
  rngs = noise(rng, images.shape[0], hp.latent_dim)
  see = lambda x: x
  if hp.augment:  # one draw for every image the discriminator judges
    draw = augment_lib.draw(rngs.augment, images.shape[0], hp.image_shape,
                            hp.augment)
    see = lambda x: augment_lib.apply(x, draw, hp.augment)
  terms = dict.fromkeys(TERMS, jnp.zeros((), jnp.float32))
  metrics = dict.fromkeys(FORWARD_METRICS, jnp.zeros((), jnp.float32))
  stats = dict(batch_stats)
  fresh = jnp.zeros_like(images)  # without a discriminator: no samples
  z = None
  if trained_networks(objective)['encoder']:
    z, new_terms, new_metrics, new_stats = _vae_terms(
        hp, nets, objective, params, batch_stats, images, cond, rngs.eps,
        see if hp.augment_llike else (lambda x: x))
    terms.update(new_terms)
    metrics.update(new_metrics)
    stats.update(new_stats)
  if objective != 'vae':
    new_terms, new_metrics, new_stats, fresh = _gan_terms(
        hp, nets, params, batch_stats, stats['decoder'], images, cond, z,
        rngs, replay, see, step)
    terms.update(new_terms)
    metrics.update(new_metrics)
    stats.update(new_stats)
  return terms, (stats, metrics, fresh)


# --------------------------------------------------------------------------
# Each network's loss: a row of weights over the terms, pulled back.
# --------------------------------------------------------------------------


def kl_weight(hp: Hyperparameters, step: jax.Array | int) -> jax.Array:
  """β, `loss.kl_weight`, ramped up linearly over `loss.kl_warmup_steps`."""
  warmup = hp.kl_warmup_steps
  ramp = 1.0 if warmup <= 0 else jnp.minimum(1.0, step / warmup)
  return hp.kl_weight * jnp.asarray(ramp, jnp.float32)


def weights(hp: Hyperparameters, objective: str,
            step: jax.Array | int = 0) -> Weights:
  """Each network's loss as weights of the loss terms.

  'vaegan' is Algorithm 1 (β the KL weight; 'gan_d' the discriminator's BCE,
  −L_GAN; 'gan_g' the decoder's side of L_GAN, for minimax the mean of
  log(1 − D(x̂)), so the decoder descends γ·L_llike − L_GAN):

      network        kl     llike   gan_d   gan_g        gp         r1
      encoder        β      1       .       .            .          .
      decoder        .      γ       .       1 − γ  [1]   .          .
      discriminator  .      .       1       .            λ_gp  [2]  γ_R1·k/2 [3]

  [1] 1 − γ as the authors' code ('original'), 1 as the paper ('paper');
  [2] WGAN-GP only; [3] with R1, computed every k = r1_every steps (zero
  between). The family's other objectives weigh the same terms.

  Args:
    hp: the step's hyperparameters.
    objective: one phase: 'vaegan', 'vae', 'gan' or 'blend'.
    step: the global step (for the KL warm-up).

  Returns:
    {network: {term: float32 weight}}: every network, and the terms its loss
    weighs (a term absent from a row has weight 0).
  """
  kl = kl_weight(hp, step)
  discriminator = {'gan_d': 1.0}
  if hp.gan.gradient_penalty:
    discriminator['gp'] = hp.gp_weight
  if hp.r1_weight:
    discriminator['r1'] = hp.r1_weight / 2 * hp.r1_every
  if objective == 'vaegan':
    gan = 1.0 - hp.gamma if hp.decoder_weighting == 'original' else 1.0
    table = {'encoder': {'kl': kl, 'llike': 1.0},
             'decoder': {'llike': hp.gamma, 'gan_g': gan},
             'discriminator': discriminator}
  else:
    table = _family_table(objective, kl, discriminator, hp.blend_lambda)
  return {net: {t: jnp.asarray(w, jnp.float32) for t, w in row.items()}
          for net, row in table.items()}


def _family_table(objective: str, kl: jax.Array, discriminator: dict,
                  lam: float) -> dict[str, dict[str, Any]]:
  """The rows of the family's other objectives: a VAE on pixels, a GAN, and
  their λ-blend."""
  if objective == 'vae':
    return {'encoder': {'kl': kl, 'pixel': 1.0}, 'decoder': {'pixel': 1.0},
            'discriminator': {}}
  if objective == 'gan':
    return {'encoder': {}, 'decoder': {'gan_g': 1.0},
            'discriminator': discriminator}
  if objective == 'blend':
    return {'encoder': {'kl': (1 - lam) * kl, 'pixel': 1 - lam},
            'decoder': {'pixel': 1 - lam, 'gan_g': lam},
            'discriminator': discriminator}
  raise ValueError(f'No single-phase objective {objective!r}; choose one of '
                   f'{[o for o in OBJECTIVES if o != "vae_then_gan"]}.')


class LossesAndGradients(NamedTuple):
  """One step's losses and gradients, and what its pass computed besides.

  Attributes:
    grads: {network: the gradient of its own loss}.
    terms: every loss term (`TERMS`).
    losses: {network: its loss, Σ weight · term over its row}.
    batch_stats: the new BatchNorm statistics.
    metrics: `FORWARD_METRICS`.
    fakes: this step's prior samples (constants).
  """
  grads: dict[str, PyTree]
  terms: dict[str, jax.Array]
  losses: dict[str, jax.Array]
  batch_stats: dict[str, PyTree]
  metrics: Metrics
  fakes: jax.Array


def losses_and_gradients(hp: Hyperparameters, nets: networks.Networks,
                         state: state_lib.TrainState, batch: Batch,
                         rng: jax.Array, objective: str | None = None,
                         separate_generator: bool = True
                         ) -> LossesAndGradients:
  """The three gradients, each of its network's own loss, from one pass.

  One `jax.vjp` of `loss_terms`; each network pulls back its own row of
  `weights`. The decoder pulls its terms back one by one, as the authors'
  code: γ·∇_Dec L_llike + (1 − γ)·∇_Dec gan_g, each to the copy of the
  decoder's parameters its passes read (`GENERATOR`). Its generator passes
  decode stop_gradient(Z), so ∇ gan_g never reaches the encoder.

  Args:
    hp: the step's hyperparameters.
    nets: the three modules.
    state: the parameters, BatchNorm statistics, replay buffer and step
      (for the KL warm-up and the phase) to differentiate at.
    batch: {'image'}, plus 'condition' for a conditional model.
    rng: the key of the step's noise (`noise`).
    objective: one phase; None: the phase of `hp.phases` at `state.step`.
    separate_generator: differentiate the generator passes at their own copy
      of the decoder's parameters (the same gradients, a third less work).

  Returns:
    The gradients, loss terms, each network's loss, and the pass's new
    BatchNorm statistics, metrics and prior samples.
  """
  if objective is None:
    if len(hp.phases) == 1:
      objective = hp.phases[0]
    else:  # 'vae_then_gan'
      first = state.step < hp.pretrain_steps
      phases = [functools.partial(losses_and_gradients, hp, nets, state,
                                  batch, rng, phase, separate_generator)
                for phase in hp.phases]
      # XLA:CPU runs the filter-gradient convolutions of a `lax.cond`
      # branch 50-100 times slower than the same convolutions outside one
      # (jaxlib 0.10), which made this objective's step 17 times slower
      # than either phase alone: on the CPU both phases are computed and
      # one is selected; elsewhere only the phase of this step runs.
      return jax.lax.platform_dependent(
          cpu=lambda: optax.tree.where(first, *[phase() for phase in phases]),
          default=lambda: jax.lax.cond(first, *phases))
  rows = weights(hp, objective, state.step)
  params = dict(state.params)
  if separate_generator:
    params[GENERATOR] = state.params['decoder']
  terms, pullback, (stats, metrics, fakes) = jax.vjp(
      lambda params: loss_terms(hp, nets, objective, params, state.batch_stats,
                                batch, rng, state.replay, state.step),
      params, has_aux=True)

  def gradient_of(row):  # ∇ of Σ_t row[t] · terms[t], w.r.t. every primal
    return pullback({t: jnp.asarray(row.get(t, 0.0), v.dtype)
                     for t, v in terms.items()})[0]

  decoder_pass = lambda term: (DECODER_PASS[term] if separate_generator
                               else 'decoder')
  decoder = [jax.tree.map(lambda g, w=w: w * g,
                          gradient_of({term: 1.0})[decoder_pass(term)])
             for term, w in rows['decoder'].items()]
  grads = {'encoder': gradient_of(rows['encoder'])['encoder'],
           'decoder': jax.tree.map(lambda *g: sum(g), *decoder),
           'discriminator': gradient_of(rows['discriminator'])['discriminator']}
  network_losses = {net: sum((w * terms[t] for t, w in row.items()),
                             jnp.zeros((), jnp.float32))
                    for net, row in rows.items()}
  return LossesAndGradients(grads, terms, network_losses, stats, metrics,
                            fakes)


# --------------------------------------------------------------------------
# Equilibrium gating.
# --------------------------------------------------------------------------


def gates(hp: Hyperparameters, bce_real: jax.Array,
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
  if not hp.equilibrium_gating:
    return dict.fromkeys(NETWORKS, on)
  low = hp.equilibrium - hp.margin
  high = hp.equilibrium + hp.margin
  discriminator = ~((bce_real < low) | (bce_fake < low))
  decoder = ~((bce_real > high) | (bce_fake > high))
  neither = ~(discriminator | decoder)
  return {'encoder': on, 'decoder': decoder | neither,
          'discriminator': discriminator | neither}


# --------------------------------------------------------------------------
# The three updates.
# --------------------------------------------------------------------------


def apply_gradients(optimizer: optax.GradientTransformationExtraArgs,
                    params: PyTree, opt_state: PyTree, grads: PyTree,
                    step: jax.Array, apply: jax.Array
                    ) -> tuple[PyTree, PyTree]:
  """One network's optax update at the global `step`, where `apply`; else
  its parameters and optimizer state unchanged (a gated update).

  Returns:
    (parameters, optimizer state).
  """
  updates, new_opt_state = optimizer.update(grads, opt_state, params,
                                            step=step)
  new_params = optax.apply_updates(params, updates)
  return optax.tree.where(apply, (new_params, new_opt_state),
                          (params, opt_state))


def check_batch(hp: Hyperparameters, batch: Batch) -> None:
  """Raises a ValueError naming the expected shapes if `batch` is not a
  batch of the configured images (and conditions)."""
  want = hp.image_shape
  image = batch.get('image') if isinstance(batch, dict) else None
  if image is None or image.ndim != 4 or tuple(image.shape[1:]) != want:
    got = None if image is None else tuple(image.shape)
    raise ValueError(
        f"train_step expects batch={{'image': float32 [B, {want[0]}, "
        f"{want[1]}, {want[2]}]}} in [-1, 1] (from config.data.image_size "
        f"and config.data.channels) but got image of shape {got}.")
  condition = hp.condition_shape
  got = batch.get('condition')
  if (condition is None) != (got is None) or (
      got is not None and tuple(got.shape) != (image.shape[0], *condition)):
    raise ValueError(
        f"A {'' if condition else 'un'}conditional model's train_step expects "
        + (f"batch['condition'] float32 [B, {condition[0]}]" if condition
           else "no batch['condition']") + ' (config.model.conditional), '
        f"got {None if got is None else tuple(got.shape)}.")


def _trained(hp: Hyperparameters, step: jax.Array) -> dict[str, jax.Array]:
  """Whether this step's phase trains each network."""
  trained = [{net: jnp.asarray(on) for net, on in
              trained_networks(phase).items()} for phase in hp.phases]
  if len(trained) == 1:
    return trained[0]
  return optax.tree.where(step < hp.pretrain_steps, *trained)


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
    config: the run's configuration (read here, once).

  Returns:
    The train step.
  """
  hp = hyperparameters(config)
  nets = networks.build(config)
  optimizers, schedules = optim.build(config)
  ema_decay = ema_lib.schedule(config)

  def update(state, net, grads, apply):
    return apply_gradients(optimizers[net], state.params[net],
                           state.opt_state[net], grads, state.step, apply)

  def critic_step(state, batch, rng, active):
    """One update of the discriminator alone (n_critic > 1)."""
    out = losses_and_gradients(hp, nets, state, batch, rng, objective='gan')
    params, opt_state = update(state, 'discriminator',
                               out.grads['discriminator'], active)
    stats = optax.tree.where(active, out.batch_stats['discriminator'],
                             state.batch_stats['discriminator'])
    return state.replace(
        params=dict(state.params, discriminator=params),
        opt_state=dict(state.opt_state, discriminator=opt_state),
        batch_stats=dict(state.batch_stats, discriminator=stats))

  def train_step(state, batch, rng):
    check_batch(hp, batch)
    rng = jax.random.fold_in(rng, state.step)
    trained = _trained(hp, state.step)
    for i in range(hp.n_critic - 1):
      state = critic_step(state, batch, jax.random.fold_in(rng, i + 1),
                          trained['discriminator'])
    out = losses_and_gradients(hp, nets, state, batch,
                               jax.random.fold_in(rng, 0))
    metrics = dict(out.metrics)
    # Equilibrium gating: a skipped network keeps its parameters and its
    # optimizer state.
    apply = gates(hp, metrics['bce/real'], metrics['bce/fake'])
    params, opt_state = {}, {}
    for net in NETWORKS:
      apply[net] = apply[net] & trained[net]
      params[net], opt_state[net] = update(state, net, out.grads[net],
                                           apply[net])
      metrics.update({
          f'loss/{net}': out.losses[net],
          f'grad_norm/{net}': optax.tree.norm(out.grads[net]),
          f'param_norm/{net}': optax.tree.norm(params[net]),
          f'lr/{net}': schedules[net](state.step),
          f'updated/{net}': apply[net].astype(jnp.float32)})
    metrics.update({f'loss/{t}': v for t, v in out.terms.items()})
    metrics['kl_weight'] = kl_weight(hp, state.step)
    replay = state.replay
    if replay is not None:
      replay = optax.tree.where(trained['discriminator'], replay_lib.add(
          replay, out.fakes, batch.get('condition')), replay)
    average = state.ema
    if average is not None:  # the decoder's moving average, after its update
      metrics['ema_decay'] = ema_decay(state.step)
      average = ema_lib.update(average, params['decoder'],
                               out.batch_stats['decoder'],
                               metrics['ema_decay'])
    return state.replace(step=state.step + 1, params=params,
                         batch_stats=out.batch_stats, opt_state=opt_state,
                         replay=replay, ema=average), metrics

  return train_step
