"""The API from the top: what `vaegan_jax` exports, and a step built from it."""

import subprocess
import sys

import jax
import numpy as np
import pytest

import vaegan_jax
from tests import helpers
from vaegan_jax.model import algorithm


def test_every_exported_name_resolves_to_its_layer():
  for name in vaegan_jax.__all__:
    assert callable(getattr(vaegan_jax, name)), name
  assert vaegan_jax.make_train_step is algorithm.make_train_step
  assert vaegan_jax.losses_and_gradients is algorithm.losses_and_gradients


def test_an_unknown_name_is_an_attribute_error():
  with pytest.raises(AttributeError, match='no attribute'):
    vaegan_jax.train_step  # pylint: disable=pointless-statement


def test_importing_the_package_does_not_import_jax():
  out = subprocess.run(
      [sys.executable, '-c',
       'import sys, vaegan_jax; print("jax" in sys.modules)'],
      capture_output=True, text=True, check=True, env=helpers.subprocess_env())
  assert out.stdout.strip() == 'False'


def test_the_step_from_the_top_trains_and_agrees_with_losses_and_gradients():
  config = helpers.tiny_config(loss__equilibrium_gating=False)
  state = vaegan_jax.create_train_state(config, jax.random.key(0))
  batch = {'image': helpers.random_images(config, 8)}
  rng = jax.random.key(1)
  new_state, metrics = jax.jit(vaegan_jax.make_train_step(config))(
      state, batch, rng)
  assert int(new_state.step) == 1
  out = vaegan_jax.losses_and_gradients(
      vaegan_jax.hyperparameters(config), vaegan_jax.build_networks(config),
      state, batch, jax.random.fold_in(jax.random.fold_in(rng, 0), 0))
  for term, value in out.terms.items():
    np.testing.assert_allclose(metrics[f'loss/{term}'], value, rtol=1e-5,
                               atol=1e-6, err_msg=term)
