"""tools.write_reference_pngs writes the real images a run's FID compares
against, pixel for pixel, as PNG files for other FID tools."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests import helpers
from tools import write_reference_pngs
from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax.data import images as images_lib


def _read_pngs(folder):
  names = sorted(os.listdir(folder))
  assert names == [f'{i:06d}.png' for i in range(len(names))]
  pixels = []
  for name in names:
    with Image.open(os.path.join(folder, name)) as image:
      pixels.append(np.asarray(image))
  return np.stack(pixels)


def test_eval_reference_is_the_held_out_images_the_evaluation_scores(tmp_path):
  config = helpers.tiny_config(eval__num_examples=20)
  out = tmp_path / 'real'
  assert write_reference_pngs.write_reference_pngs(config, str(out)) == 20
  # The evaluation's FID reference: its held-out images (run/evaluate.py),
  # as 8-bit pixels (metrics.quantize).
  held_out = data.eval_data(config, config.eval.num_examples)['image']
  np.testing.assert_array_equal(_read_pngs(out),
                                images_lib.to_uint8(held_out)[..., 0])


def test_train_reference_is_the_whole_training_split(tmp_path):
  config = helpers.tiny_config(eval__fid_reference='train')
  out = tmp_path / 'real'
  count = write_reference_pngs.write_reference_pngs(config, str(out))
  train = data.train_data(config)['image']
  assert count == len(train) > config.eval.num_examples
  rows = [0, 1, len(train) // 2, len(train) - 1]
  np.testing.assert_array_equal(_read_pngs(out)[rows],
                                images_lib.to_uint8(train[rows])[..., 0])


def test_a_folder_with_files_is_refused(tmp_path):
  (tmp_path / 'old.png').write_bytes(b'')
  with pytest.raises(errors.UserError, match='not an empty folder'):
    write_reference_pngs.write_reference_pngs(helpers.tiny_config(),
                                              str(tmp_path))


def test_a_reference_without_images_is_refused(tmp_path):
  config = helpers.tiny_config(eval__fid_reference='stats.npz')
  with pytest.raises(errors.UserError, match='holds no images'):
    write_reference_pngs.write_reference_pngs(config, str(tmp_path / 'real'))
  assert not (tmp_path / 'real').exists()


@pytest.mark.slow  # a subprocess importing JAX: about 10 s
def test_command_line(tmp_path):
  command = [sys.executable, '-m', 'tools.write_reference_pngs',
             '--config=configs/test.py', '--config.eval.num_examples=12',
             f'--out={tmp_path / "real"}']
  run = lambda: subprocess.run(command, cwd=helpers.ROOT, capture_output=True,
                               text=True, env=helpers.subprocess_env(),
                               timeout=300)
  first = run()
  assert first.returncode == 0, first.stdout + first.stderr
  assert 'Wrote 12 images' in first.stdout
  assert len(os.listdir(tmp_path / 'real')) == 12
  again = run()
  assert again.returncode == 1
  assert again.stderr.strip().splitlines()[-1:] == [
      f'Error: --out={tmp_path / "real"} already exists and is not an empty '
      'folder; give a new or empty folder (FID tools read every image in it).']
