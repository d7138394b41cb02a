"""Remedies for mode collapse: minibatch standard deviation in the
discriminator, and experience replay of past samples."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from tests import helpers
from vaegan_jax.store import checkpoint as checkpoint_lib
from vaegan_jax.model import algorithm
from vaegan_jax.model import networks
from vaegan_jax.model import replay
from vaegan_jax.model import state as state_lib

RNG = jax.random.key(3)


def test_minibatch_std_channel_is_the_spread_of_each_group():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(8, 3, 3, 2)), jnp.float32)
  copies = jnp.repeat(x[:1], 4, axis=0)
  out = networks._with_minibatch_std(jnp.concatenate([copies, x[4:]]))
  chex.assert_shape(out, (8, 3, 3, 3))
  np.testing.assert_array_equal(out[..., :2], jnp.concatenate([copies,
                                                              x[4:]]))
  # Four copies of one image have no spread; the other group has.
  np.testing.assert_allclose(out[:4, ..., 2], 1e-4, rtol=1e-3)
  expected = np.mean(np.std(np.asarray(x[4:]), axis=0))
  np.testing.assert_allclose(out[4:, ..., 2], expected, rtol=1e-4)


def test_minibatch_std_changes_only_what_follows_dis_l():
  config = helpers.tiny_config()
  with_std = helpers.tiny_config(model__minibatch_std=True)
  x = jnp.asarray(helpers.random_images(config, 8))
  dense_in = lambda c: state_lib.abstract_train_state(c).params[
      'discriminator']['Dense_0']['kernel'].shape[0]
  assert dense_in(with_std) == dense_in(config) + 7 * 7  # one more channel
  variables = networks.build(with_std).discriminator.init(
      jax.random.key(0), x, train=False)
  logits, features = networks.build(with_std).discriminator.apply(
      variables, x, train=False)
  chex.assert_shape(logits, (8,))
  chex.assert_shape(features, (8, 7, 7, 16))


def test_replay_buffer_is_a_ring_of_the_latest_samples():
  buffer = replay.init(5, (2, 2, 1), None)
  for i in range(3):  # 3 steps of 3 samples filled with the step number
    buffer = replay.add(buffer, jnp.full((3, 2, 2, 1), float(i + 1)), None)
  assert int(buffer.count) == 9
  # Rows 0-4 hold samples 5..8 (steps 2, 3, 3, 3) and sample 4 (step 2).
  np.testing.assert_array_equal(buffer.images[:, 0, 0, 0],
                                [2.0, 3.0, 3.0, 3.0, 2.0])
  fresh = jnp.zeros((4, 2, 2, 1))
  drawn, _ = replay.sample(buffer, fresh, None, 0.5, RNG)
  chex.assert_shape(drawn, (2, 2, 2, 1))
  assert set(np.asarray(drawn[:, 0, 0, 0])) <= {2.0, 3.0}
  empty = replay.init(5, (2, 2, 1), None)
  drawn, _ = replay.sample(empty, fresh + 7.0, None, 0.5, RNG)
  np.testing.assert_array_equal(drawn, 7.0)  # this step's own until filled


def test_replay_reaches_the_discriminator_not_the_decoder():
  config = helpers.tiny_config(loss__replay_size=16,
                               loss__equilibrium_gating=False)
  state = state_lib.create_train_state(config, jax.random.key(0))
  images = jnp.asarray(helpers.random_images(config, 8))
  train_step = jax.jit(algorithm.make_train_step(config))
  new_state, _ = train_step(state, {'image': images}, RNG)
  assert int(new_state.replay.count) == 8  # this step's samples kept
  assert float(jnp.abs(new_state.replay.images[:8]).sum()) > 0
  # Another buffer content: the discriminator's update changes, the
  # encoder's and decoder's do not.
  noise = jnp.asarray(helpers.random_images(config, 16, seed=5))
  other = state.replace(replay=replay.Replay(
      images=noise, conditions=None, count=jnp.asarray(16, jnp.int32)))
  other_state, _ = train_step(other, {'image': images}, RNG)
  filled = state.replace(replay=replay.Replay(
      images=-noise, conditions=None, count=jnp.asarray(16, jnp.int32)))
  filled_state, _ = train_step(filled, {'image': images}, RNG)
  for net, same in (('encoder', True), ('decoder', True),
                    ('discriminator', False)):
    diff = helpers.max_abs_diff(other_state.params[net],
                                filled_state.params[net])
    assert (diff == 0) == same, (net, diff)


def test_replay_buffer_is_checkpointed(tmp_path):
  config = helpers.tiny_config(loss__replay_size=16)
  state = state_lib.create_train_state(config, jax.random.key(0))
  state = state.replace(replay=state.replay.replace(
      images=state.replay.images + 0.5, count=jnp.asarray(3, jnp.int32)))
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  ckpt.save(1, state, {'next_batch': 1})
  ckpt.wait()
  restored, _ = ckpt.restore(1, state_lib.abstract_train_state(config))
  ckpt.close()
  chex.assert_trees_all_equal(jax.device_get(restored.replay),
                              jax.device_get(state.replay))


def test_a_replay_buffer_saved_as_a_dict_restores(tmp_path):
  # Releases before `replay.Replay` saved the buffer as a dict
  # {'images', 'count'} (and 'conditions'); it restores into the dataclass.
  config = helpers.tiny_config(loss__replay_size=16)
  state = state_lib.create_train_state(config, jax.random.key(0))
  buffer = {'images': state.replay.images + 0.5,
            'count': jnp.asarray(3, jnp.int32)}
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  ckpt.save(1, state.replace(replay=buffer), {'next_batch': 1})
  ckpt.wait()
  restored, _ = ckpt.restore(1, state_lib.abstract_train_state(config))
  ckpt.close()
  assert isinstance(restored.replay, replay.Replay)
  assert restored.replay.conditions is None
  assert int(restored.replay.count) == 3
  np.testing.assert_array_equal(restored.replay.images, buffer['images'])
