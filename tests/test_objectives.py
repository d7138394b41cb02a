"""The weight tables: each network's loss, KL warm-up and gating."""

import jax.numpy as jnp
import pytest

from tests import helpers
from vaegan_jax.model import algorithm


def _rows(config, objective, step=0):
  return {net: {t: float(w) for t, w in row.items()}
          for net, row in algorithm.weights(algorithm.hyperparameters(config), objective,
                                       step).items()}


@pytest.mark.parametrize('weighting,gan', [('original', 1 - 0.25),
                                           ('paper', 1.0)])
def test_the_vaegan_table_is_algorithm_1(weighting, gan):
  config = helpers.tiny_config(loss__gamma=0.25, loss__kl_weight=0.7,
                               loss__decoder_weighting=weighting)
  # θ_Enc: β·L_prior + L_llike; θ_Dec: γ·L_llike − L_GAN (gan_g is the
  # decoder's side of L_GAN); θ_Dis: L_GAN as the BCE it minimises.
  assert _rows(config, 'vaegan') == {
      'encoder': {'kl': pytest.approx(0.7), 'llike': 1.0},
      'decoder': {'llike': 0.25, 'gan_g': gan},
      'discriminator': {'gan_d': 1.0}}


def test_the_family_tables():
  config = helpers.tiny_config(loss__blend_lambda=0.25, loss__gan='wgan_gp',
                               loss__gp_weight=10.0)
  assert _rows(config, 'vae') == {
      'encoder': {'kl': 1.0, 'pixel': 1.0}, 'decoder': {'pixel': 1.0},
      'discriminator': {}}
  assert _rows(config, 'gan') == {
      'encoder': {}, 'decoder': {'gan_g': 1.0},
      'discriminator': {'gan_d': 1.0, 'gp': 10.0}}
  assert _rows(config, 'blend') == {
      'encoder': {'kl': 0.75, 'pixel': 0.75},
      'decoder': {'pixel': 0.75, 'gan_g': 0.25},
      'discriminator': {'gan_d': 1.0, 'gp': 10.0}}
  for objective in ('vaegan', 'vae', 'gan', 'blend'):
    trained = algorithm.trained_networks(objective)
    for net, row in _rows(config, objective).items():
      assert bool(row) == trained[net], (objective, net)


def test_vae_then_gan_has_two_phases():
  config = helpers.tiny_config(loss__objective='vae_then_gan')
  phases = lambda c: algorithm.hyperparameters(c).phases
  assert phases(config) == ('vae', 'gan')
  assert phases(helpers.tiny_config()) == ('vaegan',)


def test_kl_warmup_ramps_the_encoders_kl_weight():
  config = helpers.tiny_config(loss__kl_weight=2.0, loss__kl_warmup_steps=4)
  weights = [_rows(config, 'vaegan', s)['encoder']['kl'] for s in (0, 2, 4, 9)]
  assert weights == [0.0, 1.0, 2.0, 2.0]
  assert 'kl' not in _rows(config, 'vaegan', 2)['decoder']


@pytest.mark.parametrize('real,fake,dis,dec', [
    (0.68, 0.68, True, True),     # both in the band
    (0.2, 0.68, False, True),     # D too good on real: skip D
    (0.68, 1.2, True, False),     # D fooled: skip the decoder
    (0.2, 1.2, True, True),       # both would be skipped: do both
])
def test_equilibrium_gating(real, fake, dis, dec):
  config = helpers.tiny_config(loss__equilibrium_gating=True)
  gates = algorithm.gates(algorithm.hyperparameters(config),
                          jnp.asarray(real), jnp.asarray(fake))
  assert bool(gates['encoder'])
  assert bool(gates['discriminator']) == dis
  assert bool(gates['decoder']) == dec
  off = algorithm.gates(algorithm.hyperparameters(
      helpers.tiny_config(loss__equilibrium_gating=False)),
                        jnp.asarray(real), jnp.asarray(fake))
  assert all(bool(g) for g in off.values())
