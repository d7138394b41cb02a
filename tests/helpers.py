"""Small shared pieces of the tests."""

import jax
import numpy as np

from configs import test as test_config


def tiny_config(**overrides):
  """The test config with `section.field=value` overrides, e.g. loss__gamma."""
  config = test_config.get_config()
  for key, value in overrides.items():
    section, field = key.split('__')
    config[section][field] = value
  return config


def random_images(config, batch_size, seed=0):
  rng = np.random.default_rng(seed)
  shape = (batch_size, config.data.image_size, config.data.image_size,
           config.data.channels)
  return rng.uniform(-1, 1, shape).astype(np.float32)


def max_abs_diff(a, b):
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
