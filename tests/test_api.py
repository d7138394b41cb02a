"""The API from the top: what `vaegan_jax` exports, imported on first use."""

import subprocess
import sys

import pytest

import vaegan_jax
from tests import helpers
from vaegan_jax.model import algorithm
from vaegan_jax.model import state


def test_every_exported_name_resolves_to_its_layer():
  for name in vaegan_jax.__all__:
    assert callable(getattr(vaegan_jax, name)), name
  assert vaegan_jax.make_train_step is algorithm.make_train_step
  assert vaegan_jax.losses_and_gradients is algorithm.losses_and_gradients
  assert vaegan_jax.create_train_state is state.create_train_state


def test_an_unknown_name_is_an_attribute_error():
  with pytest.raises(AttributeError, match='no attribute'):
    vaegan_jax.train_step  # pylint: disable=pointless-statement


def test_importing_the_package_does_not_import_jax():
  out = subprocess.run(
      [sys.executable, '-c',
       'import sys, vaegan_jax; print("jax" in sys.modules)'],
      capture_output=True, text=True, check=True, env=helpers.subprocess_env())
  assert out.stdout.strip() == 'False'
