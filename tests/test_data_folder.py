"""A folder of image files: formats, bad files, attributes, the cache."""

import io
import logging
import os

import numpy as np
import pytest
from PIL import Image

from configs import celeba
from vaegan_jax import data
from vaegan_jax.data import cache
from vaegan_jax.data import folder

NAMES = ['Male', 'Smiling', 'Young']
NUM_GOOD = 16


def _save(path, image, **kwargs):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image.save(path, **kwargs)


def _jpeg_bytes(seed):
  buffer = io.BytesIO()
  pixels = np.random.default_rng(seed).integers(0, 256, (40, 30, 3), np.uint8)
  Image.fromarray(pixels).save(buffer, 'JPEG')
  return buffer.getvalue()


@pytest.fixture
def image_tree(tmp_path):
  """16 readable images of odd sizes, modes and formats, 2 bad ones, and
  files that are not images; attribute and partition files."""
  root = tmp_path / 'images'
  rng = np.random.default_rng(0)
  modes = ['RGB', 'L', 'RGBA', 'P', 'CMYK', 'LA', 'I;16', 'RGB']
  names = []
  for i in range(NUM_GOOD):
    mode = modes[i % len(modes)]
    size = (30 + i, 41 - i)  # odd, non-square sizes
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3),
                                         np.uint8)).convert(mode)
    jpeg = mode == 'CMYK' or (mode in ('RGB', 'L') and i % 2)
    ext = 'jpg' if jpeg else 'png'
    name = f'{i:06d}.{ext}'
    _save(str(root / ('sub' if i % 3 == 0 else '') / name), image)
    names.append(name)
  (root / 'corrupt.jpg').write_bytes(b'not an image at all')
  jpeg = _jpeg_bytes(1)
  (root / 'truncated.jpg').write_bytes(jpeg[:len(jpeg) * 2 // 3])
  (root / 'notes.txt').write_text('not an image')
  (root / '.hidden.png').write_bytes(b'ignored')
  attributes = tmp_path / 'list_attr.txt'
  lines = [str(NUM_GOOD), ' '.join(NAMES)]
  lines += [f'{n} ' + ' '.join('1' if (i >> k) & 1 else '-1'
                               for k in range(len(NAMES)))
            for i, n in enumerate(names)]
  attributes.write_text('\n'.join(lines) + '\n')
  partition = tmp_path / 'list_eval_partition.txt'
  partition.write_text(''.join(f'{n} {0 if i < 10 else 1 if i < 12 else 2}\n'
                               for i, n in enumerate(names)))
  return {'root': str(root), 'attributes': str(attributes),
          'partition': str(partition), 'cache': str(tmp_path / 'cache'),
          'names': names}


def _config(tree, batch_size=8, **data_fields):
  config = celeba.get_config()
  config.data.name = 'folder'
  config.data.path = tree['root']
  config.data.cache_dir = tree['cache']
  config.data.image_size = 16
  config.data.crop = 'none'
  config.data.prepare_threads = 2
  config.train.batch_size = batch_size
  for key, value in data_fields.items():
    config.data[key] = value
  return config


def test_finds_images_in_subfolders_and_ignores_other_files(image_tree):
  files, sizes = folder.find_images(image_tree['root'])
  assert len(files) == NUM_GOOD + 2
  assert os.path.join('sub', image_tree['names'][0]) in files
  assert not any(f.endswith(('.txt', '.hidden.png')) for f in files)
  assert all(s > 0 for s in sizes)


def test_bad_files_are_skipped_counted_and_named(image_tree, caplog):
  config = _config(image_tree)
  with caplog.at_level(logging.WARNING):
    _, meta = folder.prepare(config)
  assert sorted(meta['failed']) == ['corrupt.jpg', 'truncated.jpg']
  warning = ' '.join(r.getMessage() for r in caplog.records
                     if r.levelno >= logging.WARNING)
  assert 'Skipped 2 of 18' in warning and 'corrupt.jpg' in warning
  train = data.train_data(config)
  held_out = data.eval_data(config)
  assert len(train['image']) + len(held_out['image']) == NUM_GOOD


def test_one_bad_file_in_a_thousand_still_trains(tmp_path):
  root = tmp_path / 'many'
  rng = np.random.default_rng(0)
  for i in range(999):
    _save(str(root / f'{i:04d}.png'),
          Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8)))
  (root / '0999.jpg').write_bytes(_jpeg_bytes(2)[:200])
  config = _config({'root': str(root), 'cache': str(tmp_path / 'c')},
                   batch_size=64, image_size=8)
  data.check(config)
  iterator = data.train_iterator(config)
  assert next(iterator)['image'].shape == (64, 8, 8, 3)
  assert len(data.train_data(config)['image']) == 899  # 999 less 10% held out


def test_batches_are_scaled_images_of_the_configured_shape(image_tree):
  for channels in (1, 3):
    config = _config(image_tree, channels=channels)
    batch = next(data.train_iterator(config))['image']
    assert batch.shape == (8, 16, 16, channels)
    assert batch.dtype == np.float32
    assert -1 <= batch.min() and batch.max() <= 1


def test_same_seed_same_batches_and_state_round_trip(image_tree):
  config = _config(image_tree, batch_size=4)
  iterator = data.train_iterator(config)
  uninterrupted = [next(iterator)['image'] for _ in range(5)]
  again = data.train_iterator(config)
  for expected in uninterrupted[:3]:
    np.testing.assert_array_equal(next(again)['image'], expected)
  resumed = data.train_iterator(config)
  resumed.set_state(again.get_state())
  np.testing.assert_array_equal(next(resumed)['image'], uninterrupted[3])


def test_cache_is_written_once_and_reused_without_decoding(image_tree,
                                                           monkeypatch):
  config = _config(image_tree)
  cache_dir, _ = folder.prepare(config)
  images_file = os.path.join(cache_dir, cache.IMAGES)
  written = os.stat(images_file).st_mtime_ns
  expected = data.eval_data(config)['image']

  calls = []
  decode = folder.decode
  monkeypatch.setattr(folder, 'decode',
                      lambda *args: calls.append(args) or decode(*args))
  assert folder.prepare(config)[0] == cache_dir
  np.testing.assert_array_equal(data.eval_data(config)['image'], expected)
  next(data.train_iterator(config))
  assert not calls
  assert os.stat(images_file).st_mtime_ns == written
  # Other settings make another cache.
  config.data.image_size = 8
  assert folder.prepare(config)[0] != cache_dir
  assert len(calls) == NUM_GOOD + 2


def test_cache_is_memory_mapped_uint8(image_tree):
  cache_dir, meta = folder.prepare(_config(image_tree))
  images = np.load(os.path.join(cache_dir, cache.IMAGES), mmap_mode='r')
  assert isinstance(images, np.memmap)
  assert images.dtype == np.uint8
  assert images.shape == (len(meta['files']), 16, 16, 3)


def test_attributes_and_partition_follow_celeba_files(image_tree):
  config = _config(image_tree, attributes_file=image_tree['attributes'],
                   partition_file=image_tree['partition'])
  train = data.train_data(config)
  held_out = data.eval_data(config)
  assert len(train['image']) == 12 and len(held_out['image']) == 4
  assert held_out['attribute_names'] == NAMES
  # Files 12..15 are held out; bit k of i is attribute k.
  expected = [[(i >> k) & 1 for k in range(3)] for i in range(12, 16)]
  assert sorted(held_out['attributes'].tolist()) == sorted(expected)
  assert train['attributes'].shape == (12, 3)


def test_without_partition_file_a_fixed_fraction_is_held_out(image_tree):
  config = _config(image_tree, holdout_fraction=0.25)
  first = data.eval_data(config)['image']
  assert len(first) == 4
  np.testing.assert_array_equal(data.eval_data(config)['image'], first)


def test_celeba_crop_of_a_218x178_image(tmp_path):
  root = tmp_path / 'faces'
  pixels = np.random.default_rng(0).integers(0, 256, (218, 178, 3), np.uint8)
  for i in range(2):
    _save(str(root / f'{i}.png'), Image.fromarray(pixels))
  config = _config({'root': str(root), 'cache': str(tmp_path / 'c')},
                   batch_size=1, image_size=148, crop='celeba_148',
                   holdout_fraction=0.0)
  image = data.train_data(config, 1)['image'][0]
  np.testing.assert_allclose(image, pixels[40:188, 15:163] / 127.5 - 1,
                             atol=1e-6)
