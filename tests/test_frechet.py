"""The Fréchet distance against closed forms, and the feature statistics."""

import numpy as np
import pytest
import scipy.linalg

from vaegan_jax.metrics import frechet


def _random_covariance(rng, dim, rank=None):
  a = rng.normal(size=(dim, rank or dim))
  return a @ a.T / (rank or dim)


def test_diagonal_covariances_match_closed_form():
  rng = np.random.default_rng(0)
  dim = 16
  mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
  var1, var2 = rng.uniform(0.1, 3, dim), rng.uniform(0.1, 3, dim)
  expected = (np.sum((mu1 - mu2) ** 2)
              + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2))
  got = frechet.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
  np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_commuting_covariances_match_closed_form():
  # Same eigenvectors: d² = ‖Δmu‖² + Σ (sqrt(λ1) − sqrt(λ2))².
  rng = np.random.default_rng(1)
  dim = 32
  q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
  lam1, lam2 = rng.uniform(0, 4, dim), rng.uniform(0, 4, dim)
  mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
  got = frechet.frechet_distance(mu1, q @ np.diag(lam1) @ q.T,
                                 mu2, q @ np.diag(lam2) @ q.T)
  expected = (np.sum((mu1 - mu2) ** 2)
              + np.sum((np.sqrt(lam1) - np.sqrt(lam2)) ** 2))
  np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_one_dimensional_gaussians():
  got = frechet.frechet_distance(np.array([1.0]), np.array([[4.0]]),
                                 np.array([-2.0]), np.array([[9.0]]))
  np.testing.assert_allclose(got, 3.0 ** 2 + (2.0 - 3.0) ** 2)


def test_general_covariances_match_scipy_sqrtm():
  rng = np.random.default_rng(2)
  dim = 24
  s1, s2 = _random_covariance(rng, dim), _random_covariance(rng, dim)
  expected = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
  np.testing.assert_allclose(frechet.trace_sqrt_product(s1, s2), expected,
                             rtol=1e-8)


def test_singular_covariances_stay_finite_and_symmetric():
  # Fewer samples than dimensions: both covariances are singular.
  rng = np.random.default_rng(3)
  s1 = _random_covariance(rng, 64, rank=10)
  s2 = _random_covariance(rng, 64, rank=20)
  d12 = frechet.frechet_distance(np.zeros(64), s1, np.ones(64), s2)
  d21 = frechet.frechet_distance(np.ones(64), s2, np.zeros(64), s1)
  assert np.isfinite(d12) and d12 > 64
  np.testing.assert_allclose(d12, d21, rtol=1e-8)


def test_same_features_give_zero():
  features = np.random.default_rng(4).normal(size=(300, 50)) ** 2
  assert frechet.fid_from_features(features, features) == pytest.approx(
      0.0, abs=1e-8)


def test_statistics_are_float64_mean_and_unbiased_covariance():
  features = np.random.default_rng(5).normal(size=(100, 3)).astype(np.float32)
  mu, sigma = frechet.statistics(features)
  assert mu.dtype == sigma.dtype == np.float64
  centered = features.astype(np.float64) - features.mean(axis=0)
  np.testing.assert_allclose(mu, features.astype(np.float64).mean(axis=0))
  np.testing.assert_allclose(sigma, centered.T @ centered / 99, rtol=1e-12)


def test_sample_fid_approaches_population_distance():
  rng = np.random.default_rng(6)
  a = rng.normal(0.0, 1.0, size=(20000, 4))
  b = rng.normal(0.5, 2.0, size=(20000, 4))
  # Per dimension 0.5² + (1 − 2)² = 1.25.
  assert frechet.fid_from_features(a, b) == pytest.approx(4 * 1.25, rel=0.03)
