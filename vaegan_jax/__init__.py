"""vaegan_jax: the VAE-GAN of Larsen et al. (2016) in JAX and Flax.

`vaegan_jax.load(workdir)` returns a trained model
(`vaegan_jax.trained_model.TrainedModel`);
`vaegan_jax.run.train.train_and_evaluate(config, workdir)` trains one.
"""

__version__ = '0.1.0'


def load(workdir: str, checkpoint: str | int = 'latest'):
  """Loads a trained model from a run's workdir.

  Args:
    workdir: the directory the run wrote (config.json, checkpoints/).
    checkpoint: 'latest', 'best' or a step number.

  Returns:
    A `trained_model.TrainedModel`.
  """
  # Imported on use: `import vaegan_jax` (e.g. for the command-line tools'
  # --help) does not wait for JAX.
  from vaegan_jax import trained_model  # pylint: disable=g-import-not-at-top
  return trained_model.load(workdir, checkpoint)
