"""Feature statistics and the Fréchet distance between two Gaussians.

FID (Heusel et al. 2017) fits a Gaussian N(mu, sigma) to each set of
features and reports

  d² = ‖mu1 − mu2‖² + tr(sigma1) + tr(sigma2) − 2 tr((sigma1 sigma2)^½).

The trace of the matrix square root is taken by eigen-decompositions of
symmetric matrices: with s = sigma1^½, the product sigma1 sigma2 is similar
to s sigma2 s, which is symmetric positive semi-definite, so
tr((sigma1 sigma2)^½) = Σ sqrt(eig(s sigma2 s)). Unlike a general `sqrtm`
of the non-symmetric product, this stays real and needs no eps fix when the
covariances are singular (fewer samples than feature dimensions).
"""

import numpy as np


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance of a set of features, in float64.

  Args:
    features: [N, D] array, one row per sample; N >= 2.

  Returns:
    (mu [D], sigma [D, D]); sigma is the unbiased sample covariance
    (divided by N − 1), as in the reference FID implementations.
  """
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or features.shape[0] < 2:
    raise ValueError(
        f'statistics needs a [N, D] array with N >= 2, got shape '
        f'{features.shape}.')
  return features.mean(axis=0), np.cov(features, rowvar=False)


class RunningStatistics:
  """Mean and covariance of features given in chunks, in float64.

  For a reference set too large to hold its features at once (e.g. a whole
  training split): `add` each chunk, then `result()` gives what
  `statistics` of all the rows would, up to float64 rounding.
  """

  def __init__(self):
    self.count = 0
    self._sum = self._outer = None

  def add(self, features: np.ndarray) -> None:
    """Adds [n, D] rows."""
    features = np.asarray(features, np.float64)
    if self._sum is None:
      dim = features.shape[1]
      self._sum, self._outer = np.zeros(dim), np.zeros((dim, dim))
    self.count += len(features)
    self._sum += features.sum(axis=0)
    self._outer += features.T @ features

  def result(self) -> tuple[np.ndarray, np.ndarray]:
    """(mu [D], sigma [D, D]) of every row added, sigma divided by N − 1."""
    if self.count < 2:
      raise ValueError(f'statistics need at least 2 rows, got {self.count}.')
    mu = self._sum / self.count
    sigma = (self._outer - self.count * np.outer(mu, mu)) / (self.count - 1)
    return mu, sigma


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  """Square root of a symmetric positive semi-definite matrix."""
  eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
  return (eigvecs * np.sqrt(np.clip(eigvals, 0, None))) @ eigvecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
  """tr((sigma1 sigma2)^½) for two covariance matrices.

  Args:
    sigma1: [D, D] symmetric positive semi-definite matrix.
    sigma2: [D, D] symmetric positive semi-definite matrix.

  Returns:
    The trace of the principal square root of sigma1 @ sigma2.
  """
  root1 = _psd_sqrt(np.asarray(sigma1, np.float64))
  middle = root1 @ np.asarray(sigma2, np.float64) @ root1
  eigvals = np.linalg.eigvalsh((middle + middle.T) / 2)
  return float(np.sqrt(np.clip(eigvals, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
  """Squared Fréchet (2-Wasserstein) distance between two Gaussians.

  Args:
    mu1: [D] mean of the first Gaussian.
    sigma1: [D, D] covariance of the first Gaussian.
    mu2: [D] mean of the second Gaussian.
    sigma2: [D, D] covariance of the second Gaussian.

  Returns:
    ‖mu1 − mu2‖² + tr(sigma1 + sigma2 − 2 (sigma1 sigma2)^½), clipped at 0
    (rounding can leave it slightly negative for identical inputs).
  """
  mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
  sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(
        f'Mismatched statistics: means {mu1.shape} and {mu2.shape}, '
        f'covariances {sigma1.shape} and {sigma2.shape}.')
  if sigma1.shape != (mu1.shape[0],) * 2:
    raise ValueError(f'Covariance {sigma1.shape} does not match mean '
                     f'{mu1.shape}.')
  diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
  distance = (diff @ diff + np.trace(sigma1) + np.trace(sigma2)
              - 2 * trace_sqrt_product(sigma1, sigma2))
  return max(float(distance), 0.0)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
  """The Fréchet distance between Gaussians fitted to two feature sets.

  Args:
    features1: [N1, D] features, e.g. of real images.
    features2: [N2, D] features, e.g. of generated images.

  Returns:
    The Fréchet distance of their statistics (FID for Inception features).
  """
  return frechet_distance(*statistics(features1), *statistics(features2))
