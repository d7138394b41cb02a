"""Pictures, held-out metrics, the collapse watch and the notebook API."""

import json
import os
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest
from etils import epath
from PIL import Image

import vaegan_jax
from tests import helpers
from vaegan_jax.store import checkpoint as checkpoint_lib
from vaegan_jax import data
from vaegan_jax.data import images as images_lib
from vaegan_jax.model import inference
from vaegan_jax import metrics
from vaegan_jax.run import modes
from vaegan_jax.output import plots
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import train
from vaegan_jax.output import writers
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import fid_protocol
from vaegan_jax.metrics import held_out
from vaegan_jax.metrics import quality

PICTURES = ('samples_4x4', 'samples_8x8', 'reconstructions',
            'interpolation_linear', 'interpolation_slerp', 'random_walks',
            'loss_curves')


def _config(num_steps=2, **overrides):
  fields = dict(train__num_steps=num_steps, train__log_every=1,
                eval__every=0, eval__num_examples=64, eval__batch_size=32,
                eval__fid_features='none')
  return helpers.tiny_config(**{**fields, **overrides})


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  """A run of 2 steps, evaluated at both."""
  path = str(tmp_path_factory.mktemp('run'))
  train.train_and_evaluate(_config(eval__every=1), path)
  return path


def _png(path):
  with Image.open(path) as image:
    return np.asarray(image)


def test_each_evaluation_keeps_its_pictures_and_the_gif_shows_them(workdir):
  pictures = os.path.join(workdir, 'pictures')
  assert sorted(os.listdir(pictures)) == [
      f'{name}_step_00000{step}.png'
      for name in ('reconstructions', 'samples_8x8') for step in (1, 2)]
  kept = [_png(os.path.join(pictures, f'samples_8x8_step_00000{step}.png'))
          for step in (1, 2)]
  np.testing.assert_array_equal(kept[1], _png(os.path.join(
      workdir, 'samples_8x8.png')))  # the latest stays in the root
  assert not np.array_equal(kept[0], kept[1])  # training changed them
  with Image.open(os.path.join(workdir, 'samples_over_training.gif')) as gif:
    assert gif.n_frames == 2 and gif.info['loop'] == 0
    for i, picture in enumerate(kept):
      gif.seek(i)
      frame = np.asarray(gif.convert('L'))
      np.testing.assert_array_equal(frame[-picture.shape[0]:], picture)
      assert (frame[:-picture.shape[0]] < 128).any()  # the step's label


def test_animation_spreads_its_frames_over_a_long_run(tmp_path):
  frames = []
  for step in range(0, 2500, 10):
    path = tmp_path / writers.kept_name('samples', step)
    writers.save_png(str(path), np.full((4, 4, 1), step % 256, np.uint8))
    frames.append((step, epath.Path(path)))
  assert writers.kept_pictures(epath.Path(tmp_path), 'samples') == frames
  writers.save_animation(epath.Path(tmp_path / 'a.gif'), frames)
  with Image.open(tmp_path / 'a.gif') as gif:
    assert gif.n_frames == writers.MAX_FRAMES
    gif.seek(gif.n_frames - 1)
    assert np.asarray(gif.convert('L'))[-1, -1] == 2490 % 256  # the last


def test_a_run_leaves_every_picture_and_the_metrics(workdir):
  for name in PICTURES:
    with Image.open(os.path.join(workdir, f'{name}.png')) as image:
      assert image.size[0] > 28, name
  with Image.open(os.path.join(workdir, 'samples_4x4.png')) as image:
    assert image.size == (4 * 30 + 2, 4 * 30 + 2)  # 28px + 2px gaps
  with open(os.path.join(workdir, 'eval_metrics.json')) as f:
    metrics = json.load(f)
  assert metrics['step'] == 2
  assert len(metrics['kl_per_dim']) == 8
  np.testing.assert_allclose(sum(metrics['kl_per_dim']), metrics['kl'],
                             rtol=1e-5)
  assert 0 < metrics['recon_mse'] < 1 and metrics['psnr'] > 0
  assert 0 <= metrics['active_units'] <= 8


def test_api_round_trips_on_numpy(workdir):
  model = vaegan_jax.load(workdir)
  assert model.step == 2
  images = data.eval_data(model.config, 5)['image']
  mean, logvar = model.encode(images)
  chex.assert_shape([mean, logvar], (5, 8))
  decoded = model.decode(mean)
  chex.assert_shape(decoded, (5, 28, 28, 1))
  np.testing.assert_allclose(model.reconstruct(images), decoded, atol=1e-6)
  # Batching does not change results: one image alone gives the same code.
  np.testing.assert_allclose(model.encode(images[2:3])[0], mean[2:3],
                             atol=1e-5)
  np.testing.assert_array_equal(model.sample(3, seed=1),
                                model.sample(3, seed=1))
  assert not np.allclose(model.sample(3, seed=1), model.sample(3, seed=2))


def test_api_interpolation_ends_at_the_two_reconstructions(workdir):
  model = vaegan_jax.load(workdir)
  images = data.eval_data(model.config, 2)['image']
  recon = model.reconstruct(images)
  for method in ('linear', 'slerp'):
    path = model.interpolate(images[0], images[1], steps=6, method=method)
    chex.assert_shape(path, (6, 28, 28, 1))
    np.testing.assert_allclose(path[0], recon[0], atol=1e-5)
    np.testing.assert_allclose(path[-1], recon[1], atol=1e-5)


def test_api_attribute_vector_is_the_difference_of_means(workdir):
  model = vaegan_jax.load(workdir)
  images = data.eval_data(model.config, 10)['image']
  has = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0, 1], bool)
  mean, _ = model.encode(images)
  vector = model.attribute_vector(images, has)
  np.testing.assert_allclose(vector, mean[has].mean(0) - mean[~has].mean(0),
                             rtol=1e-5, atol=1e-6)
  edited = model.apply_attribute(images[:2], vector, scale=2.0)
  np.testing.assert_allclose(edited, model.decode(mean[:2] + 2 * vector),
                             atol=1e-6)


def test_evaluate_and_sample_modes(workdir):
  config = _config()
  results = modes.evaluate_checkpoint(config, workdir, 'latest')
  out = os.path.join(workdir, 'evaluation', 'step_2')
  assert os.path.exists(os.path.join(out, 'reconstructions.png'))
  with open(os.path.join(out, 'eval_metrics.json')) as f:
    assert json.load(f)['recon_mse'] == pytest.approx(results['recon_mse'])
  path = modes.sample_checkpoint(config, workdir, 2, num=9, seed=3)
  assert path.endswith('step_2_seed_3.png') and os.path.exists(path)
  assert np.load(path.replace('.png', '.npy')).shape == (9, 28, 28, 1)


def test_sample_mode_writes_what_fid_tools_read(workdir, tmp_path):
  config = _config(eval__batch_size=4)  # 9 samples in several chunks
  out = str(tmp_path / 'out')
  path = modes.sample_checkpoint(config, workdir, 2, num=9, seed=3,
                                    formats=['all'], output_dir=out)
  assert path == os.path.join(out, 'step_2_seed_3.png')
  floats = np.load(os.path.join(out, 'step_2_seed_3.npy'))
  expected = images_lib.to_uint8(vaegan_jax.load(workdir).sample(9, seed=3))
  np.testing.assert_array_equal(images_lib.to_uint8(floats), expected)
  with np.load(os.path.join(out, 'step_2_seed_3.npz')) as npz:
    assert npz.files == ['arr_0']  # the ADM evaluator's layout
    pixels = npz['arr_0']
  assert pixels.dtype == np.uint8 and pixels.shape == (9, 28, 28, 3)
  np.testing.assert_array_equal(pixels, np.repeat(expected, 3, axis=-1))
  folder = os.path.join(out, 'step_2_seed_3')
  assert sorted(os.listdir(folder)) == [f'{i:06d}.png' for i in range(9)]
  for i in (0, 8):
    with Image.open(os.path.join(folder, f'{i:06d}.png')) as image:
      np.testing.assert_array_equal(np.asarray(image), expected[i, ..., 0])
  only_npz = modes.sample_checkpoint(config, workdir, 2, num=9, seed=3,
                                        formats=['npz'], output_dir=out)
  assert only_npz.endswith('.npz')


@pytest.mark.slow
def test_export_decodes_without_the_trainer(workdir, tmp_path):
  path = modes.export_checkpoint(_config(), workdir, 'latest',
                                    str(tmp_path))
  assert path == str(tmp_path / 'model_step_2.msgpack')
  codes = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
  np.save(tmp_path / 'codes.npy', codes)
  # A fresh process in which orbax cannot even be imported: the README's
  # lines, then the images.
  script = f"""
import sys
sys.modules['orbax'] = None
import numpy as np
from vaegan_jax.store import export
from vaegan_jax.model import networks
config, variables = export.load({path!r})
decoder = networks.build(config).decoder
images = decoder.apply(variables['decoder'], np.load({str(tmp_path / 'codes.npy')!r}), train=False)
np.save({str(tmp_path / 'images.npy')!r}, np.asarray(images))
assert not any(m.startswith('orbax') and sys.modules[m] for m in sys.modules)
"""
  proc = subprocess.run([sys.executable, '-c', script], cwd=helpers.ROOT,
                        env=helpers.subprocess_env(), capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  expected = vaegan_jax.load(workdir).decode(codes)
  np.testing.assert_allclose(np.load(tmp_path / 'images.npy'), expected,
                             atol=1e-5)


def test_attribute_vectors_per_attribute():
  codes = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
  attributes = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
  vectors = inference.attribute_vectors(codes, attributes)
  np.testing.assert_allclose(vectors[0], [2.0, 0.0] - np.array([0.0, 3.0]))
  np.testing.assert_allclose(vectors[1], [0.0, 2.0] - np.array([4 / 3, 4 / 3]))
  constant = inference.attribute_vectors(codes, np.ones((4, 1)))
  np.testing.assert_array_equal(constant, 0)


def test_slerp_keeps_the_norm_between_equal_norm_codes():
  a, b = np.array([3.0, 0.0, 0.0]), np.array([0.0, 0.0, 3.0])
  path = inference.slerp(a, b, np.linspace(0, 1, 7))
  np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0, rtol=1e-6)
  np.testing.assert_allclose(path[[0, -1]], [a, b], atol=1e-6)


def test_active_units_and_pixel_errors():
  rng = np.random.default_rng(0)
  mean = np.stack([rng.normal(size=100), np.full(100, 0.3),
                   0.01 * rng.normal(size=100)], axis=1)
  assert held_out.active_units(mean) == 1
  images = rng.uniform(-1, 1, (4, 8, 8, 1))
  errors = held_out.pixel_errors(images, images + 0.2)  # 0.1 on [0, 1]
  np.testing.assert_allclose(errors['recon_mse'], 0.01, rtol=1e-6)
  np.testing.assert_allclose(errors['psnr'], 20.0, rtol=1e-6)


def test_loss_curves_picture():
  records = [{'step': s, 'loss/kl': 1.0 / s, 'loss/llike': 10.0 - s,
              'loss/gan_d': 0.7, 'loss/gan_g': -0.6, 'd/real': 0.6,
              'd/recon': 0.4, 'd/prior': 0.3, 'grad_norm/encoder': 3.0,
              'grad_norm/decoder': 1.0, 'grad_norm/discriminator': 2.0}
             for s in range(1, 6)]
  picture = plots.loss_curves(records)
  assert picture.dtype == np.uint8 and picture.ndim == 3
  assert picture.shape[1] > 4 * picture.shape[0]  # one row of panels
  assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 10  # drawn


def test_a_chart_with_more_lines_than_colours_dashes_the_rest():
  styles = [plots.line_style(i) for i in range(2 * len(plots.COLOURS))]
  assert len(set(styles)) == len(styles)  # no two lines look the same
  # The same line drawn first (solid) and after every colour (dashed): the
  # other lines are empty, so only the line itself differs between them.
  line, empty = ('a', [0, 1, 2], [0.0, 2.0, 1.0]), ('-', [], [])
  others = [empty] * (len(plots.COLOURS) - 1)
  pixels = []
  for lines in ([line] + others + [empty], [empty] + others + [line]):
    picture = plots.line_charts([plots.Panel('t', lines)])
    pixels.append(np.all(picture == plots.COLOURS[0], axis=-1).sum())
  solid, dashed = pixels
  assert 0.4 * solid < dashed < 0.8 * solid  # gaps of 4 in every 10 pixels


@pytest.mark.slow
def test_a_run_with_digits_fid_keeps_the_best_checkpoint(tmp_path,
                                                         monkeypatch):
  # A short classifier schedule: this checks the wiring, not the classifier.
  monkeypatch.setattr(quality, 'CLASSIFIER_SETTINGS',
                      digits_classifier.Settings(num_steps=50))
  config = _config(num_steps=3, eval__every=1, eval__fid_features='digits',
                   eval__classifier_dir=str(tmp_path / 'classifier'),
                   train__keep_checkpoints=1)
  train.train_and_evaluate(config, str(tmp_path / 'run'))
  records = [json.loads(l) for l in open(tmp_path / 'run' / 'metrics.jsonl')]
  fids = {r['step']: r['eval/fid'] for r in records if 'eval/fid' in r}
  assert sorted(fids) == [1, 2, 3]
  for r in records:
    if 'eval/fid' in r:
      assert 0 <= r['eval/precision'] <= 1 and 0 <= r['eval/recall'] <= 1
  best = min(fids, key=fids.get)
  kept = sorted(int(s) for s in os.listdir(tmp_path / 'run' / 'checkpoints'))
  assert kept == sorted({best, 3})  # the best by FID and the latest
  assert vaegan_jax.load(str(tmp_path / 'run'), 'best').step == best
  # The protocol is written beside the number.
  with open(tmp_path / 'run' / 'eval_metrics.json') as f:
    protocol = json.load(f)['fid_protocol']
  assert protocol['samples'] == 256 and protocol['reference'] == 'eval'
  assert protocol['reference_size'] == 64 and protocol['features'] == 'digits'
  names = {r['eval/fid_protocol'] for r in records if 'eval/fid' in r}
  assert names == {'FID-256 vs eval (64 images), digits'}
  # Anyone can check the FID: the samples `--mode=sample --seed=13` writes
  # as PNG files score the FID the run wrote.
  folder = modes.sample_checkpoint(
      config, str(tmp_path / 'run'), 3, num=256, seed=fid_protocol.SAMPLE_SEED,
      formats=['png'], output_dir=str(tmp_path / 'samples'))
  pngs = np.stack([np.asarray(Image.open(os.path.join(folder, name)))
                   for name in sorted(os.listdir(folder))])[..., None]
  held = data.eval_data(config, 64)['image']
  assert metrics.SampleQuality(config, held)(pngs)['fid'] == pytest.approx(
      fids[3], rel=1e-9)


def test_checkpointer_keeps_the_latest_and_the_lowest_metric(tmp_path):
  config = _config()
  state = state_lib.create_train_state(config, jax.random.key(0))
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path), keep=1, best_metric='fid')
  for step, fid in [(1, 5.0), (2, 3.0), (3, 4.0), (4, 6.0)]:
    ckpt.save(step, state, {'next_batch': step}, {'fid': fid})
  ckpt.wait()
  assert ckpt.manager.all_steps() == [2, 4]
  assert ckpt.best_step() == 2 and ckpt.latest_step() == 4
  ckpt.close()


def test_best_checkpoint_survives_a_restart(tmp_path):
  state = state_lib.create_train_state(_config(), jax.random.key(0))
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path), keep=1, best_metric='fid')
  ckpt.save(1, state, {'next_batch': 1}, {'fid': 2.0})
  ckpt.save(2, state, {'next_batch': 2}, {'fid': 9.0})
  ckpt.close()
  # A resumed run's manager must still know which checkpoint is the best.
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path), keep=1, best_metric='fid')
  ckpt.save(3, state, {'next_batch': 3}, {'fid': 5.0})
  ckpt.save(4, state, {'next_batch': 4})
  ckpt.wait()
  assert ckpt.best_step() == 1
  assert ckpt.manager.all_steps() == [1, 4]
  ckpt.close()
