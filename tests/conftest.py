"""Test set-up, run before JAX starts.

- One CPU device in the test process: only the tests about devices run
  (in subprocesses, `helpers.run_on_devices`) on several simulated ones.
- XLA's CPU backend without its LLVM optimisation passes and without its
  fusion emitters: the tests' networks are tiny, so compiling dominates,
  and these cut it to about a quarter (the step's gradients: 5.3 s to
  1.2 s; the same results up to rounding, slower code). Subprocesses
  inherit them; `helpers.optimised_compilation` undoes them for the few
  blocks whose run time dominates.
- A persistent compilation cache, so that the many small configs the tests
  build compile once per machine when rerun.
- `@pytest.mark.slow` on subprocess runs, FID and the `larsen64` networks:
  `pytest -m "not slow"` is the fast tier. The slow tests are collected
  first, so that with `-n auto` (pytest-xdist) the longest ones start
  while the short ones fill the other workers.
"""

import os

os.environ['XLA_FLAGS'] = ' '.join(filter(None, [
    os.environ.get('XLA_FLAGS'), '--xla_backend_optimization_level=0',
    '--xla_cpu_use_fusion_emitters=false']))
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
CACHE_DIR = os.path.join(os.path.dirname(__file__), os.pardir, '.pytest_cache',
                         'jax_compilation_cache')
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', CACHE_DIR)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.5')

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update('jax_compilation_cache_dir', CACHE_DIR)
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'slow: subprocess runs, FID and larsen64 (deselect with '
      '-m "not slow")')


def pytest_collection_modifyitems(config, items):
  del config  # Unused.
  items.sort(key=lambda item: item.get_closest_marker('slow') is None)
