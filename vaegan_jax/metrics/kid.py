"""Kernel Inception Distance (Bińkowski et al. 2018).

KID is the squared maximum mean discrepancy between real and generated
features under the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, by its
unbiased estimator on two sets of m samples:

  MMD² = Σ_{i≠j} k(x_i, x_j) / m(m−1) + Σ_{i≠j} k(y_i, y_j) / m(m−1)
         − 2 Σ_{i,j} k(x_i, y_j) / m².

As clean-fid and StyleGAN2-ADA, it is averaged over `num_subsets` random
subsets of m = min(N, M, max_subset_size) samples of each set (100 of up to
1,000); the spread over subsets says how far one estimate can be trusted.
Unlike FID, it is unbiased: its expectation does not depend on the number of
samples, and it is 0 on average for identical distributions (so a single
estimate can be slightly negative).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

NUM_SUBSETS = 100
MAX_SUBSET_SIZE = 1000
_SEED = 0


def _kernel(a: jax.Array, b: jax.Array) -> jax.Array:
  dots = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
  return (dots / a.shape[1] + 1) ** 3


def _off_diagonal_mean(matrix: jax.Array) -> jax.Array:
  m = matrix.shape[0]
  return (matrix.sum() - jnp.trace(matrix)) / (m * (m - 1))


@jax.jit
def mmd2(real: jax.Array, fake: jax.Array) -> jax.Array:
  """The unbiased MMD² of two equal-size sets under the cubic kernel.

  Clean-fid's estimator: Σ_{i≠j} [k(x_i, x_j) + k(y_i, y_j)] / m(m−1)
  − 2 Σ_{i,j} k(x_i, y_j) / m². It is summed as the off-diagonal mean of
  the small elementwise differences k(x_i, x_j) + k(y_i, y_j) − k(x_i, y_j)
  − k(x_j, y_i), plus the cross term's diagonal correction, so that float32
  sums of a million kernel values of about 1 do not swamp an MMD² of 1e-4.

  Args:
    real: [m, d] features; m >= 2.
    fake: [m, d] features.

  Returns:
    The scalar unbiased estimate.
  """
  m = real.shape[0]
  cross = _kernel(real, fake)
  differences = _kernel(real, real) + _kernel(fake, fake) - cross - cross.T
  # Σ_{i,j} k(x_i, y_j) / m² = off-diagonal mean − (its excess over the
  # diagonal mean) / m.
  correction = 2 * (_off_diagonal_mean(cross) - jnp.trace(cross) / m) / m
  return _off_diagonal_mean(differences) + correction


def kid(real_features: np.ndarray, fake_features: np.ndarray,
        num_subsets: int = NUM_SUBSETS,
        max_subset_size: int = MAX_SUBSET_SIZE, seed: int = _SEED
        ) -> tuple[float, float]:
  """KID of generated against real features, over random subsets.

  Args:
    real_features: [N, d] features of real images.
    fake_features: [M, d] features of generated images, same extractor.
    num_subsets: subsets averaged over (100 as clean-fid).
    max_subset_size: at most this many samples of each set per subset.
    seed: fixes the subsets.

  Returns:
    (mean, standard deviation) of the subsets' MMD² estimates.
  """
  if real_features.shape[1:] != fake_features.shape[1:]:
    raise ValueError(f'Feature shapes differ: real {real_features.shape}, '
                     f'fake {fake_features.shape}.')
  m = min(len(real_features), len(fake_features), max_subset_size)
  if m < 2:
    raise ValueError(f'KID needs at least 2 samples of each set, got {m}.')
  real = np.asarray(real_features, np.float32)
  fake = np.asarray(fake_features, np.float32)
  rng = np.random.default_rng(seed)
  estimates = [
      float(mmd2(real[rng.choice(len(real), m, replace=False)],
                 fake[rng.choice(len(fake), m, replace=False)]))
      for _ in range(num_subsets)]
  return float(np.mean(estimates)), float(np.std(estimates))
