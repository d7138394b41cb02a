"""Memorisation: copies of training images against new images."""

import numpy as np
import pytest

from vaegan_jax.metrics import memorisation


def _split(seed=0, dim=16):
  rng = np.random.default_rng(seed)
  draw = lambda n: rng.normal(size=(n, dim)).astype(np.float32)
  return draw(3000), draw(1000), draw(4000)  # train, held-out, new images


def test_copies_of_training_images_are_all_memorised():
  train, held_out, _ = _split()
  copies = train[np.random.default_rng(1).integers(0, 3000, 2000)]
  result = memorisation.memorisation(copies, held_out, train, batch_size=512)
  assert result.share == 1.0
  assert result.median_ratio == 0.0
  np.testing.assert_array_equal(train[result.nearest_train], copies)


def test_new_images_are_memorised_as_often_as_held_out_ones():
  # Samples as novel as held-out images: about 1% of them fall below the
  # held-out images' 1st percentile.
  train, held_out, new = _split(seed=2)
  result = memorisation.memorisation(new, held_out, train)
  assert result.share == pytest.approx(0.01, abs=0.006)
  assert result.median_ratio == pytest.approx(1.0, abs=0.03)


def test_half_copies_give_half_plus_one_percent():
  train, held_out, new = _split(seed=3)
  samples = np.concatenate([train[:2000], new[:2000]])
  result = memorisation.memorisation(samples, held_out, train)
  assert result.share == pytest.approx(0.5 + 0.5 * 0.01, abs=0.006)
  held_out_distances = np.sort(np.linalg.norm(
      held_out[:, None].astype(np.float64) - train[None], axis=-1).min(1))
  assert result.threshold == pytest.approx(
      np.percentile(held_out_distances, 1.0), rel=1e-6)


def test_closest_pairs_and_their_picture():
  train, held_out, new = _split(seed=4, dim=4)
  samples = np.concatenate([new[:20], train[7:8] + 1e-3, train[3:4]])
  result = memorisation.memorisation(samples, held_out, train)
  order, rows = memorisation.closest_pairs(result, count=3)
  np.testing.assert_array_equal(order[:2], [21, 20])
  np.testing.assert_array_equal(rows[:2], [3, 7])
  black = np.full((3, 5, 5, 1), -1.0, np.float32)
  picture = memorisation.pairs_picture(black, -black, pairs_per_row=2)
  # Two rows of two pairs: sample (black) then training image (white).
  assert picture.shape == (2 * 7 + 2, 4 * 7 + 2, 1)
  assert picture[2:7, 2:7].max() == 0 and picture[2:7, 9:14].min() == 255
