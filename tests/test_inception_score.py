"""The Inception Score against an independent computation and its bounds."""

import numpy as np
import pytest
from scipy import special
from scipy import stats

from vaegan_jax.metrics import inception_score


def _reference(logits, splits):
  """exp(mean KL(p(y|x) || p(y))) per split, with scipy."""
  scores = []
  for part in np.array_split(logits, splits):
    p = special.softmax(part.astype(np.float64), axis=1)
    marginal = p.mean(axis=0)
    scores.append(np.exp(np.mean([stats.entropy(row, marginal)
                                  for row in p])))
  return np.mean(scores), np.std(scores)


def test_matches_an_independent_computation():
  logits = np.random.default_rng(0).normal(scale=3.0, size=(200, 7))
  mean, std = inception_score.inception_score(logits, splits=4)
  ref_mean, ref_std = _reference(logits, 4)
  np.testing.assert_allclose([mean, std], [ref_mean, ref_std], rtol=1e-10)
  assert std > 0


def test_uniform_predictions_score_one():
  mean, std = inception_score.inception_score(np.zeros((50, 10)))
  assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize('k', [1, 3, 10])
def test_confident_predictions_spread_over_k_classes_score_k(k):
  logits = np.full((20 * k, 10), -1e3)
  logits[np.arange(20 * k), np.arange(20 * k) % k] = 1e3
  mean, _ = inception_score.inception_score(logits, splits=2)
  assert mean == pytest.approx(k, rel=1e-9)
