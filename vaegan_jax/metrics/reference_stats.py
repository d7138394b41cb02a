"""FID reference statistics in a file: mu and sigma in an .npz.

The format of TTUR's precomputed statistics, clean-fid's and pytorch-fid's
`--save-stats`: an .npz holding `mu` [D] and `sigma` [D, D] of the
reference's features. `config.eval.fid_reference` may name such a file
instead of a split, so that an FID is against the statistics a paper used;
`save` writes a run's reference statistics in the same format, with the
number of images and the protocol's name beside them.
"""

import io

import numpy as np

from vaegan_jax import errors
from vaegan_jax import files

SUFFIX = '.npz'
KEYS = ('mu', 'sigma')


def is_file_reference(reference: str) -> bool:
  """Whether `config.eval.fid_reference` names a statistics file."""
  return isinstance(reference, str) and reference.endswith(SUFFIX)


def check(mu: np.ndarray, sigma: np.ndarray, dim: int | None = None
          ) -> str | None:
  """What is wrong with reference statistics, in words, or None.

  Args:
    mu: the mean.
    sigma: the covariance.
    dim: the feature dimension they must have (None: any).
  """
  if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
    return (f'mu has shape {mu.shape} and sigma {sigma.shape}; they must be '
            '[D] and [D, D]')
  if dim is not None and len(mu) != dim:
    return (f'the statistics are {len(mu)}-dimensional but the features of '
            f'config.eval.fid_features are {dim}-dimensional')
  if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
    return 'mu or sigma holds non-finite values'
  if not np.allclose(sigma, sigma.T, rtol=1e-5, atol=1e-8):
    return 'sigma is not symmetric'
  return None


def load(path: str, dim: int | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) from an .npz of reference statistics, checked.

  Args:
    path: local or gs:// path of the file.
    dim: the feature dimension they must have (None: any).

  Returns:
    (mu [D], sigma [D, D]) in float64.

  Raises:
    errors.MissingFileError: there is no such file.
    errors.BadFileError: one line naming the file and what is wrong.
  """
  where = f'config.eval.fid_reference={path}'
  advice = ('give an .npz of FID statistics with keys mu and sigma (as '
            'TTUR, clean-fid and pytorch-fid --save-stats write)')
  if not files.path(path).exists():
    raise errors.MissingFileError(f'{where} does not exist: {advice}.')
  try:
    with np.load(io.BytesIO(files.path(path).read_bytes())) as stats:
      arrays = {k: np.asarray(stats[k], np.float64)
                for k in KEYS if k in stats.files}
      names = sorted(stats.files)
  except (OSError, ValueError) as e:
    raise errors.BadFileError(f'{where} cannot be read as an .npz '
                              f'({errors.first_line(e)}): {advice}.') from None
  if len(arrays) < len(KEYS):
    raise errors.BadFileError(f'{where} holds {names}, not mu and sigma: '
                              f'{advice}.')
  mu, sigma = arrays['mu'], arrays['sigma']
  problem = check(mu, sigma, dim)
  if problem:
    raise errors.BadFileError(f'{where}: {problem}; give the statistics '
                              'of the same feature network.')
  return mu, sigma


def save(path: str, mu: np.ndarray, sigma: np.ndarray, count: int,
         name: str) -> None:
  """Writes reference statistics as an .npz that `load` and other FID
  tools read (`mu`, `sigma`), with `count` and the protocol `name`.

  Args:
    path: local or gs:// path, ending in .npz.
    mu: [D] mean of the reference's features.
    sigma: [D, D] their covariance.
    count: how many images they are of.
    name: the protocol, e.g. 'FID-10k vs eval (500 images), digits'.
  """
  files.save_npz(path, mu=np.asarray(mu, np.float64),
                 sigma=np.asarray(sigma, np.float64), count=np.int64(count),
                 name=np.str_(name))
