"""FID reference statistics files (mu, sigma) and the clean-fid resize."""

import numpy as np
import pytest
from PIL import Image

from vaegan_jax import errors
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import reference_stats
from vaegan_jax.metrics import resize


def _stats(dim=6, seed=0):
  return frechet.statistics(np.random.default_rng(seed).normal(
      size=(50, dim)))


def test_saved_statistics_load_back_and_other_tools_files_load(tmp_path):
  mu, sigma = _stats()
  path = str(tmp_path / 'ref.npz')
  reference_stats.save(path, mu, sigma, 50, 'FID-10k vs eval (50 images)')
  got_mu, got_sigma = reference_stats.load(path, dim=6)
  np.testing.assert_array_equal(got_mu, mu)
  np.testing.assert_array_equal(got_sigma, sigma)
  with np.load(path) as saved:
    assert int(saved['count']) == 50
  # pytorch-fid --save-stats: np.savez_compressed(path, mu=mu, sigma=sigma),
  # float32 in TTUR's files.
  other = str(tmp_path / 'pytorch_fid.npz')
  np.savez_compressed(other, mu=mu.astype(np.float32),
                      sigma=sigma.astype(np.float32))
  np.testing.assert_allclose(reference_stats.load(other)[1], sigma,
                             rtol=1e-6)


def _refusal(tmp_path, dim=6, **arrays):
  path = str(tmp_path / 'bad.npz')
  np.savez(path, **arrays)
  with pytest.raises(errors.UserError) as raised:
    reference_stats.load(path, dim=dim)
  message = str(raised.value)
  assert '\n' not in message and message.startswith(
      f'config.eval.fid_reference={path}')
  return message


def test_each_wrong_file_gives_one_line(tmp_path):
  mu, sigma = _stats()
  assert 'are 6-dimensional' in _refusal(tmp_path, dim=2048, mu=mu,
                                         sigma=sigma)
  assert "holds ['mean', 'sigma'], not mu and sigma" in _refusal(
      tmp_path, mean=mu, sigma=sigma)
  skewed = sigma.copy()
  skewed[0, 1] += 1.0
  assert 'sigma is not symmetric' in _refusal(tmp_path, mu=mu, sigma=skewed)
  broken = sigma.copy()
  broken[2, 2] = np.nan
  assert 'non-finite' in _refusal(tmp_path, mu=mu, sigma=broken)
  assert 'must be [D] and [D, D]' in _refusal(tmp_path, mu=mu,
                                              sigma=sigma[:3])
  (tmp_path / 'text.npz').write_text('not an archive')
  with pytest.raises(errors.BadFileError, match='cannot be read as an .npz'):
    reference_stats.load(str(tmp_path / 'text.npz'))
  with pytest.raises(errors.MissingFileError, match='does not exist'):
    reference_stats.load(str(tmp_path / 'missing.npz'))


def test_file_references_are_npz_paths():
  assert reference_stats.is_file_reference('gs://b/fid_stats_celeba.npz')
  assert not reference_stats.is_file_reference('train')
  assert not reference_stats.is_file_reference('eval')


def test_clean_resize_is_pil_bicubic_per_channel_of_the_uint8_image():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (2, 28, 32, 3), dtype=np.uint8)
  got = resize.clean_resize(images, size=64)
  for n in range(2):
    for c in range(3):
      channel = Image.fromarray(images[n, :, :, c].astype(np.float32), 'F')
      expected = np.asarray(channel.resize((64, 64), Image.BICUBIC))
      np.testing.assert_allclose(got[n, :, :, c],
                                 (np.clip(expected, 0, 255) - 128) / 128,
                                 rtol=0, atol=1e-6)


def test_clean_resize_of_gray_repeats_the_channel_and_antialiases():
  # A one-pixel checkerboard shrunk 4x: bicubic with antialiasing averages
  # it to mid-grey; bilinear without antialiasing samples it.
  board = (np.indices((120, 120)).sum(0) % 2 * 255).astype(np.uint8)
  got = resize.clean_resize(board[None, :, :, None], size=30)
  assert got.shape == (1, 30, 30, 3)
  np.testing.assert_array_equal(got[..., 0], got[..., 2])
  middle = got[0, 5:25, 5:25, 0] * 128 + 128
  assert np.abs(middle - 127.5).max() < 2.0
  with pytest.raises(ValueError, match='uint8'):
    resize.clean_resize(board[None, :, :, None].astype(np.float32))
