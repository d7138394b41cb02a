"""Reconstruction error and sharpness on randomly translated held-out images.

The shifts are the training pipeline's (`data.augment.random_translate`),
drawn once from a fixed seed, so every model sees the same shifted digits.
"""

import functools
from typing import Callable, Mapping, Sequence

import numpy as np

import vaegan_jax
from vaegan_jax import data
from vaegan_jax.data import images as images_lib
from vaegan_jax.data import augment
from vaegan_jax.data import preprocess
from vaegan_jax.metrics import held_out

SEED = 0


def translate(images: np.ndarray, fraction: float, seed: int = SEED
              ) -> np.ndarray:
  """Shifts each image by up to `fraction` of its size, as training does.

  Args:
    images: float32 [N, H, W, C] in [-1, 1] (from uint8 pixels, so the round
      trip through uint8 is exact).
    fraction: the largest shift as a fraction of the size (0.1: ±10%).
    seed: fixes the shifts.

  Returns:
    float32 [N, H, W, C] in [-1, 1]; pixels shifted in are -1 (black).
  """
  pixels = images_lib.to_uint8(images)
  shifted = augment.random_translate(pixels, fraction,
                                     np.random.default_rng(seed))
  return preprocess.to_float(shifted)


def sharpness(images: np.ndarray) -> float:
  """Mean absolute difference of neighbouring pixels (both axes), on the
  [0, 1] scale: blur lowers it, sharp strokes raise it."""
  pixels = (np.asarray(images, np.float64) + 1) / 2
  return float(np.abs(np.diff(pixels, axis=1)).mean()
               + np.abs(np.diff(pixels, axis=2)).mean())


def _errors(images: np.ndarray, rebuilt: np.ndarray) -> dict[str, float]:
  return {'mse': held_out.pixel_errors(images, rebuilt)['recon_mse'],
          'sharpness': sharpness(rebuilt) / sharpness(images)}


def translation_errors(reconstruct: Callable[[np.ndarray], np.ndarray],
                       images: np.ndarray,
                       shifts: Sequence[tuple[str, float]],
                       seed: int = SEED) -> dict[str, dict[str, float]]:
  """How well a model reconstructs images as they are and translated.

  Args:
    reconstruct: images -> reconstructions, float32 [N, H, W, C] in [-1, 1].
    images: held-out images, float32 [N, H, W, C] in [-1, 1].
    shifts: (name, the largest shift: 0.1 for ±10%) of each translation.
    seed: fixes the shifts.

  Returns:
    'unshifted' and each shift's name -> {'mse': pixel MSE of the
    reconstructions against their own inputs, on the [0, 1] pixel scale as
    `eval_metrics.json`'s recon_mse; 'sharpness': the reconstructions'
    `sharpness` over their inputs' (1: as sharp as the input, lower:
    blurrier)}; each shift's also has 'fraction'.
  """
  errors = {'unshifted': _errors(images, reconstruct(images))}
  for name, fraction in shifts:
    shifted = translate(images, fraction, seed)
    errors[name] = {'fraction': fraction,
                    **_errors(shifted, reconstruct(shifted))}
  return errors


def degradation(errors: Mapping[str, Mapping[str, float]], shift: str
                ) -> dict[str, float]:
  """How much a shift affects a model: its MSE over the unshifted MSE (1:
  not at all, higher: worse), its sharpness over the unshifted sharpness
  (1: not at all, lower: blurrier)."""
  return {key: errors[shift][key] / errors['unshifted'][key]
          for key in ('mse', 'sharpness')}


@functools.lru_cache(maxsize=None)
def run_errors(directory: str, shifts: tuple[tuple[str, float], ...]
               ) -> dict[str, dict[str, float]]:
  """`translation_errors` of a finished run on all its held-out images."""
  model = vaegan_jax.load(directory)
  images = data.eval_data(model.config, None)['image']
  return translation_errors(model.reconstruct, images, shifts)
