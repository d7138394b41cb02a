"""The importance-weighted bound on held-out log-likelihood (Burda et al.
2016), with k samples of the encoder's posterior per image:

    log p(x) >= E[ log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x) ],  z_i ~ q(z|x)

k = 1 is the ELBO; the bound tightens as k grows. p(x|z) is the model's own
reconstruction likelihood: for the VAE (and the λ-blend) the Gaussian (l2)
or Laplace (l1) density of the pixels in [-1, 1] around Dec(z), with unit
scale, or the Bernoulli probability (bce) of the intensities (x + 1) / 2;
for the VAE-GAN the Gaussian density N(Dis_l(x) | Dis_l(Dec(z)), I)
of the discriminator's features, L_llike's likelihood. The VAE-GAN's number
is therefore a bound on the log-density of x's Dis_l features under the
model, in nats, not a pixel likelihood: it compares VAE-GAN runs and
checkpoints with each other, not with a VAE's pixel bound.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vaegan_jax.model import architectures
from vaegan_jax.model import losses
from vaegan_jax.model import networks
from vaegan_jax import parallel
from vaegan_jax.model import state as state_lib

LOG_2PI = float(np.log(2 * np.pi))


def gaussian_log_density(x: jax.Array, mean: jax.Array,
                         logvar: jax.Array | float = 0.0) -> jax.Array:
  """log N(x | mean, diag(exp(logvar))), summed over the last axes but the
  first."""
  logvar = jnp.broadcast_to(jnp.asarray(logvar, x.dtype), x.shape)
  terms = -0.5 * (LOG_2PI + logvar + (x - mean) ** 2 / jnp.exp(logvar))
  return jnp.sum(terms.reshape(x.shape[0], -1), axis=-1)


def laplace_log_density(x: jax.Array, mean: jax.Array) -> jax.Array:
  """log Laplace(x | mean, 1), summed over all but the first axis."""
  terms = -jnp.log(2.0) - jnp.abs(x - mean)
  return jnp.sum(terms.reshape(x.shape[0], -1), axis=-1)


def bernoulli_log_density(x: jax.Array, mean: jax.Array) -> jax.Array:
  """Σ log Bernoulli((x + 1) / 2 | (mean + 1) / 2) over all but the first
  axis: the negative of `losses.reconstruction(mean, x, 'bce')`."""
  return -losses.reconstruction(mean, x, 'bce', 'sum')


def log_weights(log_likelihood: jax.Array, z: jax.Array, mean: jax.Array,
                logvar: jax.Array) -> jax.Array:
  """log p(x|z) + log p(z) − log q(z|x) for [k] samples z of one image."""
  prior = gaussian_log_density(z, jnp.zeros_like(z))
  posterior = gaussian_log_density(z, jnp.broadcast_to(mean, z.shape),
                                   jnp.broadcast_to(logvar, z.shape))
  return log_likelihood + prior - posterior


def bound(log_w: jax.Array) -> jax.Array:
  """log (1/k) Σ_i exp(log_w_i) over the last axis."""
  k = log_w.shape[-1]
  return jax.nn.logsumexp(log_w, axis=-1) - jnp.log(float(k))


def likelihood_space(config: ml_collections.ConfigDict) -> str | None:
  """'features' (VAE-GAN), 'pixels' (VAE, blend, VAE then GAN) or None (a
  GAN has no encoder)."""
  objective = config.loss.objective
  if objective == 'gan':
    return None
  return 'features' if objective == 'vaegan' else 'pixels'


def make_bound_fn(config: ml_collections.ConfigDict):
  """A pure function (variables, (images, eps[, conditions])) -> [B] bounds.

  `variables` is {network: {'params', 'batch_stats'}}; eps [B, k, D] are
  standard normal draws (k importance samples per image).
  """
  nets = networks.build(config)
  space = likelihood_space(config)
  density = {'l2': gaussian_log_density, 'l1': laplace_log_density,
             'bce': bernoulli_log_density}[config.loss.recon]
  conditional = config.model.conditional

  def per_image(variables, images, eps, conditions=None):
    b, k, d = eps.shape
    mean, logvar = nets.apply('encoder', variables['encoder'], images,
                              conditions, train=False)
    z = mean[:, None] + jnp.exp(0.5 * logvar)[:, None] * eps  # [B, k, D]
    repeated = (None if conditions is None
                else jnp.repeat(conditions, k, axis=0))
    decoded = nets.apply('decoder', variables['decoder'],
                         z.reshape(b * k, d), repeated, train=False)
    target = jnp.repeat(images, k, axis=0)
    if space == 'features':
      features = lambda x, c: nets.apply(
          'discriminator', variables['discriminator'], x, c, train=False,
          features_only=True)[1]
      target, decoded = features(target, repeated), features(decoded,
                                                             repeated)
    log_likelihood = density(target, decoded).reshape(b, k)
    log_w = jax.vmap(log_weights)(log_likelihood, z, mean, logvar)
    return bound(log_w)

  def fn(variables, rows):
    if conditional:
      images, eps, conditions = rows
      return per_image(variables, images, eps, conditions)
    images, eps = rows
    return per_image(variables, images, eps)

  return fn


class IWAE:
  """The IWAE bound of a model on held-out images, at each evaluation.

  Args:
    config: the run's configuration (`config.eval.iwae_samples` = k).
    mesh: the device mesh.
  """

  def __init__(self, config: ml_collections.ConfigDict, mesh: Any):
    self.k = config.eval.iwae_samples
    self.latent_dim = architectures.latent_dim(config)
    rows = max(1, config.eval.batch_size // max(self.k, 1))
    self._apply = parallel.batched(make_bound_fn(config), mesh, rows)
    self.conditional = state_lib.condition_shape(config) is not None

  def __call__(self, state, images: np.ndarray,
               conditions: np.ndarray | None = None, seed: int = 0
               ) -> np.ndarray:
    """[N] bounds (nats) for `images` with k samples each."""
    eps = np.asarray(jax.random.normal(
        jax.random.key(seed), (len(images), self.k, self.latent_dim)))
    variables = {net: {'params': state.params[net],
                       'batch_stats': state.batch_stats[net]}
                 for net in networks.NETWORKS}
    rows = (images, eps, conditions) if self.conditional else (images, eps)
    return self._apply(variables, rows)
