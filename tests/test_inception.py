"""The flax FID Inception against a plain-torch port of pytorch-fid's.

The real weights cannot be fetched in the tests, so both networks get the
same random weights, BatchNorm running statistics included, through the
weight converter itself; then their pool3 features must agree.
"""

import collections
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip('torch')
F = torch.nn.functional

from vaegan_jax.data import images as images_lib  # pylint: disable=g-import-not-at-top
from vaegan_jax import metrics
from tools import convert_inception
from vaegan_jax.metrics import extractors
from vaegan_jax.metrics import inception
from vaegan_jax.metrics import inception_weights
from tools import pth
from tests import helpers
from tests import torch_fid_inception


def _smooth_images(n, size, channels, seed):
  """Random smooth images in [-1, 1], [N, H, W, C]."""
  g = torch.Generator().manual_seed(seed)
  low = torch.rand(n, channels, 6, 6, generator=g) * 2 - 1
  images = F.interpolate(low, size=(size, size), mode='bicubic',
                         align_corners=False).clamp(-1, 1)
  return images.permute(0, 2, 3, 1).numpy()


def _to_torch(images):
  """[-1, 1] NHWC -> pytorch-fid's input, [0, 1] NCHW."""
  return torch.from_numpy((images + 1) / 2).permute(0, 3, 1, 2)


def _randomize(net, images):
  """Random weights, with BatchNorm statistics of `images`, then perturbed.

  Running statistics measured on the inputs keep activations O(1) through
  the 90-odd layers; the perturbation makes every BatchNorm parameter
  matter.
  """
  for m in net.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
      m.momentum = None  # A cumulative average: the statistics of one pass.
  net.train()
  with torch.no_grad():
    net(_to_torch(images))
    for m in net.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.weight.uniform_(0.8, 1.2)
        m.bias.normal_(0.0, 0.1)
        m.running_mean.add_(0.1 * m.running_var.sqrt()
                            * torch.randn_like(m.running_mean))
        m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
  net.eval()


@pytest.fixture(scope='module')
def images():
  return _smooth_images(3, 32, 3, seed=1)


@pytest.fixture(scope='module')
def torch_net(images):
  torch.manual_seed(0)
  net = torch_fid_inception.FIDInceptionV3()
  _randomize(net, images)
  return net


@pytest.fixture(scope='module')
def weights_path(torch_net, tmp_path_factory):
  """The torch weights through the converter's command line."""
  directory = tmp_path_factory.mktemp('inception')
  pth, npz = directory / 'weights.pth', directory / 'inception_fid.npz'
  torch.save(torch_net.state_dict(), pth)
  assert convert_inception.main(['convert', str(pth), str(npz)]) == 0
  return str(npz)


@pytest.mark.slow  # compiles the whole network
def test_pool3_features_match_pytorch_fid(torch_net, weights_path, images):
  # pytorch-fid's input: 8-bit images (PNG files) divided by 255.
  pixels = images_lib.to_uint8(images)
  # Batch 2 for 3 images: the second batch is padded, one compilation.
  extract = metrics.feature_extractor('inception', weights_path=weights_path,
                                      batch_size=2)
  got = extract(pixels)
  np.testing.assert_array_equal(extract(images), got)  # floats quantised
  with torch.no_grad():
    expected = torch_net(torch.from_numpy(pixels / np.float32(255)).permute(
        0, 3, 1, 2)).numpy()
  assert got.shape == expected.shape == (3, inception.FEATURE_DIM)
  scale = np.abs(expected).max()
  assert 0.1 < scale < 100 and np.abs(expected).mean() > 1e-3 * scale
  diff = np.abs(got - expected)
  print(f'pool3 features up to {scale:.3g}: max |diff| {diff.max():.2e}, '
        f'max |diff| / max |feature| {diff.max() / scale:.2e}')
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize('size,channels', [(28, 1), (64, 3), (320, 3)])
def test_resize_matches_torch_bilinear(size, channels):
  images = _smooth_images(2, size, channels, seed=size)
  got = np.asarray(inception.preprocess(images))
  expected = F.interpolate(_to_torch(images).repeat(1, 3 // channels, 1, 1),
                           size=(299, 299), mode='bilinear',
                           align_corners=False) * 2 - 1
  np.testing.assert_allclose(got, expected.permute(0, 2, 3, 1).numpy(),
                             atol=2e-6)


def test_converter_names_a_missing_entry(torch_net):
  state = {k: v.numpy() for k, v in torch_net.state_dict().items()}
  flat = convert_inception.convert_state_dict(state)
  assert flat['params/Mixed_5b/branch5x5_2/conv/kernel'].shape == (
      5, 5, 48, 64)
  del state['Mixed_7c.branch_pool.bn.running_var']
  with pytest.raises(ValueError, match='1 missing'):
    convert_inception.convert_state_dict(state)


@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy'])
def test_pth_reader_matches_torch_load(tmp_path, legacy):
  base = torch.randn(4, 6)
  state = collections.OrderedDict(
      conv=torch.randn(8, 3, 5, 5), bias=torch.randn(8),
      rows=base[1:],  # a view: an offset into a storage it shares
      transposed=base.t(),  # strides that are not row-major
      scalar=torch.tensor(2.5), counter=torch.tensor(7, dtype=torch.int64),
      empty=torch.zeros(0, 3))
  path = tmp_path / 'state.pth'
  torch.save(state, path, _use_new_zipfile_serialization=not legacy)
  got = pth.load_state_dict(str(path))
  expected = torch.load(path, weights_only=True)
  assert list(got) == list(expected)
  for name, tensor in expected.items():
    assert got[name].dtype == tensor.numpy().dtype, name
    np.testing.assert_array_equal(got[name], tensor.numpy(), err_msg=name)


def test_pth_reader_runs_no_code_from_the_file(tmp_path):
  path = tmp_path / 'evil.pth'
  torch.save({'a': torch.zeros(2), 'b': print}, path)  # pickles a global
  with pytest.raises(Exception, match='print is not part of a '
                     'state dict'):
    pth.load_state_dict(str(path))


@pytest.mark.slow  # compiles the whole network a second time
def test_converted_classifier_gives_torch_logits(torch_net, weights_path,
                                                 images):
  variables = inception_weights.load_variables(weights_path)
  assert variables['params']['fc']['kernel'].shape == (2048, 1008)
  net = inception.FIDInceptionV3()
  got = np.asarray(net.apply(variables, inception.preprocess(images),
                             logits=True))
  with torch.no_grad():
    expected = torch_net.fc(torch_net(_to_torch(images))).numpy()
  scale = np.abs(expected).max()
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
  # The Inception Score's head on the (8-bit images') pool3 features gives
  # the classifier's logits.
  features = metrics.feature_extractor('inception', weights_path=weights_path,
                                       batch_size=3)(images)
  head = extractors.inception_head(weights_path)
  logits = net.apply(variables, inception.preprocess(
      extractors.quantize(images)), logits=True)
  np.testing.assert_allclose(head(features), logits, rtol=1e-4,
                             atol=1e-5 * scale)


@pytest.mark.slow  # compiles the whole network
def test_weights_without_the_classifier_still_load(weights_path, images,
                                                   tmp_path):
  with np.load(weights_path) as data:
    flat = {k: data[k] for k in data.files if not k.startswith('params/fc/')}
  older = tmp_path / 'older.npz'
  np.savez(older, **flat)
  assert 'fc' not in inception_weights.load_variables(str(older))['params']
  assert extractors.inception_head(str(older)) is None  # no Inception Score
  features = [metrics.feature_extractor('inception', weights_path=path,
                                        batch_size=3)(images)
              for path in (str(older), weights_path)]
  np.testing.assert_array_equal(*features)


@pytest.mark.slow
def test_converter_needs_no_torch(torch_net, tmp_path):
  pth_path, npz_path = tmp_path / 'w.pth', tmp_path / 'w.npz'
  torch.save(torch_net.state_dict(), pth_path)
  code = ('import sys; sys.modules["torch"] = None\n'  # import torch fails
          'from tools import convert_inception\n'
          f'sys.exit(convert_inception.main(["c", "{pth_path}", '
          f'"{npz_path}"]))')
  proc = subprocess.run([sys.executable, '-c', code], cwd=helpers.ROOT,
                        env=helpers.subprocess_env(), capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  with np.load(npz_path) as data:
    for name, value in torch_net.state_dict().items():
      if name == 'fc.weight':
        np.testing.assert_array_equal(data['params/fc/kernel'], value.numpy().T)
      elif name == 'Conv2d_1a_3x3.conv.weight':
        np.testing.assert_array_equal(
            data['params/Conv2d_1a_3x3/conv/kernel'],
            value.numpy().transpose(2, 3, 1, 0))
