"""The latent measures: class coverage of samples and the jump along lines
between codes."""

import types

import numpy as np
import pytest

from experiments import latent
from tests import helpers


def test_class_shares_and_their_distance_from_uniform():
  shares, distance = latent.class_shares(np.arange(10).repeat(5))
  assert shares == [0.1] * 10 and distance == 0.0
  shares, distance = latent.class_shares(np.zeros(40, int))
  assert shares[0] == 1.0 and distance == pytest.approx(0.9)
  # 55% threes, 5% of each other class: 0.45 too many threes.
  labels = np.concatenate([np.full(50, 3), np.arange(10).repeat(5)])
  assert latent.class_shares(labels)[1] == pytest.approx(0.45)


def test_jump_is_the_largest_step_over_the_mean_step():
  even = np.linspace(0, 1, 16)[:, None] * np.ones((1, 4))
  assert latent.jump(even) == pytest.approx(1.0)
  step = np.zeros((16, 4))
  step[8:] = 1.0  # all of the change between frames 7 and 8
  assert latent.jump(step) == pytest.approx(15.0)
  assert latent.jump(np.zeros((16, 4))) == 1.0


def test_smoothness_decodes_each_line_in_order():
  config = helpers.tiny_config(loss__objective='gan')
  seen = {}

  def decode(codes):  # a step function of the first coordinate's sign
    seen['codes'] = codes
    return np.where(codes[:, :1, None, None] > 0, 1.0, -1.0) * np.ones(
        (len(codes), 28, 28, 1), np.float32)

  model = types.SimpleNamespace(config=config, decode=decode)
  classify = lambda images: (
      None, images.reshape(len(images), -1)[:, :1].astype(np.float64))
  out = latent.smoothness(model, classify, pairs=20, frames=8)
  assert set(out) == {'prior'}  # a GAN: no encoder, no encoded lines
  codes = seen['codes'].reshape(20, 8, -1)
  # Straight lines at even spacing, both ends included.
  np.testing.assert_allclose(np.diff(codes, 2, axis=1), 0, atol=1e-5)
  # A sign change along a line is one step: 7 over a mean of 1 / 7 of it.
  changes = np.sign(codes[:, 0, 0]) != np.sign(codes[:, -1, 0])
  assert 0 < changes.sum() < 20
  assert out['prior'] == pytest.approx(np.median(np.where(changes, 7.0, 1.0)))
