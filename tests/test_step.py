"""Algorithm 1: each network's gradient comes from its own loss only, and the
step applies the three updates (every objective of the family).

The references are `jax.grad` of one network's loss at a time, written out
here from the paper, not read from `algorithm.weights`. Each isolation test
was checked to fail when its isolation is broken (see the issue notes):
(a) the encoder seeing L_GAN, (b) the discriminator minimising L_llike,
(c) γ reaching the encoder, (d) the decoder's γ·L_llike − L_GAN.
"""

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests import helpers
from vaegan_jax.model import algorithm
from vaegan_jax.model import networks
from vaegan_jax.model import state as state_lib

RNG = jax.random.key(42)


def _setup(config, batch_size=8):
  state = state_lib.create_train_state(config, jax.random.key(0))
  images = jnp.asarray(helpers.random_images(config, batch_size))
  return state, images


def _batch(images, condition=None):
  batch = {'image': images}
  if condition is not None:
    batch['condition'] = condition
  return batch


def _forward(config, objective, state, images, condition=None):
  """params -> the step's loss terms (and aux), the rest of the step bound."""
  hp, nets = algorithm.hyperparameters(config), networks.build(config)
  return lambda params: algorithm.loss_terms(
      hp, nets, objective, params, state.batch_stats,
      _batch(images, condition), RNG, state.replay)


def _weights(config, objective):
  return algorithm.weights(algorithm.hyperparameters(config), objective)


def _gradients(config, state, images, objective='vaegan', condition=None):
  """params -> the step's own gradients (`algorithm.losses_and_gradients`)."""
  hp, nets = algorithm.hyperparameters(config), networks.build(config)
  return lambda params: algorithm.losses_and_gradients(
      hp, nets, state.replace(params=params), _batch(images, condition), RNG,
      objective).grads


def _condition(config, batch_size=8):
  """One-hot classes for a conditional config, else None."""
  if not config.model.conditional:
    return None
  return jnp.eye(config.model.num_conditions)[
      np.arange(batch_size) % config.model.num_conditions]


def _step_gradients(config, state, images, objective='vaegan'):
  """The step's gradients and loss terms."""
  hp, nets = algorithm.hyperparameters(config), networks.build(config)
  batch = _batch(images, _condition(config))
  out = jax.jit(lambda p: algorithm.losses_and_gradients(
      hp, nets, state.replace(params=p), batch, RNG, objective))(state.params)
  return out.grads, out.terms


def _reference(config, state, images, losses, objective='vaegan'):
  """{name: jax.grad of Σ weight · term w.r.t. all parameters}, one compile.

  The decoder's parameters are one array here, used in every pass.
  """
  forward = _forward(config, objective, state, images, _condition(config))

  def loss(params, weights):
    terms, _ = forward(params)
    return sum(w * terms[t] for t, w in weights.items())

  return jax.jit(lambda p: {name: jax.grad(loss)(p, w)
                            for name, w in losses.items()})(state.params)


def _norm(tree):
  return float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(tree))))


def _slow(*values):
  """A parametrize case in the slow tier."""
  return pytest.param(*values, marks=pytest.mark.slow)


# DiffAugment (on L_llike's passes too) and R1 change what the discriminator
# sees and adds, not whose gradient is whose. R1's row: γ_R1 / 2 · k.
FEATURES = {'plain': {},
            'augment': {'loss__augment': 'color,translation,cutout',
                        'loss__augment_llike': True},
            'r1': {'loss__r1_weight': 10.0, 'loss__r1_every': 4}}
R1_ROW = {'plain': {}, 'augment': {}, 'r1': {'r1': 20.0}}
# With augmentation or R1 on, the isolation tests run in the slow tier.
_FEATURE_PARAMS = [f if f == 'plain' else _slow(f) for f in sorted(FEATURES)]


@pytest.mark.parametrize('features', _FEATURE_PARAMS)
def test_a_encoder_gradient_is_its_own_loss_alone(features):
  # With reconstructions in the GAN loss, L_GAN could reach the encoder.
  config = helpers.tiny_config(loss__discriminate_recon=True,
                               loss__kl_weight=0.7, **FEATURES[features])
  state, images = _setup(config)
  grads, _ = _step_gradients(config, state, images)
  ref = _reference(config, state, images, {'own': {'kl': 0.7, 'llike': 1.0},
                                           'gan': {'gan_d': 1.0}})
  helpers.assert_leaves_close(grads['encoder'], ref['own']['encoder'],
                              rtol=1e-5)
  assert _norm(grads['encoder']) > 0
  # The GAN loss does depend on the decoded reconstructions.
  assert _norm(ref['gan']['decoder']) > 0


@pytest.mark.parametrize('features', _FEATURE_PARAMS)
def test_b_discriminator_gradient_is_the_gan_loss_alone(features):
  config = helpers.tiny_config(loss__discriminate_recon=True,
                               **FEATURES[features])
  state, images = _setup(config)
  grads, _ = _step_gradients(config, state, images)
  ref = _reference(config, state, images,
                   {'gan': {'gan_d': 1.0, **R1_ROW[features]}})
  helpers.assert_leaves_close(grads['discriminator'],
                              ref['gan']['discriminator'], rtol=1e-5)
  assert _norm(grads['discriminator']) > 0


@pytest.mark.parametrize('weighting,gan_weight', [('original', 0.7),
                                                  ('paper', 1.0)])
def test_d_decoder_gradient_is_gamma_llike_minus_gan(weighting, gan_weight):
  config = helpers.tiny_config(loss__gamma=0.3,
                               loss__decoder_weighting=weighting)
  state, images = _setup(config)
  grads, _ = _step_gradients(config, state, images)
  ref = _reference(config, state, images,
                   {'own': {'llike': 0.3, 'gan_g': gan_weight}})
  helpers.assert_leaves_close(grads['decoder'], ref['own']['decoder'],
                              rtol=1e-5)


@pytest.mark.parametrize('field,values,owner', [
    ('gamma', (1e-6, 0.5), 'decoder'),     # (c) γ reaches the decoder only
    ('kl_weight', (1.0, 3.0), 'encoder'),
])
def test_c_a_loss_weight_changes_only_its_networks_update(field, values,
                                                          owner):
  # RMSProp's first step is about lr·sign(g): float32 rounding in a tiny
  # gradient, which XLA fuses differently for other constants, becomes a
  # whole step. With eps = 1 the update is lr·g/√(g²/10 + 1), about lr·g, so
  # a network's update moves with its gradient only; lr = 1 keeps it far
  # above the rounding of the parameters it is added to.
  optim = {'optim__eps': 1.0, 'optim__lr': 1.0}
  state, images = _setup(helpers.tiny_config(**optim))
  updates = []
  for value in values:
    config = helpers.tiny_config(loss__equilibrium_gating=False, **optim)
    config.loss[field] = value
    new_state, _ = jax.jit(algorithm.make_train_step(config))(
        state, {'image': images}, RNG)
    updates.append(jax.tree.map(lambda a, b: a - b, new_state.params,
                                state.params))
  for net in networks.NETWORKS:
    diff = helpers.max_abs_diff(updates[0][net], updates[1][net])
    scale = max(float(jnp.max(jnp.abs(x)))
                for x in jax.tree.leaves(updates[0][net]))
    if net == owner:
      assert diff > 1e-3 * scale, (field, net)
    else:
      assert diff <= 1e-5 * scale, (field, net, diff)


# The objectives' tables against the mechanism: with several objectives and
# losses, every network gets jax.grad of its own row, and a network the
# objective does not train gets zero. The plain objectives run in the fast
# tier; the combinations of features, each 6-10 s to trace, in the slow one.
@pytest.mark.parametrize('objective,overrides', [
    ('vae', {}),
    ('gan', {}),
    ('blend', {'loss__blend_lambda': 0.3}),
    _slow('vaegan', {'loss__gan': 'wgan_gp', 'model__dis_norm': 'layer',
                     'loss__equilibrium_gating': False}),
    _slow('blend', {'loss__gan': 'hinge', 'loss__equilibrium_gating': False,
                    'model__spectral_norm': True}),
    # Class-conditional, with both remedies for mode collapse.
    _slow('vaegan', {'model__conditional': True, 'model__num_conditions': 10,
                     'model__minibatch_std': True, 'loss__replay_size': 16}),
    # DiffAugment on replayed samples too, and R1 on every step.
    _slow('gan', {'loss__augment': 'translation,cutout',
                  'loss__r1_weight': 5.0, 'loss__r1_every': 1,
                  'loss__gan': 'non_saturating', 'loss__replay_size': 16,
                  'loss__equilibrium_gating': False}),
])
def test_every_network_gets_its_own_objectives_gradient(objective, overrides):
  config = helpers.tiny_config(loss__discriminate_recon=True,
                               loss__objective=objective, **overrides)
  state, images = _setup(config)
  grads, terms = _step_gradients(config, state, images, objective)
  rows = _weights(config, objective)
  ref = _reference(config, state, images,
                   {net: row for net, row in rows.items() if row}, objective)
  for net in networks.NETWORKS:
    if rows[net]:  # the decoder's terms weighed after their pullbacks
      helpers.assert_leaves_close(grads[net], ref[net][net], rtol=1e-5)
    assert (_norm(grads[net]) > 0) == bool(rows[net]), net
  chex.assert_tree_all_finite(terms)


def test_the_decoders_llike_backward_pass_is_the_encoders():
  # ∇ L_llike runs back through the same passes for both networks; the
  # compiled gradients cost no more than pulling L_llike back once.
  config = helpers.tiny_config()
  state, images = _setup(config)
  forward = _forward(config, 'vaegan', state, images)
  weights = _weights(config, 'vaegan')

  def one_cotangent_per_network(params):
    terms, pullback, _ = jax.vjp(forward, params, has_aux=True)
    grad = lambda row: pullback({t: jnp.asarray(row.get(t, 0.0), v.dtype)
                                 for t, v in terms.items()})[0]
    return (grad(weights['encoder'])['encoder'],
            grad(weights['decoder'])['decoder'],
            grad(weights['discriminator'])['discriminator'])

  def flops(fn):
    cost = jax.jit(fn).lower(state.params).compile().cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)['flops']

  shared = flops(_gradients(config, state, images))
  assert shared < 0.95 * flops(one_cotangent_per_network)


def test_the_generator_copy_gives_the_same_gradients_for_less_work():
  # The decoder's parameters, read a second time by its generator passes,
  # let each decoder term's backward pass stop where its own passes end.
  config = helpers.tiny_config()
  state, images = _setup(config)
  hp, nets = algorithm.hyperparameters(config), networks.build(config)

  def grads(separate):
    return lambda params: algorithm.losses_and_gradients(
        hp, nets, state.replace(params=params), _batch(images), RNG,
        'vaegan', separate_generator=separate).grads

  def compiled(separate):
    return jax.jit(grads(separate)).lower(state.params).compile()

  def flops(step):
    cost = step.cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)['flops']

  copy, one = compiled(True), compiled(False)
  helpers.assert_leaves_close(copy(state.params), one(state.params),
                              rtol=1e-5)
  assert flops(copy) < 0.85 * flops(one)


def test_discriminator_layers_above_dis_l_do_not_change_the_encoder_update():
  # Test config: Dis_l is the raw output of Conv_2; BatchNorm_1 (its own
  # BatchNorm), Dense_0, BatchNorm_2 and Dense_1 come after it.
  config = helpers.tiny_config(loss__discriminate_recon=True)
  state, images = _setup(config)
  dis = flax.core.unfreeze(state.params['discriminator'])
  perturb = lambda names: {k: (jax.tree.map(lambda p: p * 1.5 + 0.1, v)
                               if k in names else v) for k, v in dis.items()}
  above = perturb({'BatchNorm_1', 'Dense_0', 'BatchNorm_2', 'Dense_1'})
  below = perturb({'Conv_1'})
  step_gradients = _gradients(config, state, images)
  gradients = jax.jit(lambda params: step_gradients(params)['encoder'])
  base = gradients(state.params)
  for params, same in [(above, True), (below, False)]:
    diff = helpers.max_abs_diff(
        gradients(dict(state.params, discriminator=params)), base)
    assert (diff <= 1e-9) == same, diff


def _train(config, steps, batch_size=8):
  state, _ = _setup(config)
  chex.clear_trace_counter()
  train_step = jax.jit(chex.assert_max_traces(
      algorithm.make_train_step(config), n=1))
  history = [state]
  for i in range(steps):
    images = jnp.asarray(helpers.random_images(config, batch_size, seed=i))
    state, metrics = train_step(state, {'image': images}, RNG)
    history.append(state)
  return history, metrics


def _changed(a, b, net):
  return helpers.max_abs_diff(a.params[net], b.params[net]) > 0


def test_step_compiles_once_updates_everything_and_is_finite():
  history, metrics = _train(helpers.tiny_config(), 3)
  chex.assert_tree_all_finite((history[-1], metrics))
  assert int(history[-1].step) == 3
  for net in networks.NETWORKS:
    assert _changed(history[0], history[-1], net), net
    assert helpers.max_abs_diff(history[0].batch_stats[net],
                                history[-1].batch_stats[net]) > 0, net
  for key in ('loss/kl', 'loss/llike', 'loss/gan_d', 'loss/gan_g',
              'loss/encoder', 'loss/decoder', 'loss/discriminator',
              'd/real', 'd/recon', 'd/prior', 'grad_norm/encoder',
              'grad_norm/decoder', 'grad_norm/discriminator',
              'param_norm/encoder', 'lr/decoder', 'updated/discriminator',
              'kl_weight'):
    assert key in metrics, key


def test_step_noise_is_derived_from_the_step():
  config = helpers.tiny_config()
  state, images = _setup(config)
  train_step = jax.jit(algorithm.make_train_step(config))
  _, m0 = train_step(state, {'image': images}, RNG)
  _, m0_again = train_step(state, {'image': images}, RNG)
  _, m1 = train_step(state.replace(step=state.step + 1), {'image': images},
                     RNG)
  assert float(m0['loss/kl']) == float(m0_again['loss/kl'])
  assert float(m0['loss/llike']) != float(m1['loss/llike'])


def test_gated_network_keeps_its_parameters_and_optimizer_state():
  # A discriminator threshold no BCE can reach: D is always skipped.
  config = helpers.tiny_config(loss__equilibrium_gating=True,
                               loss__equilibrium=100.0, loss__margin=1.0)
  history, metrics = _train(config, 1)
  before, after = history
  assert float(metrics['updated/discriminator']) == 0.0
  chex.assert_trees_all_equal(after.params['discriminator'],
                              before.params['discriminator'])
  chex.assert_trees_all_equal(after.opt_state['discriminator'],
                              before.opt_state['discriminator'])
  assert _changed(before, after, 'encoder')


@pytest.mark.parametrize('objective,overrides', [
    ('vae', {}),
    ('gan', {}),
    ('blend', {'loss__blend_lambda': 0.5}),
    ('vaegan', {'loss__gan': 'lsgan'}),
    ('vaegan', {'loss__gan': 'non_saturating',
                'loss__discriminate_recon': True}),
])
def test_each_objective_trains_only_its_networks(objective, overrides):
  config = helpers.tiny_config(loss__objective=objective,
                               loss__equilibrium_gating=False, **overrides)
  history, metrics = _train(config, 2)
  chex.assert_tree_all_finite(metrics)
  for net, trained in algorithm.trained_networks(objective).items():
    assert _changed(history[0], history[-1], net) == trained, net
  if objective == 'vae':
    assert float(metrics['loss/pixel']) > 0
    assert float(metrics['loss/gan_d']) == 0
  if objective == 'gan':
    assert float(metrics['loss/kl']) == 0 and float(metrics['loss/gan_d']) > 0


def test_vae_then_gan_switches_at_pretrain_steps():
  config = helpers.tiny_config(loss__objective='vae_then_gan',
                               loss__pretrain_steps=2,
                               loss__equilibrium_gating=False)
  history, _ = _train(config, 4)
  # Steps 0 and 1 train the VAE, steps 2 and 3 the GAN from its decoder.
  for before, after, vae_phase in [(0, 2, True), (2, 4, False)]:
    a, b = history[before], history[after]
    assert _changed(a, b, 'encoder') == vae_phase
    assert _changed(a, b, 'discriminator') == (not vae_phase)
    assert _changed(a, b, 'decoder')


@pytest.mark.slow  # four compiles of the step, about 5 s
def test_vae_then_gan_computes_the_phase_of_its_step_exactly():
  config = helpers.tiny_config(loss__objective='vae_then_gan',
                               loss__pretrain_steps=2,
                               loss__equilibrium_gating=False)
  state, images = _setup(config)
  for step, phase in ((1, 'vae'), (2, 'gan')):
    at = state.replace(step=jnp.asarray(step, state.step.dtype))
    grads, terms = _step_gradients(config, at, images, objective=None)
    want_grads, want_terms = _step_gradients(config, at, images, phase)
    helpers.assert_leaves_close(grads, want_grads, rtol=1e-5)
    chex.assert_trees_all_close(terms, want_terms, rtol=1e-5, atol=1e-6)


def test_n_critic_updates_the_discriminator_n_times_per_step():
  config = helpers.tiny_config(loss__n_critic=3,
                               loss__equilibrium_gating=False)
  assert config.optim.name == 'adam'
  history, _ = _train(config, 2)
  counts = lambda net: [int(x) for x in jax.tree.leaves(
      history[-1].opt_state[net]) if np.ndim(x) == 0]
  assert set(counts('discriminator')) == {6}
  assert set(counts('encoder')) == {2} and set(counts('decoder')) == {2}


@pytest.mark.slow
def test_larsen64_step_is_finite():
  from configs import default  # pylint: disable=g-import-not-at-top
  history, metrics = _train(default.get_config(), 1, batch_size=4)
  chex.assert_tree_all_finite(metrics)
  assert int(history[-1].step) == 1
