"""Improved precision and recall on synthetic features with known answers."""

import numpy as np
import pytest

from vaegan_jax.metrics import precision_recall as pr


def _modes(rng, centers, per_mode, scale=0.1):
  return np.concatenate([c + scale * rng.normal(size=(per_mode, c.shape[0]))
                         for c in centers]).astype(np.float32)


def test_identical_sets_give_one_one():
  features = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
  result = pr.precision_recall(features, features.copy())
  assert result == {'precision': 1.0, 'recall': 1.0}


def test_disjoint_far_sets_give_zero_zero():
  rng = np.random.default_rng(1)
  real = rng.normal(size=(200, 8)).astype(np.float32)
  fake = rng.normal(size=(250, 8)).astype(np.float32) + 100.0
  assert pr.precision_recall(real, fake) == {'precision': 0.0, 'recall': 0.0}


def test_half_the_modes_gives_recall_one_half():
  rng = np.random.default_rng(2)
  # Ten well-separated 2-d modes; the fake set has samples of five of them.
  angles = 2 * np.pi * np.arange(10) / 10
  centers = 10.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  real = _modes(rng, centers, 200)
  fake = _modes(rng, centers[:5], 400)
  result = pr.precision_recall(real, fake)
  assert result['precision'] > 0.95
  assert result['recall'] == pytest.approx(0.5, abs=0.05)


def test_radii_are_kth_neighbour_distances():
  # Points on a line at 0, 1, 3, 6, 10: the 2nd neighbour of 0 is 3.
  x = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]], np.float32)
  np.testing.assert_allclose(pr.squared_radii(x, k=2, batch_size=2),
                             np.array([3, 2, 3, 4, 7]) ** 2.0)


def test_blocking_does_not_change_the_result():
  rng = np.random.default_rng(3)
  real = rng.normal(size=(157, 6)).astype(np.float32)
  fake = rng.normal(0.3, 1.2, size=(131, 6)).astype(np.float32)
  whole = pr.precision_recall(real, fake, batch_size=1000)
  blocked = pr.precision_recall(real, fake, batch_size=32)
  assert whole == blocked
  assert 0.0 < whole['precision'] < 1.0 and 0.0 < whole['recall'] < 1.0


def _direct_density_coverage(real, fake, k):
  """Naeem et al.'s definitions with full numpy distance matrices."""
  real, fake = real.astype(np.float64), fake.astype(np.float64)
  real_real = np.linalg.norm(real[:, None] - real[None], axis=-1)
  radii = np.sort(real_real, axis=1)[:, k]  # column 0 is the point itself
  real_fake = np.linalg.norm(real[:, None] - fake[None], axis=-1)
  inside = real_fake < radii[:, None]  # [N real balls, M fake]
  return {'density': inside.sum() / (k * len(fake)),
          'coverage': inside.any(axis=1).mean()}


@pytest.mark.parametrize('k', [2, 5])
def test_density_coverage_match_the_definitions(k):
  rng = np.random.default_rng(4)
  real = rng.normal(size=(120, 5)).astype(np.float32)
  # Crowded around a third of the real data: density above coverage.
  fake = np.concatenate([real[:40] + 0.05 * rng.normal(size=(40, 5)),
                         rng.normal(2.0, 1.0, size=(60, 5))]
                        ).astype(np.float32)
  got = pr.density_coverage(real, fake, k=k, batch_size=32)
  expected = _direct_density_coverage(real, fake, k)
  assert got['density'] == pytest.approx(expected['density'], rel=1e-6)
  assert got['coverage'] == pytest.approx(expected['coverage'], rel=1e-6)
  assert 0.1 < got['coverage'] < 0.9


def test_density_coverage_default_k_is_five():
  rng = np.random.default_rng(5)
  real = rng.normal(size=(80, 3)).astype(np.float32)
  fake = rng.normal(0.5, 1.0, size=(70, 3)).astype(np.float32)
  assert pr.density_coverage(real, fake) == pytest.approx(
      _direct_density_coverage(real, fake, 5))


def test_density_coverage_of_matching_and_distant_sets():
  rng = np.random.default_rng(6)
  real = rng.normal(size=(1000, 4)).astype(np.float32)
  same = pr.density_coverage(real, rng.normal(size=(1000, 4)))
  assert same['density'] == pytest.approx(1.0, abs=0.1)
  assert same['coverage'] > 0.95
  far = pr.density_coverage(real, rng.normal(size=(1000, 4)) + 50.0)
  assert far == {'density': 0.0, 'coverage': 0.0}


def test_nearest_neighbours_of_copies_and_shifted_copies():
  rng = np.random.default_rng(7)
  train = rng.normal(size=(50, 6)).astype(np.float32)
  queries = np.concatenate([train[:5], train[:5] + 0.01,
                            rng.normal(size=(7, 6))]).astype(np.float32)
  indices, distances = pr.nearest_neighbours(queries, train, batch_size=4)
  direct = np.linalg.norm(queries[:, None].astype(np.float64) - train[None],
                          axis=-1)
  np.testing.assert_array_equal(indices, direct.argmin(axis=1))
  np.testing.assert_allclose(distances, direct.min(axis=1), rtol=1e-6)
  np.testing.assert_array_equal(indices[:10], np.tile(np.arange(5), 2))
  assert np.all(distances[:5] == 0.0)


def test_radii_count_duplicates_as_neighbours():
  # Three copies of 0: each one's 2nd neighbour is another copy (distance
  # 0), as a sort of each row's distances gives.
  x = np.array([[0.0], [0.0], [0.0], [1.0], [5.0]], np.float32)
  np.testing.assert_allclose(pr.squared_radii(x, k=2, batch_size=2),
                             np.array([0, 0, 0, 1, 25.0]))
  rng = np.random.default_rng(8)
  y = rng.integers(0, 3, size=(40, 2)).astype(np.float32)
  squared = ((y[:, None] - y[None]) ** 2).sum(-1)
  np.testing.assert_allclose(pr.squared_radii(y, k=3),
                             np.sort(squared, axis=1)[:, 3])
