"""Workdirs, caches and weights on cloud storage: `gs://` as a local path.

Against a Cloud Storage emulator on localhost (`tests/gcs_emulator.py`):
gcsfs, which etils.epath uses for gs:// paths, finds it through
STORAGE_EMULATOR_HOST; tensorstore's gcs driver, which writes orbax's
checkpoints, through TENSORSTORE_GCS_HTTP_URL. Nothing is mocked: the same
code writes to Cloud Storage.
"""

import io
import json
import os
import socket
import struct
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import pytest
from PIL import Image

# Read when gcsfs and google-auth are imported: no probing of Cloud
# Storage's zonal-bucket service, nor of a Compute Engine metadata server
# for credentials (each waits for its timeouts where there is none).
os.environ.setdefault('GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT', 'false')
os.environ.setdefault('NO_GCE_CHECK', 'true')
pytest.importorskip('gcsfs')
pytest.importorskip('gcp_storage_emulator')

# pylint: disable=g-import-not-at-top,wrong-import-position
import gcsfs
from tensorboardX.proto import event_pb2

import vaegan_jax
from tests import helpers
from vaegan_jax import files
from vaegan_jax.run import modes
from vaegan_jax.run import train
from vaegan_jax.output import writers
from vaegan_jax.data import cache
from vaegan_jax.data import folder
from experiments import definitions
from experiments import report
from experiments import runner
from vaegan_jax.metrics import classifier_cache
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import inception_weights

BUCKET = 'test-bucket'
RUN = f'gs://{BUCKET}/run'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.fixture(scope='module')
def gcs():
  """The emulator's environment, set in this process too; a gcsfs client
  that lists without caching, to check what was written."""
  port = _free_port()
  proc = subprocess.Popen(
      [sys.executable, '-m', 'tests.gcs_emulator', str(port), BUCKET],
      cwd=helpers.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 60
  while True:
    try:
      socket.create_connection(('127.0.0.1', port), timeout=1).close()
      break
    except OSError:
      assert proc.poll() is None and time.time() < deadline, 'no emulator'
      time.sleep(0.2)
  url = f'http://127.0.0.1:{port}'
  env = {'STORAGE_EMULATOR_HOST': url, 'TENSORSTORE_GCS_HTTP_URL': url,
         'GOOGLE_AUTH_TOKEN_FOR_TESTING': 'emulator'}
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  fs = gcsfs.GCSFileSystem(endpoint_url=url, token='anon',
                           skip_instance_cache=True, use_listings_cache=False)
  try:
    yield env, fs
  finally:
    proc.terminate()
    proc.wait(timeout=30)
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value


def _names(fs, prefix: str) -> set[str]:
  return {p[len(prefix) + 1:] for p in fs.find(prefix)}


def _event_tags(fs, directory: str) -> set[str]:
  """Tags of the scalars and images in a directory's TensorBoard files."""
  tags = set()
  for name in fs.ls(directory):
    data = fs.cat(name)
    while data:
      length = struct.unpack('Q', data[:8])[0]
      event = event_pb2.Event.FromString(data[12:12 + length])
      tags.update(v.tag for v in event.summary.value)
      data = data[16 + length:]
  return tags


def _config(num_steps):
  config = helpers.tiny_config()
  config.data.name = 'bundled_mnist'
  config.train.update(num_steps=num_steps, log_every=1, checkpoint_every=100)
  config.eval.update(every=2, num_examples=64, batch_size=32)
  return config


@pytest.mark.slow
def test_a_run_on_gs_writes_there_resumes_and_loads(gcs, tmp_path):
  env, fs = gcs
  # The command line, from an empty directory: nothing may land in it.
  proc = subprocess.run(
      [sys.executable, os.path.join(helpers.ROOT, 'main.py'),
       '--config=' + os.path.join(helpers.ROOT, 'configs', 'test.py'),
       f'--workdir={RUN}', '--config.data.name=bundled_mnist',
       '--config.train.num_steps=2', '--config.train.log_every=1',
       '--config.eval.every=2', '--config.eval.num_examples=64',
       '--config.eval.batch_size=32'],
      cwd=tmp_path, env=helpers.subprocess_env(**env), capture_output=True,
      text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert not os.listdir(tmp_path)
  prefix = f'{BUCKET}/run'
  names = _names(fs, prefix)
  assert {'config.json', 'metrics.jsonl', 'eval_metrics.json',
          'samples_4x4.png', 'samples_8x8.png', 'reconstructions.png',
          'loss_curves.png', 'checkpoints/2/_CHECKPOINT_METADATA'} <= names
  with Image.open(io.BytesIO(fs.cat(f'{prefix}/samples_8x8.png'))) as im:
    assert im.size[0] > 28 * 8
  assert {'loss/kl', 'eval/kl', 'samples_4x4'} <= _event_tags(
      fs, f'{prefix}/tensorboard')

  # The same run, two more steps, in this process: it resumes from gs://.
  state = train.train_and_evaluate(_config(4), RUN)
  assert int(state.step) == 4
  records = [json.loads(line) for line in
             fs.cat(f'{prefix}/metrics.jsonl').decode().splitlines()]
  assert [r['step'] for r in records if 'loss/kl' in r] == [1, 2, 3, 4]
  assert [r['step'] for r in records if 'eval/kl' in r] == [2, 4]
  names = _names(fs, prefix)
  assert {'checkpoints/2/_CHECKPOINT_METADATA',
          'checkpoints/4/_CHECKPOINT_METADATA'} <= names
  assert len([n for n in names if n.startswith('config_history/')]) == 1
  assert json.loads(fs.cat(f'{prefix}/config.json'))['train'][
      'num_steps'] == 4
  assert not os.path.exists(os.path.join(helpers.ROOT, 'gs:'))

  model = vaegan_jax.load(RUN)
  assert model.step == 4
  chex.assert_trees_all_equal(jax.device_get(model.state.params),
                              jax.device_get(state.params))
  images = helpers.random_images(model.config, 4)
  assert np.isfinite(model.reconstruct(images)).all()

  png = modes.sample_checkpoint(model.config, RUN, num=4, seed=3)
  assert png == f'{RUN}/samples/step_4_seed_3.png'
  assert fs.exists(f'{prefix}/samples/step_4_seed_3.npy')
  assert np.load(io.BytesIO(fs.cat(
      f'{prefix}/samples/step_4_seed_3.npy'))).shape == (4, 28, 28, 1)


def test_logs_on_gs_are_uploaded_whole_in_bounded_files(gcs, monkeypatch):
  _, fs = gcs
  monkeypatch.setattr(writers, '_ROTATE_BYTES', 20_000)
  prefix = f'{BUCKET}/logs'
  writer = writers.MetricWriter(f'gs://{prefix}', sync_seconds=3600)
  local = writer._local  # pylint: disable=protected-access
  rng = np.random.default_rng(0)
  for step in range(1, 6):
    writer.write_scalars(step, {'loss': float(step)})
    writer.write_images(step, {'noise': rng.integers(
        0, 255, (64, 64, 3), np.uint8)})
  writer.write_scalars(6, {'loss': 6.0})

  def steps():
    return [json.loads(line)['step'] for line in
            fs.cat(f'{prefix}/metrics.jsonl').decode().splitlines()]

  assert steps() == [1, 2, 3, 4, 5]  # the last waits for sync_seconds
  writer.close()
  assert steps() == [1, 2, 3, 4, 5, 6]
  assert not os.path.exists(local)
  events = fs.ls(f'{prefix}/tensorboard', detail=True)
  assert len(events) >= 3
  assert all(e['size'] < 20_000 + 64 * 64 * 3 * 2 for e in events)
  assert _event_tags(fs, f'{prefix}/tensorboard') == {'loss', 'noise'}


def test_a_folder_cache_on_gs_is_shared_through_local_mirrors(
    gcs, tmp_path, monkeypatch):
  _, fs = gcs
  rng = np.random.default_rng(0)
  (tmp_path / 'images').mkdir()
  for i in range(6):
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), np.uint8)).save(
        tmp_path / 'images' / f'{i}.png')
  config = helpers.tiny_config()
  config.data.update(name='folder', path=str(tmp_path / 'images'),
                     cache_dir=f'gs://{BUCKET}/cache', holdout_fraction=0.0,
                     channels=3, image_size=16)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'host_a'))
  cache_dir, _ = folder.prepare(config)
  assert cache_dir.startswith(f'gs://{BUCKET}/cache/images-16x16x3-')
  remote = cache_dir[len('gs://'):]
  assert set(fs.ls(remote)) == {f'{remote}/{cache.IMAGES}',
                                f'{remote}/{cache.META}'}
  made = folder.source(config, 'train')[np.arange(6)]['image']
  # Another host: its local mirror is empty, so it downloads the cache.
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'host_b'))
  assert not os.path.exists(cache.mirror(cache_dir))
  read = folder.source(config, 'train')[np.arange(6)]['image']
  assert os.path.exists(os.path.join(cache.mirror(cache_dir), cache.IMAGES))
  np.testing.assert_array_equal(read, made)
  assert read.shape == (6, 16, 16, 3) and read.any()


def test_the_digits_classifier_cache_on_gs(gcs):
  del gcs
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (40, 28, 28, 1)).astype(np.float32)
  labels = np.arange(40) % 10
  settings = digits_classifier.Settings(widths=(4,), dense=8, num_steps=2,
                                        batch_size=8)
  directory = f'gs://{BUCKET}/classifiers'
  trained = classifier_cache.load_or_train(images, labels, images, labels,
                                            directory, settings)
  assert trained.path.startswith(directory + '/digits_classifier_')
  assert files.path(trained.path).exists()
  loaded = classifier_cache.load_or_train(images, labels, images, labels,
                                           directory, settings)
  assert loaded.path == trained.path
  chex.assert_trees_all_equal(loaded.params, jax.device_get(trained.params))


def test_weights_reports_and_timings_on_gs(gcs):
  _, fs = gcs
  with pytest.raises(FileNotFoundError, match='FID Inception weights not '
                     f'found at .gs://{BUCKET}/inception_fid.npz'):
    inception_weights.load_variables(f'gs://{BUCKET}/inception_fid.npz')
  experiment = definitions.EXPERIMENTS['compare']
  workdir = f'gs://{BUCKET}/experiments/compare'
  path = report.write(experiment, workdir)
  assert path == f'{workdir}/report.md'
  assert fs.cat(path[len('gs://'):]).decode().startswith(
      f'# {experiment.title}')
  directory = runner.run_dir(workdir, experiment.runs[0], 0)
  runner._write_timing(directory, {'sessions': [], 'step': 3})  # pylint: disable=protected-access
  assert runner.read_timing(directory)['step'] == 3
  assert runner.is_finished(directory, 3)
