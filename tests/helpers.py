"""Small shared pieces of the tests."""

import contextlib
import os
import subprocess
import sys
from unittest import mock

import jax
import numpy as np

from configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# XLA's defaults for the options that conftest.py turns off to compile fast.
OPTIMISED = {'xla_backend_optimization_level': 3,
             'xla_cpu_use_fusion_emitters': True}


def tiny_config(**overrides):
  """The test config with `section__field=value` overrides, e.g. loss__gamma."""
  config = test_config.get_config()
  for key, value in overrides.items():
    section, field = key.split('__')
    config[section][field] = value
  return config


def run_config(num_steps, **overrides):
  """The tiny config on the bundled digits for a whole training run of
  `num_steps`: a log line every step, a checkpoint every 3, no evaluation."""
  config = tiny_config(**overrides)
  config.data.name = 'bundled_mnist'
  config.train.num_steps = num_steps
  config.train.log_every = 1
  config.train.checkpoint_every = 3
  config.eval.every = 0
  return config


@contextlib.contextmanager
def optimised_compilation():
  """`jax.jit` with XLA's optimisations inside the block, for code whose run
  time, not its compile time, dominates (the digits classifier's training:
  about 40 s without them, 9 s with, on 2 cores)."""
  jit = jax.jit

  def optimised(*args, **kwargs):
    kwargs['compiler_options'] = {**OPTIMISED,
                                  **(kwargs.get('compiler_options') or {})}
    return jit(*args, **kwargs)

  with mock.patch.object(jax, 'jit', optimised):
    yield


def random_images(config, batch_size, seed=0):
  rng = np.random.default_rng(seed)
  shape = (batch_size, config.data.image_size, config.data.image_size,
           config.data.channels)
  return rng.uniform(-1, 1, shape).astype(np.float32)


def max_abs_diff(a, b):
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def assert_leaves_close(actual, expected, rtol):
  """Each leaf of `actual` within rtol of its expected leaf's largest value.

  Gradients summed in another order differ by float32 rounding of their
  largest terms, which an element near zero shows as a large relative error;
  measured against the leaf's scale, a missing or extra term still shows.
  """
  assert jax.tree.structure(actual) == jax.tree.structure(expected), (
      jax.tree.structure(actual), jax.tree.structure(expected))
  paths = jax.tree_util.tree_flatten_with_path(expected)[0]
  for (path, y), x in zip(paths, jax.tree.leaves(actual)):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape, (jax.tree_util.keystr(path), x.shape, y.shape)
    scale = float(np.max(np.abs(y))) if y.size else 0.0
    diff = float(np.max(np.abs(x - y))) if y.size else 0.0
    assert diff <= rtol * scale, (jax.tree_util.keystr(path), diff, scale)


def subprocess_env(**extra):
  """The environment for a subprocess of the tests: this checkout first on
  the path, the CPU, the tests' XLA flags and compilation cache."""
  return dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu', **extra)


def run_on_devices(devices: int, module: str, function: str,
                   timeout: float = 300) -> str:
  """Runs `module.function()` in a new process with `devices` simulated CPU
  devices; fails the test with its output if it raises. Returns its output.
  """
  code = f'import {module} as m; m.{function}()'
  proc = subprocess.run(
      [sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
      timeout=timeout,
      env=subprocess_env(JAX_NUM_CPU_DEVICES=str(devices)))
  assert proc.returncode == 0, proc.stdout + proc.stderr
  return proc.stdout
