"""KID against a direct loop over the unbiased estimator."""

import numpy as np
import pytest

from vaegan_jax.metrics import kid


def _loop_mmd2(x, y):
  """Clean-fid's unbiased MMD², k(a, b) = (aᵀb / d + 1)³, term by term."""
  m, d = x.shape
  k = lambda a, b: (float(a @ b) / d + 1) ** 3
  within = sum(k(x[i], x[j]) + k(y[i], y[j])
               for i in range(m) for j in range(m) if i != j)
  cross = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
  return within / (m * (m - 1)) - 2 * cross / m ** 2


def _features(rng, n, d, shift=0.0):
  # Non-negative, as pool3 features after a ReLU and a mean.
  return np.abs(rng.normal(0.5 + shift, 0.5, (n, d))).astype(np.float32)


def test_mmd2_matches_the_loop():
  rng = np.random.default_rng(0)
  x, y = _features(rng, 40, 6), _features(rng, 40, 6, shift=0.3)
  expected = _loop_mmd2(x.astype(np.float64), y.astype(np.float64))
  assert expected > 1e-3
  np.testing.assert_allclose(float(kid.mmd2(x, y)), expected, rtol=1e-5)


def test_kid_is_the_mean_and_spread_over_subsets_of_the_loop():
  rng = np.random.default_rng(1)
  real, fake = _features(rng, 30, 5), _features(rng, 50, 5, shift=0.2)
  mean, std = kid.kid(real, fake, num_subsets=4, max_subset_size=20, seed=7)
  # The same subsets: m = min(30, 50, 20) rows of each, drawn in turn.
  subsets = np.random.default_rng(7)
  expected = []
  for _ in range(4):
    x = real[subsets.choice(30, 20, replace=False)].astype(np.float64)
    y = fake[subsets.choice(50, 20, replace=False)].astype(np.float64)
    expected.append(_loop_mmd2(x, y))
  np.testing.assert_allclose([mean, std],
                             [np.mean(expected), np.std(expected)], rtol=1e-5)


def test_identical_distributions_give_about_zero():
  rng = np.random.default_rng(2)
  real, fake = _features(rng, 2000, 64), _features(rng, 2000, 64)
  mean, std = kid.kid(real, fake, num_subsets=20)
  shifted, _ = kid.kid(real, _features(rng, 2000, 64, shift=0.05),
                       num_subsets=20)
  assert abs(mean) < 3 * std + 1e-6
  assert abs(mean) < shifted / 20


def test_small_mmd_is_not_lost_to_float32_sums():
  # A million kernel values near 8 around an MMD² of about 5e-5 (the size of
  # a good model's KID): the float64 direct sum agrees to 1e-4.
  rng = np.random.default_rng(3)
  x, y = _features(rng, 1000, 256), _features(rng, 1000, 256, shift=0.01)
  x64, y64 = x.astype(np.float64), y.astype(np.float64)
  a = (x64 @ x64.T / 256 + 1) ** 3 + (y64 @ y64.T / 256 + 1) ** 3
  b = (x64 @ y64.T / 256 + 1) ** 3
  expected = (a.sum() - np.trace(a)) / (1000 * 999) - 2 * b.mean()
  np.testing.assert_allclose(float(kid.mmd2(x, y)), expected, rtol=1e-4)


def test_mismatched_features_are_refused():
  with pytest.raises(ValueError, match='Feature shapes differ'):
    kid.kid(np.zeros((10, 3)), np.zeros((10, 4)))
