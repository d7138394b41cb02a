"""Test set-up, run before JAX starts: 4 simulated CPU devices, a
persistent compilation cache so that the many small configs the tests build
compile once per session (and once per machine when rerun), and XLA's CPU
backend without its LLVM optimisation passes: the tests' networks are tiny,
so compiling dominates, and this halves it (same results, slower code)."""

import os

os.environ['XLA_FLAGS'] = ' '.join(filter(None, [
    os.environ.get('XLA_FLAGS'), '--xla_backend_optimization_level=0']))

import chex  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

chex.set_n_cpu_devices(4)
jax.config.update(
    'jax_compilation_cache_dir',
    os.path.join(os.path.dirname(__file__), os.pardir, '.pytest_cache',
                 'jax_compilation_cache'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)
