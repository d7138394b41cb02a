"""vaegan_jax: the VAE-GAN of Larsen et al. (2016) in JAX and Flax.

What a library user needs, from the top (docs/api.md):

    vaegan_jax.load(workdir)                 a trained model (TrainedModel)
    vaegan_jax.create_train_state(config, rng)
    vaegan_jax.make_train_step(config)       train_step(state, batch, rng)
    vaegan_jax.hyperparameters(config)       what the step reads of config
    vaegan_jax.losses_and_gradients(hp, nets, state, batch, rng)
    vaegan_jax.build_networks(config)        the three Flax modules
    vaegan_jax.train_and_evaluate(config, workdir)

The layers below, each a subpackage: `model` (the networks and Algorithm 1,
`model/algorithm.py`), `data`, `metrics`, `output`, `store` and `run`.
"""

import importlib

__version__ = '0.1.0'

# name -> (module, attribute). Imported on first use, so that
# `import vaegan_jax` (e.g. for the command-line tools' --help) does not
# wait for JAX.
_API = {
    'TrainedModel': ('vaegan_jax.trained_model', 'TrainedModel'),
    'create_train_state': ('vaegan_jax.model.state', 'create_train_state'),
    'TrainState': ('vaegan_jax.model.state', 'TrainState'),
    'make_train_step': ('vaegan_jax.model.algorithm', 'make_train_step'),
    'hyperparameters': ('vaegan_jax.model.algorithm', 'hyperparameters'),
    'losses_and_gradients': ('vaegan_jax.model.algorithm',
                             'losses_and_gradients'),
    'build_networks': ('vaegan_jax.model.networks', 'build'),
    'train_and_evaluate': ('vaegan_jax.run.train', 'train_and_evaluate'),
}
__all__ = ['load', *_API]


def load(workdir: str, checkpoint: str | int = 'latest'):
  """Loads a trained model from a run's workdir.

  Args:
    workdir: the directory the run wrote (config.json, checkpoints/).
    checkpoint: 'latest', 'best' or a step number.

  Returns:
    A `TrainedModel`.
  """
  from vaegan_jax import trained_model  # pylint: disable=g-import-not-at-top
  return trained_model.load(workdir, checkpoint)


def __getattr__(name: str):
  if name not in _API:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module, attribute = _API[name]
  return getattr(importlib.import_module(module), attribute)


def __dir__():
  return sorted([*globals(), *_API])
