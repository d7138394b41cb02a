"""The FID Inception weights file: reading it, checking it, saying where to
get it.

The file is the .npz `convert_inception` writes from pytorch-fid's
`pt_inception-2015-12-05-6726825d.pth`: flat names ('params/Mixed_5b/
branch1x1/conv/kernel', 'batch_stats/...'), each array float32, and
optionally the 1008-way classifier ('params/fc/...').
"""

import functools
import io
import zipfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax.metrics import inception

# The classifier's variables: optional (older converted files lack them).
CLASSIFIER_SHAPES = {
    'params/fc/kernel': (inception.FEATURE_DIM, inception.NUM_CLASSES),
    'params/fc/bias': (inception.NUM_CLASSES,)}
WEIGHTS_FILE = 'inception_fid.npz'
TORCH_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
TORCH_WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/'
                     'download/fid_weights/' + TORCH_WEIGHTS_FILE)




@functools.cache
def variable_shapes() -> dict[str, tuple[int, ...]]:
  """The shape of every variable of the network, by flat name.

  Returns:
    {'params/Mixed_5b/branch1x1/conv/kernel': shape, ...}, the
    'batch_stats' collection included.
  """
  abstract = jax.eval_shape(
      inception.FIDInceptionV3().init, jax.random.key(0),
      jax.ShapeDtypeStruct((1, inception.INPUT_SIZE, inception.INPUT_SIZE, 3),
                           jnp.float32))
  flat = jax.tree_util.tree_flatten_with_path(abstract)[0]
  return {'/'.join(k.key for k in path): leaf.shape for path, leaf in flat}


def check_variables(flat: dict[str, np.ndarray], source: str) -> None:
  """Checks that flat weights fit the network: names and shapes.

  The classifier (`CLASSIFIER_SHAPES`) may be there or not; the pool3
  network must be whole.

  Args:
    flat: {'params/.../kernel': array, ...}.
    source: where they came from, for the error message.

  Raises:
    ValueError: naming the missing, unexpected and misshapen entries.
  """
  expected = {**variable_shapes(), **CLASSIFIER_SHAPES}
  missing = sorted(set(expected) - set(flat) - set(CLASSIFIER_SHAPES))
  unexpected = sorted(set(flat) - set(expected))
  wrong = sorted(k for k in set(expected) & set(flat)
                 if tuple(flat[k].shape) != tuple(expected[k]))
  if missing or unexpected or wrong:
    raise ValueError(
        f'{source} does not hold the FID Inception weights: '
        f'{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} '
        f'unexpected (e.g. {unexpected[:3]}), {len(wrong)} of the wrong shape '
        f'(e.g. {wrong[:3]}). Convert {TORCH_WEIGHTS_FILE} with '
        f'`python -m tools.convert_inception`.')


def unflatten(flat: dict[str, np.ndarray]) -> dict[str, Any]:
  """Nests flat weights by their '/'-separated names.

  Args:
    flat: e.g. {'a/b/c': x}.

  Returns:
    e.g. {'a': {'b': {'c': x}}}.
  """
  tree: dict[str, Any] = {}
  for key, value in flat.items():
    *parents, leaf = key.split('/')
    node = tree
    for name in parents:
      node = node.setdefault(name, {})
    node[leaf] = value
  return tree


def missing_weights_message(path: str) -> str:
  """What to do when the converted weights are not at `path`.

  Args:
    path: where they were looked for.

  Returns:
    The message: where to download pytorch-fid's file and how to convert it.
  """
  return (
      f'FID Inception weights not found at {path!r}. Download pytorch-fid\'s '
      f'{TORCH_WEIGHTS_FILE} from {TORCH_WEIGHTS_URL} and convert it once '
      f'(no torch needed): `python -m tools.convert_inception '
      f'{TORCH_WEIGHTS_FILE} {WEIGHTS_FILE}`; then pass that .npz path.')


def _bad_file(path, why: str) -> errors.BadFileError:
  return errors.BadFileError(
      f'{path} is not the converted FID Inception weights: {why}. Convert '
      f'pytorch-fid\'s {TORCH_WEIGHTS_FILE} once with `python -m '
      f'tools.convert_inception {TORCH_WEIGHTS_FILE} '
      f'{WEIGHTS_FILE}` and pass that .npz file.')


def load_variables(path: str) -> dict[str, Any]:
  """Loads the converted FID Inception weights from an .npz file.

  Args:
    path: the file written by `convert_inception`.

  Returns:
    {'params': ..., 'batch_stats': ...} for `inception.FIDInceptionV3().apply`; with
    `params['fc']` when the file holds the classifier.

  Raises:
    errors.MissingFileError: there is no file at `path`.
    errors.BadFileError: it is not such weights (a directory, an empty,
      truncated or other file), with what to do.
  """
  path = files.path(path)
  if not path.exists():
    raise errors.MissingFileError(missing_weights_message(str(path)))
  if path.is_dir():
    raise _bad_file(path, 'it is a directory')
  try:
    data = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
      raise _bad_file(path, 'it holds a single array (.npy), not the '
                      'named arrays of an .npz file')
    with data:
      flat = {k: np.asarray(data[k], np.float32) for k in data.files}
  except errors.BadFileError:
    raise
  except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
    why = ('it is empty' if path.stat().length == 0 else
           'it is not an .npz file' if 'pickle' in str(e) else
           f'it cannot be read ({type(e).__name__}: {e})')
    raise _bad_file(path, why) from None
  try:
    check_variables(flat, repr(str(path)))
  except ValueError as e:
    raise errors.BadFileError(str(e)) from None
  return unflatten(flat)
