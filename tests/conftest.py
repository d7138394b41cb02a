"""Test set-up, run before JAX starts: 4 simulated CPU devices, and a
persistent compilation cache so that the many small configs the tests build
compile once per session (and once per machine when rerun)."""

import os

import chex
import jax

chex.set_n_cpu_devices(4)
jax.config.update(
    'jax_compilation_cache_dir',
    os.path.join(os.path.dirname(__file__), os.pardir, '.pytest_cache',
                 'jax_compilation_cache'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)
