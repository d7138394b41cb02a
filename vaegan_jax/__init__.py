"""vaegan_jax: the VAE-GAN of Larsen et al. (2016) in JAX and Flax.

`vaegan_jax.load(workdir)` returns a trained model (see `vaegan_jax.api`);
`vaegan_jax.train.train_and_evaluate(config, workdir)` trains one.
"""

__version__ = '0.1.0'


def load(workdir: str, checkpoint='latest'):
  """Loads a trained model from a run's workdir (see `vaegan_jax.api.load`)."""
  from vaegan_jax import api  # pylint: disable=g-import-not-at-top
  return api.load(workdir, checkpoint)
