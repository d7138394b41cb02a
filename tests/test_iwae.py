"""The IWAE bound: with k = 1 the ELBO, and no lower on average as k grows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from tests import helpers
from vaegan_jax.model import losses
from vaegan_jax.model import networks
from vaegan_jax import parallel
from vaegan_jax.model import state as state_lib
from vaegan_jax.metrics import iwae


@pytest.fixture(scope='module', params=['vae', 'vaegan', 'vae_bce'])
def model(request):
  objective, _, recon = request.param.partition('_')
  config = helpers.tiny_config(loss__objective=objective,
                               loss__recon=recon or 'l2',
                               eval__iwae_samples=1, eval__batch_size=64)
  state = state_lib.create_train_state(config, jax.random.key(0))
  # A posterior far from the prior and a decoder whose output depends on z,
  # as a trained model's are (at initialisation q(z|x) is nearly N(0, I)
  # and every z decodes to nearly the same image).
  encoder = dict(state.params['encoder'])
  encoder['logvar'] = dict(encoder['logvar'],
                           bias=encoder['logvar']['bias'] - 3.0)
  encoder['mean'] = dict(encoder['mean'],
                         kernel=encoder['mean']['kernel'] * 5.0)
  decoder = dict(state.params['decoder'])
  decoder['Dense_0'] = {'kernel': decoder['Dense_0']['kernel'] * 5.0}
  state = state.replace(params=dict(state.params, encoder=encoder,
                                    decoder=decoder))
  images = helpers.random_images(config, 32, seed=1) * 0.5
  return config, state, images


def _variables(state):
  return {net: {'params': state.params[net],
                'batch_stats': state.batch_stats[net]}
          for net in networks.NETWORKS}


def test_one_sample_is_the_single_sample_elbo(model):
  config, state, images = model
  eps = np.asarray(jax.random.normal(jax.random.key(2), (32, 1, 8)))
  got = jax.jit(iwae.make_bound_fn(config))(_variables(state),
                                            (images, eps))
  # Independently: log p(x|z) + log p(z) - log q(z|x) at z = mean + σ·eps.
  nets = networks.build(config)
  v = _variables(state)
  mean, logvar = nets.encoder.apply(v['encoder'], images, train=False)
  mean, std = np.asarray(mean), np.exp(0.5 * np.asarray(logvar))
  z = mean + std * eps[:, 0]
  x, recon = images, nets.decoder.apply(v['decoder'], z, train=False)
  if config.loss.objective == 'vaegan':
    feats = lambda a: nets.discriminator.apply(
        v['discriminator'], a, train=False, features_only=True)[1]
    x, recon = feats(x), feats(recon)
  x, recon = np.asarray(x).reshape(32, -1), np.asarray(recon).reshape(32, -1)
  if config.loss.recon == 'bce':  # intensities (x + 1) / 2
    p, t = (recon + 1) / 2, (x + 1) / 2
    likelihood = (t * np.log(p) + (1 - t) * np.log(1 - p)).sum(1)
  else:
    likelihood = stats.norm.logpdf(x, recon).sum(1)
  expected = (likelihood + stats.norm.logpdf(z).sum(1)
              - stats.norm.logpdf(z, mean, std).sum(1))
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-2)


def test_one_sample_averages_to_the_analytic_elbo():
  config = helpers.tiny_config(loss__objective='vae', eval__batch_size=64)
  state = state_lib.create_train_state(config, jax.random.key(0))
  image = helpers.random_images(config, 1, seed=3) * 0.5
  draws = 4000
  eps = np.asarray(jax.random.normal(jax.random.key(4), (draws, 1, 8)))
  got = jax.jit(iwae.make_bound_fn(config))(
      _variables(state), (np.repeat(image, draws, 0), eps))
  # E_q[log p(x|z)] by the same draws minus the closed-form KL.
  nets = networks.build(config)
  v = _variables(state)
  mean, logvar = nets.encoder.apply(v['encoder'], image, train=False)
  z = mean + jnp.exp(0.5 * logvar) * eps[:, 0]
  recon = nets.decoder.apply(v['decoder'], z, train=False)
  log_lik = iwae.gaussian_log_density(jnp.repeat(image, draws, 0), recon)
  kl = float(losses.kl_divergence(mean, logvar)[0])
  elbo = float(jnp.mean(log_lik)) - kl
  stderr = float(np.std(got)) / np.sqrt(draws)
  assert abs(float(np.mean(got)) - elbo) < 4 * stderr + 1e-3


def test_the_bound_does_not_decrease_with_k(model):
  config, state, images = model
  means = []
  for k in (1, 8, 64):
    config.eval.iwae_samples = k
    bound = iwae.IWAE(config, parallel.make_mesh())(state, images, seed=k)
    assert bound.shape == (32,) and np.all(np.isfinite(bound))
    means.append(float(np.mean(bound)))
  assert means[0] < means[1] < means[2], means


def test_a_gan_has_no_bound():
  assert iwae.likelihood_space(helpers.tiny_config(
      loss__objective='gan')) is None
  assert iwae.likelihood_space(helpers.tiny_config()) == 'features'
  assert iwae.likelihood_space(helpers.tiny_config(
      loss__objective='blend')) == 'pixels'
