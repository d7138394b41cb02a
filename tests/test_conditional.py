"""Class-conditional generation: the data's conditions reach every network,
the trained model samples each class, and sample mode draws one row per
class. (The step's isolation tests hold for the conditional step too:
`tests/test_step.py`.)"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import vaegan_jax
from tests import helpers
from vaegan_jax import data
from vaegan_jax.model import networks
from vaegan_jax.run import modes
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import train


def _config(**overrides):
  fields = dict(model__conditional=True, train__num_steps=2,
                train__log_every=1, eval__every=0, eval__num_examples=32,
                eval__batch_size=32, eval__num_fid_samples=16)
  return helpers.tiny_config(**{**fields, **overrides})


def test_digit_batches_carry_one_hot_classes():
  config = data.with_conditions(_config())
  assert config.model.num_conditions == 10
  batch = next(data.train_iterator(config))
  assert batch['condition'].shape == (8, 10)
  np.testing.assert_array_equal(batch['condition'].sum(axis=1), 1.0)
  assert 'condition' not in next(data.train_iterator(helpers.tiny_config()))


def test_a_folders_attributes_are_the_conditions(tmp_path):
  root = tmp_path / 'images'
  root.mkdir()
  for i in range(6):
    Image.new('RGB', (12, 12), (40 * i, 0, 0)).save(root / f'{i}.png')
  attributes = tmp_path / 'attributes.txt'
  attributes.write_text('6\nRed Bright\n' + ''.join(
      f'{i}.png {1 if i % 2 else -1} {1 if i > 2 else -1}\n'
      for i in range(6)))
  config = _config(train__batch_size=2)
  config.data.update({'name': 'folder', 'path': str(root), 'crop': 'none',
                      'image_size': 8, 'channels': 3, 'holdout_fraction': 0.0,
                      'attributes_file': str(attributes),
                      'cache_dir': str(tmp_path / 'cache')})
  config = data.with_conditions(config)
  assert config.model.num_conditions == 2
  conditions = np.concatenate([b['condition'] for b in
                               [next(data.train_iterator(config))
                                for _ in range(1)]])
  assert set(np.unique(conditions)) <= {0.0, 1.0}


def test_every_network_uses_the_condition():
  config = _config(model__num_conditions=10)
  nets = networks.build(config)
  state = state_lib.create_train_state(config, jax.random.key(0))
  v = lambda net: {'params': state.params[net],
                   'batch_stats': state.batch_stats[net]}
  x = jnp.asarray(helpers.random_images(config, 2))
  z = jax.random.normal(jax.random.key(1), (2, 8))
  one, two = jnp.eye(10)[jnp.array([1, 1])], jnp.eye(10)[jnp.array([2, 2])]
  for net, inputs in (('encoder', x), ('decoder', z), ('discriminator', x)):
    apply = lambda c, net=net, inputs=inputs: nets.apply(
        net, v(net), inputs, c, train=False)
    assert helpers.max_abs_diff(apply(one), apply(two)) > 1e-6, net


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('conditional'))
  train.train_and_evaluate(_config(), workdir)
  return workdir


@pytest.mark.slow  # a whole training run
def test_a_conditional_run_samples_each_class(run):
  model = vaegan_jax.load(run)
  assert model.config.model.num_conditions == 10
  by_label = model.sample(4, seed=0, conditions=np.array([3, 3, 7, 7]))
  one_hot = model.sample(4, seed=0, conditions=np.eye(10)[[3, 3, 7, 7]])
  np.testing.assert_allclose(by_label, one_hot, atol=1e-6)
  images = data.eval_data(model.config, 2)['image']
  assert model.reconstruct(images, np.array([0, 1])).shape == images.shape


def test_sample_mode_draws_a_row_per_class(run):
  path = modes.sample_checkpoint(_config(), run, 'latest', num=3, seed=1)
  assert np.load(path.replace('.png', '.npy')).shape == (30, 28, 28, 1)
  with Image.open(path) as grid:
    assert grid.size == (3 * 30 + 2, 10 * 30 + 2)  # 3 columns, 10 rows
  assert os.path.exists(os.path.join(run, 'samples_8x8.png'))
