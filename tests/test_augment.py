"""DiffAugment: each policy against a hand computation, one draw shared by
every group of images the discriminator judges (in the step too), and
gradients that flow back through the augmentation as the analytic ones."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests import helpers
from vaegan_jax.model import algorithm
from vaegan_jax.model import augment
from vaegan_jax.model import networks
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import validation

KEY = jax.random.key(3)
ALL = ('color', 'translation', 'cutout', 'flip')


def _images(n=4, size=16, channels=3, seed=0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.uniform(-1, 1, (n, size, size, channels)),
                     jnp.float32)


def test_policies_read_a_comma_list_or_a_sequence():
  assert augment.policies('') == ()
  assert augment.policies('color, translation') == ('color', 'translation')
  assert augment.policies(['cutout']) == ('cutout',)
  with pytest.raises(ValueError, match=r"\['colour'\].*comma-separated"):
    augment.policies('colour,cutout')


def _shifted(image, dy, dx):
  """Pixel (h, w) of the output is pixel (h + dy, w + dx), or 0."""
  out = np.zeros_like(image)
  height, width = image.shape[:2]
  for h in range(height):
    for w in range(width):
      if 0 <= h + dy < height and 0 <= w + dx < width:
        out[h, w] = image[h + dy, w + dx]
  return out


def test_translation_moves_each_image_by_its_draw_with_a_zero_border():
  x = _images()
  d = augment.draw(KEY, 4, x.shape[1:], ('translation',))
  assert np.all(np.abs(d['shift_y']) <= 2) and np.all(np.abs(d['shift_x']) <= 2)
  out = augment.apply(x, d, ('translation',))
  for i in range(4):
    np.testing.assert_array_equal(
        out[i], _shifted(np.asarray(x[i]), int(d['shift_y'][i]),
                         int(d['shift_x'][i])))


def test_color_is_brightness_then_saturation_then_contrast():
  x = _images()
  d = augment.draw(KEY, 4, x.shape[1:], ('color',))
  out = augment.apply(x, d, ('color',))
  for i in range(4):
    b, s, c = (float(d[k][i]) for k in ('brightness', 'saturation',
                                        'contrast'))
    y = np.asarray(x[i], np.float64) + b
    y = (y - y.mean(-1, keepdims=True)) * s + y.mean(-1, keepdims=True)
    y = (y - y.mean()) * c + y.mean()
    np.testing.assert_allclose(out[i], y, rtol=1e-5, atol=1e-5)
  assert np.all((-0.5 <= d['brightness']) & (d['brightness'] <= 0.5))
  assert np.all((0 <= d['saturation']) & (d['saturation'] <= 2))
  assert np.all((0.5 <= d['contrast']) & (d['contrast'] <= 1.5))


def test_cutout_zeroes_a_half_size_square_as_the_reference():
  x = _images(n=32)
  d = augment.draw(KEY, 32, x.shape[1:], ('cutout',))
  out = np.asarray(augment.apply(x, d, ('cutout',)))
  for i in range(32):  # the reference's clamped index grid
    mask = np.ones((16, 16))
    ys = np.clip(np.arange(8) + int(d['cutout_y'][i]) - 4, 0, 15)
    xs = np.clip(np.arange(8) + int(d['cutout_x'][i]) - 4, 0, 15)
    mask[np.ix_(ys, xs)] = 0
    np.testing.assert_array_equal(out[i], np.asarray(x[i]) * mask[..., None])
  assert (out == 0).any(axis=(1, 2, 3)).all()


def test_flip_mirrors_the_rows_drawn():
  x = _images(n=16)
  d = augment.draw(KEY, 16, x.shape[1:], ('flip',))
  out = augment.apply(x, d, ('flip',))
  for i in range(16):
    want = x[i, :, ::-1] if d['flip'][i] else x[i]
    np.testing.assert_array_equal(out[i], want)
  assert 0 < int(d['flip'].sum()) < 16


def test_every_group_gets_the_same_draw():
  # Real images, reconstructions and prior samples: row i of each group
  # gets transformation i.
  real, fake = _images(seed=1), _images(seed=2)
  out = augment.augment(jnp.concatenate([real, real, fake]), KEY, ALL,
                        group=4)
  np.testing.assert_array_equal(out[:4], out[4:8])
  np.testing.assert_allclose(out[8:], augment.augment(fake, KEY, ALL),
                             atol=1e-6)
  # ... and different rows of a group different ones.
  same = augment.augment(jnp.concatenate([real[:1]] * 4), KEY, ALL)
  assert len({np.asarray(row).tobytes() for row in same}) > 1
  # A shorter group (replayed samples) takes the first transformations.
  np.testing.assert_allclose(
      augment.augment(jnp.concatenate([real, real[:2]]), KEY, ALL,
                      group=4)[4:], out[:2], atol=1e-6)


def _vjp(names, x, cotangent):
  out, pullback = jax.vjp(lambda v: augment.augment(v, KEY, names), x)
  return out, pullback(cotangent)[0]


def test_the_gradient_through_translation_is_the_shift_back():
  x, v = _images(), _images(seed=5)
  _, grad = _vjp(('translation',), x, v)
  d = augment.draw(KEY, 4, x.shape[1:], ('translation',))
  for i in range(4):  # each input pixel feeds the output pixel it moved to
    back = _shifted(np.asarray(v[i]), -int(d['shift_y'][i]),
                    -int(d['shift_x'][i]))
    np.testing.assert_allclose(grad[i], back, rtol=1e-6)
  assert float(jnp.abs(grad).sum()) > 0


def test_the_gradient_through_color_is_the_analytic_one():
  x, v = _images(), _images(seed=5)
  _, grad = _vjp(('color',), x, v)
  d = augment.draw(KEY, 4, x.shape[1:], ('color',))
  for i in range(4):
    s, c = float(d['saturation'][i]), float(d['contrast'][i])
    u = np.asarray(v[i], np.float64)
    u = c * u + (1 - c) * u.mean()  # back through the contrast
    u = s * u + (1 - s) * u.mean(-1, keepdims=True)  # the saturation
    np.testing.assert_allclose(grad[i], u, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', ALL)
def test_the_gradient_of_a_sum_of_augmented_images_is_not_zero(name):
  x = _images()
  grad = jax.grad(lambda v: jnp.sum(augment.augment(v, KEY, (name,)) ** 2))(x)
  assert float(jnp.abs(grad).sum()) > 0
  assert bool(jnp.all(jnp.isfinite(grad)))


def test_the_step_shows_the_discriminator_every_image_by_one_draw(
    monkeypatch):
  # Every augmented pass of a step (real and generated images, replayed
  # samples, L_llike's pair, R1's real images) uses the same draw.
  calls = []
  original = augment.apply

  def spy(x, d, names):
    calls.append(d)
    return original(x, d, names)

  monkeypatch.setattr(augment, 'apply', spy)
  config = helpers.tiny_config(loss__augment='color,translation,cutout',
                               loss__augment_llike=True,
                               loss__discriminate_recon=True,
                               loss__replay_size=16, loss__r1_weight=1.0,
                               loss__r1_every=1)
  state = state_lib.create_train_state(config, jax.random.key(0))
  batch = {'image': jnp.asarray(helpers.random_images(config, 8))}

  def draws(params):  # compiled: the draws come out as the step made them
    algorithm.loss_terms(algorithm.hyperparameters(config),
                         networks.build(config), 'vaegan', params,
                         state.batch_stats, batch, KEY, state.replay)
    return list(calls)

  seen = jax.jit(draws)(state.params)
  assert len(seen) == 4  # L_llike, L_GAN, the replayed samples, R1
  for d in seen[1:]:
    chex.assert_trees_all_equal(d, seen[0])


def test_config_validation_refuses_flipped_digits_and_unknown_policies():
  flipped = validation.problems(helpers.tiny_config(
      loss__augment='translation,flip'))
  assert len(flipped) == 1 and 'mirror image of a digit' in flipped[0]
  unknown = validation.problems(helpers.tiny_config(loss__augment='colour'))
  assert len(unknown) == 1 and 'comma-separated list' in unknown[0]
  assert not validation.problems(helpers.tiny_config(
      loss__augment='color,translation,cutout'))
