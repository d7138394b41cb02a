r"""Converts pytorch-fid's Inception weights to the .npz `inception` loads.

Usage (no torch needed: `pth` reads the file):

  python -m tools.convert_inception \
      pt_inception-2015-12-05-6726825d.pth inception_fid.npz

The input is pytorch-fid's port of the TensorFlow FID Inception
(`inception-2015-12-05`), released at
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth

The output holds the pool3 network and its 1008-way classifier (`fc`, for
the Inception Score) under flax names.
"""

import hashlib
import re
import sys

import numpy as np
from etils import epath

from vaegan_jax import files
from vaegan_jax.metrics import inception_weights
from tools import pth

# sha256 prefix of pytorch-fid's file (the suffix of its name).
KNOWN_SHA256_PREFIX = '6726825d'

# PyTorch BatchNorm2d / Conv2d names -> (collection, flax name).
_RENAMES = {
    'conv.weight': ('params', 'conv/kernel'),
    'bn.weight': ('params', 'bn/scale'),
    'bn.bias': ('params', 'bn/bias'),
    'bn.running_mean': ('batch_stats', 'bn/mean'),
    'bn.running_var': ('batch_stats', 'bn/var'),
}
# The 1008-way classifier: torch Linear [out, in] -> flax Dense [in, out].
_CLASSIFIER = {'fc.weight': 'params/fc/kernel', 'fc.bias': 'params/fc/bias'}
# Not needed: BatchNorm's update counters.
_SKIPPED = re.compile(r'\.num_batches_tracked$')


def convert_state_dict(state_dict: dict[str, np.ndarray]
                       ) -> dict[str, np.ndarray]:
  """Renames and transposes a PyTorch FID Inception state dict.

  Args:
    state_dict: {'Mixed_5b.branch1x1.conv.weight': array, ...} as numpy
      arrays, from pytorch-fid's `fid_inception_v3()` weights.

  Returns:
    {'params/Mixed_5b/branch1x1/conv/kernel': array, ...}: convolution
    kernels as [H, W, in, out], the classifier as 'params/fc/kernel' [2048,
    1008] and 'params/fc/bias', everything float32.
  """
  flat = {}
  for name, value in state_dict.items():
    if _SKIPPED.search(name):
      continue
    if name in _CLASSIFIER:
      value = np.asarray(value, np.float32)
      flat[_CLASSIFIER[name]] = value.T if value.ndim == 2 else value
      continue
    module, _, tail = name.rpartition('.')
    module, _, layer = module.rpartition('.')
    if f'{layer}.{tail}' not in _RENAMES:
      raise ValueError(f'Unexpected entry {name!r} in the state dict: is this '
                       f'pytorch-fid\'s {inception_weights.TORCH_WEIGHTS_FILE}?')
    collection, leaf = _RENAMES[f'{layer}.{tail}']
    value = np.asarray(value, np.float32)
    if leaf.endswith('kernel'):
      value = value.transpose(2, 3, 1, 0)  # [out, in, H, W] -> [H, W, in, out]
    flat['/'.join([collection, *module.split('.'), leaf])] = value
  inception_weights.check_variables(flat, 'The converted state dict')
  return flat


def _check_hash(path: str) -> None:
  """Warns when pytorch-fid's file name does not match its content."""
  if inception_weights.TORCH_WEIGHTS_FILE not in path:
    return
  digest = hashlib.sha256(epath.Path(path).read_bytes()).hexdigest()
  if not digest.startswith(KNOWN_SHA256_PREFIX):
    print(f'warning: {path} has sha256 {digest[:8]}..., expected '
          f'{KNOWN_SHA256_PREFIX}...; the download may be corrupt.',
          file=sys.stderr)


def convert_file(torch_path: str, npz_path: str) -> None:
  """Reads a PyTorch .pth state dict and writes the flax weights .npz.

  Args:
    torch_path: pytorch-fid's pt_inception-2015-12-05-6726825d.pth.
    npz_path: where to write the converted weights (local or a URL such
      as gs://bucket/inception_fid.npz).
  """
  _check_hash(torch_path)
  flat = convert_state_dict(pth.load_state_dict(torch_path))
  files.save_npz(npz_path, **flat)


def main(argv: list[str]) -> int:
  """The command line: `convert_inception IN.pth OUT.npz`.

  Args:
    argv: program name, input .pth path, output .npz path.

  Returns:
    The exit status.
  """
  if len(argv) != 3:
    print(__doc__, file=sys.stderr)
    return 2
  convert_file(argv[1], argv[2])
  print(f'wrote {argv[2]}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
