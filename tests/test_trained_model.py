"""What `vaegan_jax.TrainedModel` takes: uint8 images as the metrics take
them, float images in [-1, 1], codes of its latent size; anything else is a
ValueError of one line saying what is expected."""

import jax
import numpy as np
import pytest

from tests import helpers
from vaegan_jax import trained_model
from vaegan_jax.data import preprocess
from vaegan_jax.metrics import extractors
from vaegan_jax.model import architectures
from vaegan_jax.model import state as state_lib


@pytest.fixture(scope='module')
def model():
  config = architectures.with_architecture(helpers.tiny_config())
  state = state_lib.create_train_state(config, jax.random.key(0))
  return trained_model.TrainedModel(config, state, 0)


@pytest.fixture(scope='module')
def pixels():
  return np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1),
                                           dtype=np.uint8)


def test_uint8_images_are_read_as_the_metrics_read_them(model, pixels):
  as_float = preprocess.to_float(pixels)
  np.testing.assert_array_equal(as_float, extractors.quantize(pixels))
  for got, want in zip(model.encode(pixels), model.encode(as_float)):
    np.testing.assert_array_equal(got, want)
  # Not the raw 0..255 values.
  raw = pixels.astype(np.float32)
  with pytest.raises(ValueError):
    model.encode(raw)


def test_floats_a_rounding_outside_the_range_are_taken(model, pixels):
  images = preprocess.to_float(pixels)
  images[0, 0, 0, 0], images[1, 0, 0, 0] = 1.0005, -1.0005
  codes, _ = model.encode(images)
  assert np.isfinite(codes).all()


def _one_line(error):
  message = str(error.value)
  assert '\n' not in message
  return message


@pytest.mark.parametrize('images,expected', [
    (np.zeros((2, 28, 28, 1), np.float32) - 3.0,
     'This model takes images [N, 28, 28, 1], uint8 in [0, 255] or float in '
     '[-1, 1]; got float values in [-3, -3].'),
    (np.full((2, 28, 28, 1), 200.0, np.float32),
     'got float values in [200, 200] (images in [0, 255]: pass them as '
     'uint8)'),
    (np.full((2, 28, 28, 1), np.nan, np.float32), 'got float values in '),
    (np.zeros((2, 64, 64, 3), np.float32), 'got shape (2, 64, 64, 3).'),
    (np.zeros((28, 28, 1), np.float32),
     'got shape (28, 28, 1) (one image: add an axis, images[None]).'),
    (np.zeros((2, 28, 28), np.float32), 'got shape (2, 28, 28).'),
    (np.zeros((2, 28, 28, 1), np.int32), 'got dtype int32.'),
    (np.zeros((2, 28, 28, 1), bool), 'got dtype bool.'),
])
def test_other_images_are_one_line_naming_what_is_expected(model, images,
                                                           expected):
  for method in (model.encode, model.reconstruct):
    with pytest.raises(ValueError) as e:
      method(images)
    assert expected in _one_line(e)


def test_codes_of_another_size_are_one_line(model):
  with pytest.raises(ValueError) as e:
    model.decode(np.zeros((2, 5), np.float32))
  assert _one_line(e) == ('This model takes codes [N, 8] of numbers; got '
                          'shape (2, 5), dtype float32.')
  assert model.decode(np.zeros((2, 8), np.float64)).shape == (2, 28, 28, 1)
