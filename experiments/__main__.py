"""Trains an experiment's runs and writes its report.

    python -m experiments compare --workdir=workdirs/compare --docs=docs/compare
    python -m experiments lr --config.train.num_steps=5000 --seeds=3
    python -m experiments ablation --runs=lambda_0.0,lambda_1.0
    python -m experiments compare --report_only --docs=docs/compare

`python -m experiments` alone lists the experiments and their runs. Every
run is --config (configs/mnist.py) with its overrides, the experiment's
defaults for the fields the command line does not set (train.num_steps,
train.log_every, eval.every, eval.split), and the run's own fields,
repeated over --seeds seeds (config.seed, config.seed + 1, ...) in
<workdir>/runs/<name>/seed_<k>/. Running the same command again skips
finished seeds, continues unfinished ones and rewrites the report. With
--docs each finished seed's small files (no checkpoints, no TensorBoard
logs) are copied to <docs>/runs/<name>/seed_<k>/ and the report is written
in <docs> from them alone; --report_only --docs=<docs> writes it again from
those files, byte for byte the same.
"""

import shlex
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from vaegan_jax.run import cli
from experiments import definitions



try:  # The default config is read, with its overrides, right here.
  _CONFIG = config_flags.DEFINE_config_file(
      'config', 'configs/mnist.py', 'The base config of every run; override '
      'fields with --config.<section>.<field>=value.', lock_config=True)
except (AttributeError, KeyError) as e:
  sys.exit(cli.unknown_field_message(e, sys.argv))
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'The experiment\'s directory: runs in runs/<name>/, '
    'report.md and its figures (default: workdirs/<experiment>).')
_RUNS = flags.DEFINE_list(
    'runs', None, 'Train only these runs (names as in runs/<name>/); the '
    'report shows every finished run.')
_REPORT_ONLY = flags.DEFINE_bool(
    'report_only', False, 'Train nothing; rewrite the report from the '
    'finished runs (those in --docs if given, else in --workdir).')
_SEEDS = flags.DEFINE_integer(
    'seeds', None, 'Seeds each run repeats over (default: the '
    'experiment\'s, 5).', lower_bound=1)
_DOCS = flags.DEFINE_string(
    'docs', None, 'Where each finished seed\'s small files are copied '
    '(runs/<name>/seed_<k>/) and the report is written from them, e.g. '
    'docs/compare (default: the report goes in --workdir).')


def _usage() -> str:
  return 'Experiments:\n' + '\n'.join(
      f'  {e.name}: {e.title} (runs: {", ".join(r.name for r in e.runs)})'
      for e in definitions.EXPERIMENTS.values())


def main(argv):
  if len(argv) != 2 or argv[1] not in definitions.EXPERIMENTS:
    problem = (f'{argv[1]} is not an experiment.' if len(argv) == 2 else
               'Name one experiment: python -m experiments <experiment> '
               '[flags]')
    raise app.UsageError(f'{problem}\n{_usage()}')
  cli.setup_logging()
  # Imported here so that --help and flag errors do not wait for JAX.
  from vaegan_jax import errors  # pylint: disable=g-import-not-at-top
  import experiments  # pylint: disable=g-import-not-at-top
  from experiments import report  # pylint: disable=g-import-not-at-top
  from experiments import runner  # pylint: disable=g-import-not-at-top
  experiment = definitions.EXPERIMENTS[argv[1]]
  workdir = _WORKDIR.value or f'workdirs/{experiment.name}'
  command = ' '.join(['python -m experiments']
                     + [shlex.quote(a) for a in sys.argv[1:]])
  overridden = config_flags.get_override_values(flags.FLAGS['config'])
  config = runner.experiment_config(experiment, _CONFIG.value,
                                    keep=overridden)
  try:
    if _REPORT_ONLY.value:
      if _RUNS.value:
        raise ValueError(
            f'--runs={",".join(_RUNS.value)} chooses runs to train, and '
            '--report_only trains none: its report shows every finished '
            'run. Drop --runs, or --report_only to train those runs.')
      root = _DOCS.value or workdir
      if not any(runner.found_seeds(root, r) for r in experiment.runs):
        raise FileNotFoundError(
            f'{root}/runs/ holds no run of {experiment.name} '
            f'(runs/<name>/seed_<k>/): give the folder of its runs with '
            f'--docs=<folder> or --workdir=<folder>.')
      path = report.write(experiment, root)
    else:
      path = experiments.run(experiment, config, workdir, _RUNS.value,
                             command, _SEEDS.value, _DOCS.value)
  except (ValueError, FileNotFoundError, errors.NonFiniteError) as e:
    logging.error('%s', e)
    sys.exit(f'Error: {e}')
  if path:
    print(f'Report: {path}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
