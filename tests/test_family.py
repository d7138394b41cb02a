"""The model family: each objective trains, and its options do what they say."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests import helpers
from vaegan_jax import models
from vaegan_jax import state as state_lib
from vaegan_jax import step as step_lib
from vaegan_jax import train

RNG = jax.random.key(5)


def _train(config, steps):
  state = state_lib.create_train_state(config, jax.random.key(0))
  train_step = jax.jit(step_lib.make_train_step(config))
  history = [state]
  for i in range(steps):
    images = jnp.asarray(helpers.random_images(config, 8, seed=i))
    state, metrics = train_step(state, {'image': images}, RNG)
    chex.assert_tree_all_finite(metrics)
    history.append(state)
  return history, metrics


def _changed(a, b, net):
  return helpers.max_abs_diff(a.params[net], b.params[net]) > 0


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
  history, metrics = _train(config, 3)
  for net, trained in step_lib.trains(objective).items():
    assert _changed(history[0], history[-1], net) == trained, net
  if objective == 'vae':
    assert float(metrics['loss/pixel']) > 0 and float(metrics['loss/gan_d']) == 0
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


def test_n_critic_updates_the_discriminator_n_times_per_step():
  config = helpers.tiny_config(loss__n_critic=3, loss__equilibrium_gating=False)
  assert config.optim.name == 'adam'
  history, _ = _train(config, 2)
  counts = lambda net: [int(x) for x in jax.tree.leaves(
      history[-1].opt_state[net]) if np.ndim(x) == 0]
  assert set(counts('discriminator')) == {6}
  assert set(counts('encoder')) == {2} and set(counts('decoder')) == {2}


def test_kl_warmup_ramps_the_encoders_kl_weight():
  config = helpers.tiny_config(loss__kl_weight=2.0, loss__kl_warmup_steps=4)
  weights = [float(step_lib.objectives(config, 'vaegan', s)['encoder']['kl'])
             for s in (0, 2, 4, 9)]
  assert weights == [0.0, 1.0, 2.0, 2.0]
  assert float(step_lib.objectives(config, 'vaegan', 2)['decoder']['kl']) == 0


def test_spectral_norm_gives_a_largest_singular_value_near_one():
  config = helpers.tiny_config(model__spectral_norm=True)
  dis = models.build(config).discriminator
  x = jnp.asarray(helpers.random_images(config, 4))
  variables = dis.init(jax.random.key(0), x, train=False)
  # Kernels far from unit norm, so the normalisation has work to do.
  variables = {'params': jax.tree.map(lambda p: 5.0 * p, variables['params']),
               'batch_stats': variables['batch_stats']}

  @jax.jit
  def power_iteration(stats):
    _, mutated = dis.apply({'params': variables['params'],
                            'batch_stats': stats}, x, train=True,
                           mutable=['batch_stats'])
    return mutated['batch_stats']

  stats = variables['batch_stats']
  for _ in range(200):  # one power iteration per training step
    stats = power_iteration(stats)
  for layer, index in (('Conv_1', 1), ('Dense_0', 3)):
    kernel = np.asarray(variables['params'][layer]['kernel'])
    matrix = kernel.reshape(-1, kernel.shape[-1])
    sigma = float(stats[f'SpectralNorm_{index}'][f'{layer}/kernel/sigma'])
    true_sigma = np.linalg.svd(matrix, compute_uv=False)[0]
    assert true_sigma > 3.0
    np.testing.assert_allclose(
        np.linalg.svd(matrix / sigma, compute_uv=False)[0], 1.0, rtol=0.02)


@pytest.mark.parametrize('overrides,match', [
    ({'loss__objective': 'wgan'}, 'config.loss.objective'),
    ({'loss__gan': 'hinge'}, 'equilibrium_gating'),
    ({'loss__gan': 'wgan_gp', 'loss__equilibrium_gating': False},
     'dis_norm=layer'),
    ({'loss__blend_lambda': 1.5}, 'blend_lambda'),
    ({'model__dis_norm': 'group'}, 'config.model.dis_norm'),
])
def test_settings_that_do_not_fit_are_clear_errors(overrides, match):
  config = helpers.tiny_config(**overrides)
  with pytest.raises(ValueError, match=match):
    step_lib.make_train_step(config)


def test_skipped_updates_are_counted_per_log_interval():
  pending = [{'updated/decoder': 1.0, 'updated/discriminator': 0.0},
             {'updated/decoder': 0.0, 'updated/discriminator': 0.0},
             {'updated/decoder': 1.0, 'updated/discriminator': 1.0}]
  averaged = train._average(pending)
  assert averaged['skipped/decoder'] == 1.0
  assert averaged['skipped/discriminator'] == 2.0
  np.testing.assert_allclose(averaged['updated/decoder'], 2 / 3)
