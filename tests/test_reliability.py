"""Never lose a run: damaged checkpoints, one run per workdir, full disks,
torn metrics, files checked at start-up, config.json kept as it was."""

import errno
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

import chex
import jax
import numpy as np
import pytest
from etils import epath
from PIL import Image
from tensorboardX import event_file_writer

import vaegan_jax
from tests import helpers
from vaegan_jax.store import checkpoint as checkpoint_lib
from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax.run import evaluate
from vaegan_jax import files
from vaegan_jax.store import integrity
from vaegan_jax.run import modes
from vaegan_jax.store import restore
from vaegan_jax.model import state as state_lib
from vaegan_jax.run import train
from vaegan_jax.store import workdir as workdir_lib
from vaegan_jax.output import writers
from vaegan_jax.data import folder
from vaegan_jax.metrics import classifier_cache
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import quality


def _config(num_steps=3, **overrides):
  fields = dict(train__num_steps=num_steps, train__checkpoint_every=1,
                train__log_every=1, eval__every=0, eval__num_examples=64,
                eval__batch_size=32)
  return helpers.tiny_config(**{**fields, **overrides})


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  """A finished run with checkpoints at steps 1, 2 and 3."""
  path = tmp_path_factory.mktemp('finished') / 'run'
  train.train_and_evaluate(_config(), str(path))
  return path


@pytest.fixture
def run(finished_run, tmp_path):
  """A copy of the finished run, for one test to damage."""
  path = tmp_path / 'run'
  shutil.copytree(finished_run, path)
  return path


def _abstract():
  return state_lib.abstract_train_state(_config())


def _restore(path, step):
  ckpt = checkpoint_lib.Checkpointer(str(path), read_only=True)
  try:
    return ckpt.restore(step, _abstract())[0]
  finally:
    ckpt.close()


# --------------------------------------------------------------------------
# Damaged checkpoints: each kind is detected, set aside, and the run falls
# back to the checkpoint before it.
# --------------------------------------------------------------------------


def _largest_file(step_dir):
  files = [p for p in step_dir.rglob('*') if p.is_file()]
  return max(files, key=lambda p: p.stat().st_size)


def _truncate(step_dir):
  path = _largest_file(step_dir)
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _zero(step_dir):
  path = _largest_file(step_dir)
  path.write_bytes(bytes(path.stat().st_size))


def _flip_64_bytes(step_dir):
  path = _largest_file(step_dir)
  content = bytearray(path.read_bytes())
  middle = len(content) // 2
  content[middle:middle + 64] = bytes(b ^ 0xFF for b in
                                      content[middle:middle + 64])
  path.write_bytes(bytes(content))


def _remove_state(step_dir):
  shutil.rmtree(step_dir / 'state')


def _empty(step_dir):
  shutil.rmtree(step_dir)
  step_dir.mkdir()


def _zero_array_metadata(step_dir):
  path = step_dir / 'state' / '_METADATA'
  path.write_bytes(bytes(path.stat().st_size))


def _garble_step_metadata(step_dir):
  (step_dir / integrity.STEP_METADATA).write_bytes(os.urandom(200))


def _truncate_without_manifest(step_dir):
  # A checkpoint written before manifests existed: orbax's failure tells.
  (step_dir / integrity.MANIFEST).unlink()
  _truncate(step_dir)


DAMAGE = {
    'truncated': _truncate,
    'zeroed': _zero,
    'flipped bytes': _flip_64_bytes,
    'no state directory': _remove_state,
    'empty step directory': _empty,
    'zeroed array metadata': _zero_array_metadata,
    'garbled step metadata': _garble_step_metadata,
    'truncated, no manifest': _truncate_without_manifest,
}


@pytest.mark.parametrize('damage', sorted(DAMAGE))
def test_a_damaged_latest_checkpoint_is_set_aside_for_the_one_before(
    run, damage, caplog):
  good = _restore(run, 2)
  DAMAGE[damage](run / 'checkpoints' / '3')
  ckpt = checkpoint_lib.Checkpointer(str(run))
  with caplog.at_level(logging.ERROR):
    state, data_state, step = ckpt.restore_newest(_abstract())
  ckpt.close()
  assert step == 2 and data_state == {'next_batch': 2}
  chex.assert_trees_all_equal(jax.device_get(state), jax.device_get(good))
  # Said loudly, naming the step; moved aside, not deleted.
  assert re.search(r'Checkpoint 3 is damaged: .*Moved it to .*damaged/3',
                   caplog.text), caplog.text
  assert 'Using checkpoint 2, the newest undamaged one' in caplog.text
  assert sorted(os.listdir(run / 'checkpoints' / 'damaged')) == ['3']
  assert checkpoint_lib.Checkpointer(str(run)).manager.all_steps() == [1, 2]


def test_flipped_bytes_load_silently_without_the_manifest(run):
  # What the manifest is for: orbax and TensorStore restore these bytes as
  # wrong numbers without an error.
  step_dir = run / 'checkpoints' / '3'
  good = jax.device_get(_restore(run, 3))
  _flip_64_bytes(step_dir)
  assert integrity.verify(step_dir)  # detected with it
  (step_dir / integrity.MANIFEST).unlink()
  damaged = jax.device_get(_restore(run, 3))  # loads, without it
  assert not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(
      jax.tree.leaves(good), jax.tree.leaves(damaged)))


def test_every_checkpoint_damaged_is_one_clear_error(run):
  for step in (1, 2, 3):
    _zero(run / 'checkpoints' / str(step))
  ckpt = checkpoint_lib.Checkpointer(str(run))
  with pytest.raises(errors.CheckpointDamaged,
                     match=r'(?s)Every checkpoint .* is damaged: checkpoint 3'
                     r'.*checkpoint 1 .*moved to .*damaged.*afresh'):
    ckpt.restore_newest(_abstract())
  ckpt.close()
  assert sorted(os.listdir(run / 'checkpoints' / 'damaged')) == ['1', '2',
                                                                  '3']


def test_a_damaged_chosen_checkpoint_names_the_others(run):
  _zero(run / 'checkpoints' / '2')
  with pytest.raises(errors.CheckpointDamaged,
                     match=r'Checkpoint 2 is damaged: .*Choose another with '
                     r'--checkpoint= \(steps \[1, 2, 3\]\)'):
    restore.restore_run(_config(), str(run), checkpoint=2)
  assert (run / 'checkpoints' / '2').is_dir()  # a reader moves nothing


def test_a_checkpoint_without_manifest_still_restores(run):
  (run / 'checkpoints' / '3' / integrity.MANIFEST).unlink()
  ckpt = checkpoint_lib.Checkpointer(str(run))
  _, _, step = ckpt.restore_newest(_abstract())
  ckpt.close()
  assert step == 3 and not (run / 'checkpoints' / 'damaged').exists()


def test_a_checkpoint_from_before_the_replay_field_still_restores(tmp_path):
  # Checkpoints written before TrainState had `replay` (no manifest either):
  # the state's other fields, saved as orbax saved them then.
  state = state_lib.create_train_state(_config(), jax.random.key(0))
  old = {k: getattr(state, k)
         for k in ('step', 'params', 'batch_stats', 'opt_state')}
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path / 'run'))
  ckpt.manager.save(5, args=checkpoint_lib.ocp.args.Composite(
      state=checkpoint_lib.ocp.args.StandardSave(old),
      data=checkpoint_lib.ocp.args.JsonSave({'position': 7})))
  ckpt.manager.wait_until_finished()
  restored, data_state, step = ckpt.restore_newest(_abstract())
  ckpt.close()
  assert step == 5 and data_state == {'position': 7}
  assert restored.replay is None
  chex.assert_trees_all_equal(jax.device_get(restored.params),
                              jax.device_get(state.params))
  assert not (tmp_path / 'run' / 'checkpoints' / 'damaged').exists()
  # With the replay buffer on, the same checkpoint is a clear mismatch.
  replaying = state_lib.abstract_train_state(_config(loss__replay_size=64))
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path / 'run'), read_only=True)
  with pytest.raises(errors.CheckpointMismatch, match='replay'):
    ckpt.restore(5, replaying)
  ckpt.close()


def test_an_intact_checkpoint_that_fails_to_restore_is_a_bug_not_damage(
    run, monkeypatch):
  ckpt = checkpoint_lib.Checkpointer(str(run))

  def broken_restore(*args, **kwargs):
    raise RuntimeError('a bug in the restore')

  monkeypatch.setattr(ckpt.manager, 'restore', broken_restore)
  with pytest.raises(RuntimeError, match='a bug in the restore'):
    ckpt.restore_newest(_abstract())
  ckpt.close()
  assert not (run / 'checkpoints' / 'damaged').exists()


def test_readers_skip_a_damaged_checkpoint_without_moving_it(run, caplog):
  _truncate(run / 'checkpoints' / '3')
  with caplog.at_level(logging.ERROR):
    model = vaegan_jax.load(str(run))
  assert model.step == 2
  assert 'Checkpoint 3 is damaged' in caplog.text
  assert (run / 'checkpoints' / '3').exists()
  assert not (run / 'checkpoints' / 'damaged').exists()
  with pytest.raises(errors.CheckpointDamaged,
                     match=r'Checkpoint 3 is damaged.*--checkpoint='):
    modes.sample_checkpoint(_config(), str(run), '3', num=4)


def test_training_resumes_past_a_damaged_checkpoint_and_a_torn_metrics_line(
    run, caplog):
  _flip_64_bytes(run / 'checkpoints' / '3')
  metrics = run / 'metrics.jsonl'
  with metrics.open('a') as f:
    f.write('{"step": 4, "loss/kl": 0.')  # what a full disk leaves
  with caplog.at_level(logging.WARNING):
    state = train.train_and_evaluate(_config(4), str(run))
  assert int(state.step) == 4
  assert 'Checkpoint 3 is damaged' in caplog.text
  assert re.search(r'Skipped line \d+ of .*metrics.jsonl', caplog.text)
  records = writers.read_jsonl(str(metrics))
  # Resumed from step 2: the first run's records of step 3 (its training
  # and its final evaluation) are dropped and step 3 is logged anew, once.
  assert [r['step'] for r in records if 'eval/kl' in r] == [4]
  assert [r['step'] for r in records if 'loss/kl' in r] == [1, 2, 3, 4]
  steps = checkpoint_lib.Checkpointer(str(run)).manager.all_steps()
  assert steps == [2, 3, 4]
  for step in (3, 4):  # saved anew, sealed with their manifests
    assert integrity.verify(run / 'checkpoints' / str(step)) == []


# --------------------------------------------------------------------------
# metrics.jsonl: appended safely, read tolerantly.
# --------------------------------------------------------------------------


def test_metrics_writer_starts_a_new_line_after_a_torn_one(tmp_path, caplog):
  path = tmp_path / 'metrics.jsonl'
  path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
  writer = writers.MetricWriter(str(tmp_path))
  writer.write_scalars(3, {'loss': 1.5})
  writer.close()
  assert path.read_text().splitlines()[-1] == '{"step": 3, "loss": 1.5}'
  with caplog.at_level(logging.WARNING):
    records = writers.read_jsonl(str(path))
  assert [r['step'] for r in records] == [1, 3]
  assert f'Skipped line 2 of {path}' in caplog.text



def test_a_write_that_fails_midway_keeps_the_file_there(tmp_path):
  target = tmp_path / 'cache' / 'arrays.npz'
  files.save_npz(target, x=np.arange(3))
  with pytest.raises(RuntimeError, match='midway'):
    with files.writing(target) as f:
      f.write(b'partial')
      raise RuntimeError('midway')
  with np.load(target) as kept:
    np.testing.assert_array_equal(kept['x'], np.arange(3))
  assert os.listdir(target.parent) == ['arrays.npz']  # no temporary left

def test_a_metrics_writer_that_cannot_flush_still_stops_its_thread(
    tmp_path, monkeypatch):
  # On a full disk TensorBoard's last flush fails; its writer thread, left
  # running, would print a traceback as the process exits.
  writer = writers.MetricWriter(str(tmp_path))
  writer.write_scalars(1, {'loss': 1.0})
  threads = set(threading.enumerate()) - {threading.current_thread()}

  def full_disk(self):
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(event_file_writer.EventFileWriter, 'flush', full_disk)
  with pytest.raises(OSError, match='No space left'):
    writer.close()
  assert [t for t in threads if t.is_alive()
          and isinstance(t, event_file_writer._EventLoggerThread)] == []


# --------------------------------------------------------------------------
# One run per workdir.
# --------------------------------------------------------------------------

_HOLD_LOCK = ('import sys, time\n'
              'from vaegan_jax.store import workdir\n'
              'lock = workdir.RunLock(sys.argv[1]).__enter__()\n'
              'print("locked", flush=True)\n'
              'time.sleep(600)\n')


@pytest.fixture
def live_run(run):
  """Another process holding the training lock of `run`."""
  proc = subprocess.Popen([sys.executable, '-c', _HOLD_LOCK, str(run)],
                          cwd=helpers.ROOT, env=helpers.subprocess_env(),
                          stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == 'locked'
  yield proc
  proc.kill()
  proc.wait()


def test_a_second_run_in_a_workdir_stops_at_once_naming_the_first(
    run, live_run):
  before = {name: (run / name).read_bytes()
            for name in ('config.json', 'metrics.jsonl')}
  with pytest.raises(errors.WorkdirError,
                     match=rf'Another run is training in {run}: process '
                     rf'{live_run.pid} on host .+, started \d{{4}}-'):
    train.train_and_evaluate(_config(5), str(run))
  for name, content in before.items():
    assert (run / name).read_bytes() == content, name
  assert checkpoint_lib.Checkpointer(str(run)).manager.all_steps() == [1, 2, 3]


def test_a_killed_run_does_not_block_the_next(run, live_run):
  live_run.send_signal(signal.SIGKILL)
  live_run.wait()
  with workdir_lib.RunLock(str(run)):
    assert str(os.getpid()) in (run / workdir_lib.LOCK_FILE).read_text()


def test_evaluate_and_sample_read_a_workdir_with_a_live_run(run, live_run):
  del live_run
  # A save the live run has in progress must survive the readers.
  in_progress = run / 'checkpoints' / '4.orbax-checkpoint-tmp'
  (in_progress / 'state').mkdir(parents=True)
  path = modes.sample_checkpoint(_config(), str(run), 'latest', num=4)
  assert path.endswith('step_3_seed_0.png') and os.path.exists(path)
  assert in_progress.exists()


# --------------------------------------------------------------------------
# Full disks and other refusals of the filesystem.
# --------------------------------------------------------------------------


def test_storage_reason_reads_oserrors_and_tensorstore_messages():
  assert errors.storage_reason(OSError(errno.ENOSPC, 'x')) == (
      'no space left on device')
  tensorstore = ValueError('RESOURCE_EXHAUSTED: Error writing local file '
                           '"/w/checkpoints/3/_sharding": Failed to write 24 '
                           "bytes: No space left on device [os_error_code="
                           "'28']")
  assert errors.storage_reason(tensorstore) == 'no space left on device'
  try:
    raise RuntimeError('wrapped') from OSError(errno.EROFS, 'ro')
  except RuntimeError as e:
    assert errors.storage_reason(e) == 'read-only file system'
  assert errors.storage_reason(ValueError('a bug')) is None


def test_a_full_disk_during_a_checkpoint_is_one_clear_error(
    run, monkeypatch):
  # orbax writes each checkpoint's data position in its save thread; the
  # disk is full from checkpoint 5 on.
  write_text = epath.gpath.PosixGPath.write_text

  def full_disk(self, *args, **kwargs):
    if 'checkpoints/5' in str(self):
      raise OSError(errno.ENOSPC, 'No space left on device', str(self))
    return write_text(self, *args, **kwargs)

  monkeypatch.setattr(epath.gpath.PosixGPath, 'write_text', full_disk)
  with pytest.raises(errors.StorageError,
                     match=r'Could not write checkpoint 5 to .*checkpoints: '
                     r'no space left on device; the checkpoints already there'
                     r' are kept \(the latest complete one is step 4\)\. '
                     r'Free space'):
    train.train_and_evaluate(_config(6), str(run))
  monkeypatch.undo()
  _, _, step = checkpoint_lib.Checkpointer(str(run)).restore_newest(
      _abstract())
  assert step == 4


def _tmpfs(path, size):
  path.mkdir()
  if os.geteuid() != 0 or shutil.which('mount') is None:
    pytest.skip('mounting a small filesystem needs root')
  proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}',
                         'tmpfs', str(path)], capture_output=True, text=True)
  if proc.returncode:
    pytest.skip(f'cannot mount a tmpfs here: {proc.stderr.strip()}')


@pytest.mark.slow
def test_main_on_a_full_disk_ends_in_one_line(tmp_path):
  small = tmp_path / 'small'
  _tmpfs(small, '3m')  # room for about two checkpoints of the test networks
  command = [sys.executable, 'main.py', '--config=configs/test.py',
             f'--workdir={small / "run"}', '--config.train.num_steps=8',
             '--config.train.checkpoint_every=1', '--config.eval.every=4',
             '--config.eval.num_examples=64']
  try:
    proc = subprocess.run(command, cwd=helpers.ROOT,
                          env=helpers.subprocess_env(), capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert 'Traceback' not in out, out
    last = out.strip().splitlines()[-1]
    assert re.match(r'Error: Could not write (checkpoint \d+ to|to) .*no '
                    r'space left on device', last), out
    assert 'run the same command to resume' in last
    kept = checkpoint_lib.Checkpointer(str(small / 'run'), read_only=True)
    assert kept.manager.all_steps()
    for step in kept.manager.all_steps():
      assert integrity.verify(kept.step_directory(step)) == []
    kept.close()
    # Space freed, the same command resumes and finishes.
    subprocess.run(['mount', '-o', 'remount,size=64m', str(small)],
                   check=True)
    proc = subprocess.run(command, cwd=helpers.ROOT,
                          env=helpers.subprocess_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Resuming from the checkpoint at step' in proc.stderr
    assert checkpoint_lib.Checkpointer(
        str(small / 'run'), read_only=True).latest_step() == 8
  finally:
    subprocess.run(['umount', str(small)], check=False)


# --------------------------------------------------------------------------
# A failed evaluation still saves its step's checkpoint.
# --------------------------------------------------------------------------


def test_a_failing_evaluation_keeps_its_steps_checkpoint(tmp_path,
                                                         monkeypatch):
  def broken(self, state, step):
    raise RuntimeError('evaluation broke')

  monkeypatch.setattr(evaluate.Evaluator, 'run', broken)
  with pytest.raises(RuntimeError, match='evaluation broke'):
    train.train_and_evaluate(_config(2, train__checkpoint_every=10),
                             str(tmp_path))
  assert checkpoint_lib.Checkpointer(str(tmp_path)).latest_step() == 2


# --------------------------------------------------------------------------
# Files the evaluation needs, checked before training starts.
# --------------------------------------------------------------------------


def _write_bad_weights(kind, path):
  if kind == 'directory':
    path.mkdir()
  elif kind == 'empty':
    path.write_bytes(b'')
  elif kind == 'text':
    path.write_text('these are not weights\n')
  elif kind == 'random bytes':
    path.write_bytes(np.random.default_rng(0).bytes(4096))
  elif kind == 'npy':
    with path.open('wb') as f:
      np.save(f, np.zeros(3))
  elif kind == 'zip of other arrays':
    np.savez(path, other=np.zeros(3))
  elif kind == 'truncated':
    np.savez(path, **{f'a{i}': np.zeros(1000) for i in range(8)})
    path.write_bytes(path.read_bytes()[:9000])


BAD_WEIGHTS = {
    'directory': 'it is a directory',
    'empty': 'it is empty',
    'text': 'it is not an .npz file',
    'random bytes': 'it is not an .npz file',
    'npy': r'single array \(.npy\)',
    'zip of other arrays': 'does not hold the FID Inception weights',
    'truncated': 'cannot be read',
}


@pytest.mark.parametrize('kind', sorted(BAD_WEIGHTS))
def test_bad_inception_weights_are_named_at_start_up(tmp_path, kind):
  path = tmp_path / 'inception_fid.npz'
  _write_bad_weights(kind, path)
  config = _config(eval__fid_features='inception',
                   eval__inception_weights=str(path))
  with pytest.raises(errors.BadFileError,
                     match=rf'config.eval.inception_weights: .*{path}.*'
                     rf'{BAD_WEIGHTS[kind]}.*convert_inception'):
    quality.check_files(config)


def test_a_run_with_bad_inception_weights_stops_before_training(tmp_path):
  path = tmp_path / 'inception_fid.npz'
  path.write_bytes(b'')
  config = _config(eval__fid_features='inception',
                   eval__inception_weights=str(path))
  with pytest.raises(errors.BadFileError, match='it is empty'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_a_damaged_cached_digits_classifier_is_trained_again(tmp_path,
                                                             caplog):
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (40, 28, 28, 1)).astype(np.float32)
  labels = np.arange(40) % 10
  settings = digits_classifier.Settings(num_steps=2, batch_size=8)
  args = (images, labels, images[:10], labels[:10], str(tmp_path), settings)
  first = classifier_cache.load_or_train(*args)
  epath.Path(first.path).write_bytes(b'\0' * 100)  # damaged in the cache
  with caplog.at_level(logging.WARNING):
    second = classifier_cache.load_or_train(*args)
  assert f'{first.path} cannot be read' in caplog.text
  assert second.path == first.path
  chex.assert_trees_all_close(second.params, first.params)
  classifier_cache.load(first.path)  # replaced by a good one


# --------------------------------------------------------------------------
# Symbolic links in image folders.
# --------------------------------------------------------------------------


def _folder_config(root, tmp_path):
  config = _config()
  config.data.update(name='folder', path=str(root), image_size=8,
                     channels=3, crop='none', holdout_fraction=0.5,
                     cache_dir=str(tmp_path / 'cache'))
  return config


def test_symlinks_in_an_image_folder_count_each_image_once(tmp_path,
                                                           caplog):
  root = tmp_path / 'images'
  (root / 'a').mkdir(parents=True)
  for i in range(6):
    Image.new('RGB', (10, 10), (40 * i, 0, 0)).save(root / 'a' / f'{i}.png')
  (root / 'a' / 'loop').symlink_to('.')  # a directory loop
  (root / 'b').symlink_to('a')  # the same directory twice
  (root / 'copy.png').symlink_to(root / 'a' / '0.png')  # a file twice
  (root / 'dangling.jpg').symlink_to(root / 'missing.jpg')
  (root / 'looping.jpg').symlink_to('looping.jpg')
  with caplog.at_level(logging.INFO):
    files, sizes = folder.find_images(str(root))
  # The loop and the second link to a/ are not walked; the file link is
  # the one path to an image found twice.
  assert re.search(r'Not walking .*a/loop again', caplog.text)
  assert re.search(r'Not walking .*/b again', caplog.text)
  assert 'Left out 1 paths to image files already found' in caplog.text
  assert files == ['a/0.png', 'a/1.png', 'a/2.png', 'a/3.png', 'a/4.png',
                   'a/5.png', 'dangling.jpg', 'looping.jpg']
  assert sizes[-2:] == [-1, -1]
  config = _folder_config(root, tmp_path)
  _, meta = folder.prepare(config)  # the broken links are skipped, named
  assert sorted(meta['failed']) == ['dangling.jpg', 'looping.jpg']
  # Each of the 6 images once, in one split only (told by its red value).
  reds = {split: [round(float(x[0, 0, 0]), 3) for x in fetch(config)['image']]
          for split, fetch in (('train', data.train_data),
                               ('eval', data.eval_data))}
  assert len(reds['train']) + len(reds['eval']) == 6
  assert len(set(reds['train']) | set(reds['eval'])) == 6


# --------------------------------------------------------------------------
# A start that fails leaves config.json as it was.
# --------------------------------------------------------------------------

REJECTED_STARTS = [
    ({'model__latent_dim': 4}, errors.CheckpointMismatch),
    ({'data__image_size': 32}, errors.CheckpointMismatch),
    ({'model__arch': 'resnet'}, errors.ConfigError),
    ({'optim__name': 'sgd'}, errors.ConfigError),
]


def test_a_rejected_start_leaves_config_json_byte_identical(run):
  before = (run / 'config.json').read_bytes()
  for overrides, kind in REJECTED_STARTS:
    with pytest.raises(kind):
      train.train_and_evaluate(_config(5, **overrides), str(run))
    assert (run / 'config.json').read_bytes() == before, overrides
  assert not (run / workdir_lib.HISTORY_DIR).exists()
  assert vaegan_jax.load(str(run)).step == 3


def test_a_damaged_config_json_is_named_and_kept_by_the_next_run(run):
  (run / 'config.json').write_text('{"model": {"latent_dim": 8')
  with pytest.raises(errors.WorkdirError, match=r'config.json is damaged'):
    vaegan_jax.load(str(run))
  train.train_and_evaluate(_config(4), str(run))
  kept = list((run / workdir_lib.HISTORY_DIR).iterdir())
  assert [p.read_text() for p in kept] == ['{"model": {"latent_dim": 8']
  assert vaegan_jax.load(str(run)).step == 4
