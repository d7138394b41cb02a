"""The tables users extend: `metrics.registry` and `data.sources`."""

import json
import os

import jax
import numpy as np
import pytest

from tests import helpers
from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax.data import arrays
from vaegan_jax.data import sources
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import quality
from vaegan_jax.metrics import registry
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import train
from vaegan_jax.run import validation
from vaegan_jax.store import checkpoint as checkpoint_lib

# The toy metric's values at the evaluations of steps 1, 2 and 3: higher is
# better, so step 2 is the best.
TOY_VALUES = (1.0, 5.0, 2.0)


@pytest.fixture
def toy_metric():
  """'toy', higher is better, that can select the best checkpoint: each
  evaluation's value is the next of TOY_VALUES."""
  values = iter(TOY_VALUES)
  metric = registry.register(registry.Metric(
      'toy', 'held_out', lambda context: next(values),
      lower_is_better=False, selects_best=True))
  yield metric
  registry.unregister('toy')


def _config(**overrides):
  fields = dict(train__num_steps=3, train__log_every=1,
                train__keep_checkpoints=1, eval__every=1,
                eval__num_examples=64, eval__batch_size=32,
                eval__fid_features='none', eval__best_metric='toy')
  return helpers.tiny_config(**{**fields, **overrides})


def test_a_registered_metric_is_recorded_and_selects_the_best_checkpoint(
    tmp_path, toy_metric):
  del toy_metric
  config = _config()
  validation.validate(config, device_count=1, process_count=1)
  train.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / 'eval_metrics.json') as f:
    record = json.load(f)
  assert record['step'] == 3 and record['toy'] == TOY_VALUES[2]
  # Every number of the record is a registered metric (beside the step, the
  # FID protocol and which decoder drew the samples and reconstructions).
  assert set(record) - {'step', 'fid_protocol', 'decoders'} <= {
      m.name for g in registry.GROUPS for m in registry.of_group(g)}
  # Higher is better: step 2 (5.0) is kept beside the latest, step 3.
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path), best_metric='toy',
                                     read_only=True)
  assert ckpt.manager.all_steps() == [2, 3]
  assert ckpt.best_step() == 2
  ckpt.close()


def test_the_checkpointer_keeps_the_highest_of_a_higher_is_better_metric(
    tmp_path):
  state = state_lib.create_train_state(helpers.tiny_config(),
                                       jax.random.key(0))
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path), keep=1,
                                     best_metric='precision')
  for step, precision in [(1, 0.5), (2, 0.9), (3, 0.7), (4, 0.1)]:
    ckpt.save(step, state, {'next_batch': step}, {'precision': precision})
  ckpt.wait()
  assert ckpt.manager.all_steps() == [2, 4]
  assert ckpt.best_step() == 2
  ckpt.close()


def test_an_unknown_best_metric_is_one_line_listing_the_choices(toy_metric):
  del toy_metric
  config = helpers.tiny_config(eval__best_metric='fidd')
  with pytest.raises(errors.ConfigError) as raised:
    validation.validate(config, device_count=1, process_count=1)
  message = str(raised.value)
  assert '\n' not in message
  for choice in ("'fid' (lower is better)", "'recon_mse' (lower is better)",
                 "'precision' (higher is better)", "'toy' (higher is better)"):
    assert choice in message
  # A metric with no better direction cannot select the best checkpoint.
  with pytest.raises(errors.ConfigError, match="best_metric='kl' must be"):
    checkpoint_lib.Checkpointer('unused', best_metric='kl', read_only=True)


def test_a_watched_train_metric_stops_the_run_when_not_finite():
  registry.register(registry.Metric('loss/toy', 'train',
                                    watched='the toy term'))
  try:
    with pytest.raises(errors.NonFiniteError,
                       match=r'step 8: loss/toy=nan \(the toy term\)'):
      train.check_finite([{'loss/toy': 1.0}, {'loss/toy': np.nan}], 7)
  finally:
    registry.unregister('loss/toy')
  train.check_finite([{'loss/toy': np.nan}], 7)  # no longer watched


def test_the_samples_group_records_sample_quality_and_new_metrics():
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(64, 6)), rng.normal(0.3, 1, size=(48, 6))
  head = rng.normal(size=(6, 10))
  quality_ = object.__new__(quality.SampleQuality)  # no feature network
  quality_.config = helpers.tiny_config()
  quality_.real_features = real
  quality_.real_statistics = frechet.statistics(real)
  quality_.classify = lambda features: features @ head
  context = registry.Samples(fake=fake, real=real,
                             real_statistics=quality_.real_statistics,
                             classify=quality_.classify)
  produced = quality_.score(fake)
  assert {'fid', 'precision', 'is'} <= set(produced)
  assert registry.evaluate('samples', context, produced) == produced
  # A metric of the FID features: one row, after the group's own.
  registry.register(registry.Metric(
      'mean_shift', 'samples',
      lambda c: float(np.linalg.norm(c.fake.mean(0) - c.real.mean(0))),
      lower_is_better=True, selects_best=True))
  try:
    scores = registry.evaluate('samples', context, produced)
    assert list(scores) == [*produced, 'mean_shift']
    assert scores['mean_shift'] == pytest.approx(
        np.linalg.norm(fake.mean(0) - real.mean(0)))
    assert registry.best_choices()['mean_shift'] is True
  finally:
    registry.unregister('mean_shift')
  # What the group produces but the table lacks is kept, last.
  assert list(registry.evaluate('samples', context, {'new': 1.0,
                                                     'fid': 2.0})) == [
                                                         'fid', 'new']


def test_shared_work_is_computed_once():
  calls = []

  def work(context):
    calls.append(context)
    return len(calls)

  context = registry.Bounds(np.zeros(3))
  assert context.shared(work) == context.shared(work) == 1


def test_a_metric_that_selects_the_best_needs_a_direction():
  with pytest.raises(ValueError, match='lower_is_better'):
    registry.Metric('x', 'held_out', lambda c: 0.0, selects_best=True)
  with pytest.raises(ValueError, match='already'):
    registry.register(registry.Metric('fid', 'samples'))
  with pytest.raises(ValueError, match='train step'):
    registry.Metric('x', 'train', lambda c: 0.0)


# Data sources.

TOY_IMAGES = np.random.default_rng(0).integers(
    0, 256, (40, 28, 28, 1)).astype(np.uint8)


@pytest.fixture
def toy_source():
  """'toy_arrays': TOY_IMAGES with labels 0..3, 10 of them held out."""
  prepared = []

  def open_split(config, split, annotations):
    del config
    rows = np.arange(30) if split == 'train' else np.arange(30, 40)
    return arrays.ArraySource(TOY_IMAGES, rows, {'label': np.arange(40) % 4}
                              if annotations else None)

  row = sources.register(sources.Source(
      'toy_arrays', open=open_split, describe=lambda config: 'the toy arrays',
      held_out='rows 30..39', prepare=prepared.append))
  yield prepared
  sources.unregister(row.name)


def test_a_registered_source_row_is_picked_up(toy_source):
  config = helpers.tiny_config(data__name='toy_arrays')
  train_split = data.train_data(config)
  np.testing.assert_array_equal(
      train_split['image'], TOY_IMAGES[:30].astype(np.float32) / 127.5 - 1)
  assert list(train_split['label'][:5]) == [0, 1, 2, 3, 0]
  assert len(data.eval_data(config)['image']) == 10
  assert sources.size(config, 'eval') == 10  # from its source's length
  data.prepare(config)
  assert toy_source == [config]
  iterator = data.train_iterator(config, process_index=0, process_count=1)
  try:
    assert next(iterator)['image'].shape == (8, 28, 28, 1)
  finally:
    iterator.close()
  config.train.batch_size = 31
  with pytest.raises(errors.DataError,
                     match='30 training examples of the toy arrays'):
    data.check(config)


def test_the_built_in_rows():
  for name, text in (('bundled_mnist', 'the bundled MNIST digits'),
                     ('folder', "folder '/x'"), ('cifar10', "TFDS 'cifar10'")):
    config = helpers.tiny_config(data__name=name)
    config.data.path = '/x'
    assert sources.describe(config) == text
  assert sources.held_out(config) == 'config.data.eval_split'
  sources.unregister('folder')  # the table's own rows stay
  assert sources.find(helpers.tiny_config(data__name='folder')).name == (
      'folder')
