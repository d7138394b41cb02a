"""The API from the top: what `vaegan_jax` exports, imported on first use."""

import importlib.util
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


@pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                    reason='PyTorch is not installed')
def test_the_trainer_starts_without_importing_pytorch():
  # tensorboardX would import it (1.3-1.7 s of every start); a summary
  # written after that still reaches the event file.
  code = ('import os, sys, tempfile\n'
          'from vaegan_jax.run import train\n'
          'from vaegan_jax.output import writers\n'
          'assert "torch" not in sys.modules\n'
          'd = tempfile.mkdtemp()\n'
          'w = writers.MetricWriter(d)\n'
          'w.write_scalars(1, {"loss/kl": 0.5})\n'
          'w.close()\n'
          'tb = os.path.join(d, writers.TENSORBOARD_DIR)\n'
          'data = b"".join(open(os.path.join(tb, f), "rb").read() '
          'for f in os.listdir(tb))\n'
          'print("torch" in sys.modules, b"loss/kl" in data)')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, check=True, env=helpers.subprocess_env())
  assert out.stdout.split() == ['False', 'True']
