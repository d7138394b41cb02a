"""Metrics of the encoder and decoder on held-out images: pixel errors of
reconstructions, the posterior's KL per latent dimension, active units."""

import numpy as np

from vaegan_jax.model import losses


def pixel_errors(images: np.ndarray, recon: np.ndarray) -> dict[str, float]:
  """Pixel MSE on the [0, 1] scale and PSNR in dB."""
  mse = float(np.mean(((np.asarray(images) - recon) / 2.0) ** 2))
  return {'recon_mse': mse, 'psnr': float(10 * np.log10(1.0 / max(mse, 1e-12)))}


def kl_per_dimension(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
  """Mean over examples of KL(q(z_d|x) || N(0, 1)) for each dimension d."""
  kl = losses.kl_divergence(mean[..., None], logvar[..., None])  # [N, D]
  return np.asarray(kl).mean(axis=0)


def active_units(mean: np.ndarray, threshold: float = 0.01) -> int:
  """Dimensions whose posterior mean varies across examples (Burda et al.)."""
  return int(np.sum(np.var(mean, axis=0) > threshold))
