"""The train step: Algorithm 1 of Larsen et al. (2016).

    θ_Enc ← θ_Enc − ∇_Enc (L_prior + L_llike)
    θ_Dec ← θ_Dec − ∇_Dec (γ·L_llike − L_GAN)
    θ_Dis ← θ_Dis − ∇_Dis L_GAN

`forward.make_forward` computes every loss term once, at the current
parameters; `gradients` pulls each network's own row of the weight table
(`objectives.weights`) back through that one forward pass; `make_train_step`
applies the three updates with one optax state per network. The same step
trains the rest of the family (`config.loss.objective`): VAE, GAN, a VAE then
a GAN from its decoder, and a λ-blend of the two losses.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from vaegan_jax.model import forward as forward_lib
from vaegan_jax.model import networks
from vaegan_jax.model import objectives
from vaegan_jax.model import optim
from vaegan_jax.model import replay as replay_lib
from vaegan_jax.model import state as state_lib

AS_GENERATOR = forward_lib.AS_GENERATOR
Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
PyTree = Any


# The decoder's parameters in each loss term that reaches them: its X~ = Dec(Z)
# pass for the reconstruction terms, its passes as the generator for L_GAN.
DECODER_ROLE = {'llike': 'decoder', 'pixel': 'decoder', 'gan_g': AS_GENERATOR}


# Algorithm 1, each network's gradient from its own loss only:
#   θ_Enc ← θ_Enc − ∇_Enc (L_prior + L_llike)
#   θ_Dec ← θ_Dec − ∇_Dec (γ·L_llike − L_GAN)
#   θ_Dis ← θ_Dis − ∇_Dis L_GAN
def gradients(forward: Callable[[PyTree], tuple[dict[str, jax.Array], Any]],
              params: dict[str, PyTree], weights: objectives.Weights
              ) -> tuple[dict[str, PyTree], dict[str, jax.Array], Any]:
  """The three gradients, from one `jax.vjp` of the forward pass.

  Args:
    forward: params -> (loss terms, aux), e.g. `forward.make_forward`'s
      with the batch bound.
    params: {network: parameters}.
    weights: {network: {term: weight}}, each network's loss
      (`objectives.weights`).

  Returns:
    ({network: gradient of its own loss}, loss terms, aux).
  """
  primals = dict(params, **{AS_GENERATOR: params['decoder']})
  terms, pullback, aux = jax.vjp(forward, primals, has_aux=True)

  def gradient_of(row):  # ∇ of Σ_t row[t] · terms[t], w.r.t. every primal
    return pullback({t: jnp.asarray(row.get(t, 0.0), v.dtype)
                     for t, v in terms.items()})[0]

  # Encoder and discriminator: each pulls back its own row of the table.
  encoder = gradient_of(weights['encoder'])['encoder']
  discriminator = gradient_of(weights['discriminator'])['discriminator']
  # Decoder, term by term as the authors' code: γ·∇_Dec L_llike +
  # (1 − γ)·∇_Dec(gan_g). ∇ L_llike runs back through the encoder's passes,
  # which XLA then computes once for both networks.
  decoder = [jax.tree.map(lambda g, w=w: w * g,
                          gradient_of({term: 1.0})[DECODER_ROLE[term]])
             for term, w in weights['decoder'].items()]
  grads = {'encoder': encoder,
           'decoder': jax.tree.map(lambda *g: sum(g), *decoder),
           'discriminator': discriminator}
  return grads, terms, aux


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
  condition = state_lib.condition_shape(config)
  got = batch.get('condition')
  if (condition is None) != (got is None) or (
      got is not None and tuple(got.shape) != (image.shape[0], *condition)):
    raise ValueError(
        f"A {'' if condition else 'un'}conditional model's train_step expects "
        + (f"batch['condition'] float32 [B, {condition[0]}]" if condition
           else "no batch['condition']") + ' (config.model.conditional), '
        f"got {None if got is None else tuple(got.shape)}.")


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
  nets = networks.build(config)
  txs, schedules = optim.build(config)
  phases = objectives.phases(config)
  forwards = {p: forward_lib.make_forward(config, nets, p) for p in {*phases, 'gan'}}

  def by_phase(step, values):
    """The first phase's value before pretrain_steps, then the second's."""
    if len(values) == 1:
      return values[0]
    return _where(step < config.loss.pretrain_steps, *values)

  def phase_gradients(state, batch, rng):
    """Gradients, loss terms, aux and each network's loss of this phase."""
    def run(phase):
      def branch():
        weights = objectives.weights(config, phase, state.step)
        forward = lambda p: forwards[phase](p, state.batch_stats, batch, rng,
                                            state.replay)
        grads, terms, aux = gradients(forward, state.params, weights)
        network_losses = {net: sum((w * terms[t] for t, w in row.items()),
                                   jnp.zeros((), jnp.float32))
                          for net, row in weights.items()}
        return grads, terms, aux, network_losses
      return branch
    if len(phases) == 1:
      return run(phases[0])()
    return jax.lax.cond(state.step < config.loss.pretrain_steps,
                        *[run(p) for p in phases])

  def update(state, net, grads, apply_update):
    """The new (params, opt_state) of `net`, or the old if not applied."""
    updates, new_opt = txs[net].update(grads, state.opt_state[net],
                                       state.params[net])
    lr = schedules[net](state.step)
    new_params = optax.apply_updates(
        state.params[net], jax.tree.map(lambda u: -lr * u, updates))
    return _where(apply_update, (new_params, new_opt),
                  (state.params[net], state.opt_state[net])), lr

  def critic_step(state, batch, rng, active):
    """One update of the discriminator alone (n_critic > 1)."""
    forward = lambda p: forwards['gan'](p, state.batch_stats, batch, rng,
                                        state.replay)
    grads, _, (stats, _, _) = gradients(
        forward, state.params, objectives.weights(config, 'gan', state.step))
    (params, opt), _ = update(state, 'discriminator', grads['discriminator'],
                              active)
    new_stats = _where(active, stats['discriminator'],
                       state.batch_stats['discriminator'])
    return state.replace(
        params=dict(state.params, discriminator=params),
        opt_state=dict(state.opt_state, discriminator=opt),
        batch_stats=dict(state.batch_stats, discriminator=new_stats))

  def train_step(state, batch, rng):
    _check_batch(config, batch)
    rng = jax.random.fold_in(rng, state.step)
    trained = by_phase(state.step, [
        {net: jnp.asarray(on) for net, on in
         objectives.trained_networks(p).items()} for p in phases])
    for i in range(config.loss.n_critic - 1):
      state = critic_step(state, batch, jax.random.fold_in(rng, i + 1),
                          trained['discriminator'])
    grads, terms, (batch_stats, metrics, fresh), network_losses = (
        phase_gradients(state, batch, jax.random.fold_in(rng, 0)))
    gates = objectives.gates(config, metrics['bce/real'], metrics['bce/fake'])
    params, opt_state = {}, {}
    for net in objectives.NETWORKS:
      apply_update = gates[net] & trained[net]
      (params[net], opt_state[net]), lr = update(state, net, grads[net],
                                                  apply_update)
      metrics[f'loss/{net}'] = network_losses[net]
      metrics[f'grad_norm/{net}'] = optax.tree.norm(grads[net])
      metrics[f'param_norm/{net}'] = optax.tree.norm(params[net])
      metrics[f'lr/{net}'] = lr
      metrics[f'updated/{net}'] = apply_update.astype(jnp.float32)
    metrics.update({f'loss/{t}': v for t, v in terms.items()})
    metrics['kl_weight'] = objectives.kl_weight(config, state.step)
    replay = state.replay
    if replay is not None:
      replay = _where(trained['discriminator'], replay_lib.add(
          replay, fresh, batch.get('condition')), replay)
    new_state = state.replace(step=state.step + 1, params=params,
                              batch_stats=batch_stats, opt_state=opt_state,
                              replay=replay)
    return new_state, metrics

  return train_step
