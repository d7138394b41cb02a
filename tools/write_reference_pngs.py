"""Writes the real images a run's FID compares against, as PNG files.

    python -m tools.write_reference_pngs --config=configs/mnist.py \\
        --out=/tmp/real_pngs

The images are those of `config.eval.fid_reference`: 'eval' (the default)
the first `config.eval.num_examples` held-out images, 'train' the whole
training split, read as the run reads them. They are written as the 8-bit
pixels the run's FID scores (`metrics.quantize`), one PNG file each,
`000000.png`, `000001.png`, ..., as `--mode=sample --sample_format=png`
writes samples, so that `python -m pytorch_fid SAMPLES_DIR /tmp/real_pngs`
computes the run's Inception FID with another tool. Take the same config
and overrides as the run.
"""

from absl import app
from absl import flags
from etils import epath
from ml_collections import config_flags
import numpy as np

from vaegan_jax import errors
from vaegan_jax.run import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'The run\'s config file (configs/*.py); override fields '
    'with --config.<section>.<field>=value, as for the run.',
    lock_config=True)
_OUT = flags.DEFINE_string(
    'out', None, 'A new or empty folder for the PNG files.')


def _check_out(out: epath.Path) -> None:
  """Stops when `out` is a file or holds files: pytorch-fid would read them
  all, and a reference mixed with others' images gives a wrong FID."""
  if out.exists() and (not out.is_dir() or any(out.iterdir())):
    raise errors.UserError(
        f'--out={out} already exists and is not an empty folder; give a new '
        'or empty folder (FID tools read every image in it).')


def write_reference_pngs(config, out: str) -> int:
  """Writes the images `config`'s FID compares against as PNG files.

  Args:
    config: the run's configuration.
    out: a new or empty folder; the files are `<out>/000000.png`, ... in the
      order the run reads the images.

  Returns:
    The number of images written.

  Raises:
    errors.UserError: the reference is a statistics file, not images; `out`
      holds files already; or the data cannot be read.
  """
  # Imported here, not at the top, so that --help does not wait for JAX.
  # pylint: disable=g-import-not-at-top
  from vaegan_jax.metrics import extractors
  from vaegan_jax.metrics import fid_protocol
  from vaegan_jax.output import sample_files
  # pylint: enable=g-import-not-at-top
  if config.eval.fid_reference not in fid_protocol.REFERENCES:
    raise errors.UserError(
        f'config.eval.fid_reference={config.eval.fid_reference!r} holds no '
        f'images to write; give one of {fid_protocol.REFERENCES}.')
  out = epath.Path(out)
  _check_out(out)
  read, count = fid_protocol.reference_images(config, None)
  files = sample_files.SampleFiles(str(out.parent), out.name, ['png'])
  chunk = fid_protocol.chunk_size(config)
  for start in range(0, count, chunk):
    rows = np.arange(start, min(start + chunk, count))
    files.add(extractors.quantize(read(rows)))
  files.close()
  return files.count


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  # pylint: disable=g-import-not-at-top
  from vaegan_jax.run import validation
  # pylint: enable=g-import-not-at-top
  config = _CONFIG.value
  try:
    validation.validate(config)
    count = write_reference_pngs(config, _OUT.value)
  except errors.UserError as e:
    raise SystemExit(f'Error: {e}') from None
  print(f'Wrote {count} images ({config.eval.fid_reference} reference of '
        f'{config.data.name}) to {_OUT.value}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'out'])
  app.run(main, flags_parser=cli.parse_flags)
