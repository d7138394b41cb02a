"""Experiments on the model family, each training its runs and writing a report.

    python -m experiments compare --workdir=workdirs/compare

trains the runs an experiment needs (each a `train.train_and_evaluate` call
in `<workdir>/runs/<name>/`, resumed if unfinished, skipped if finished) and
writes `<workdir>/report.md` with its tables and figures. The experiments
(`definitions.EXPERIMENTS`): compare (VAE, GAN, VAE-GAN), ablation (the
λ-blend), lr (learning-rate sensitivity), translation (reconstructing shifted
digits) and feature_layer (Dis_l at each discriminator convolution).
"""

from typing import Collection

import ml_collections

from experiments.definitions import Experiment
from experiments.definitions import EXPERIMENTS
from experiments.definitions import Run


def run(experiment: Experiment, config: ml_collections.ConfigDict,
        workdir: str, runs: Collection[str] | None = None,
        command: str | None = None) -> str | None:
  """Trains an experiment's unfinished runs, then writes its report.

  Args:
    experiment: one of `EXPERIMENTS`.
    config: the config every run starts from, experiment defaults included
      (see `runner.experiment_config`).
    workdir: the experiment's directory.
    runs: names of the runs to train (None: all); the report shows every
      finished run found in `workdir`.
    command: the command line, for the report.

  Returns:
    The report's path, or None if a run was stopped (SIGTERM or Ctrl-C)
    before its last step: running again continues it.
  """
  # Imported here, not at the top: the command line imports this package,
  # and its --help and flag errors should not wait for JAX.
  from absl import logging  # pylint: disable=g-import-not-at-top
  from experiments import report  # pylint: disable=g-import-not-at-top
  from experiments import runner  # pylint: disable=g-import-not-at-top
  for r in runner.select(experiment, runs):
    logging.info('Run %s of %s.', r.name, experiment.name)
    directory = runner.run_dir(workdir, r)
    if not runner.train_run(runner.run_config(config, r), directory):
      logging.warning('%s stopped before its last step; run the same '
                      'command to continue it.', directory)
      return None
  path = report.write(experiment, workdir, command)
  logging.info('Wrote %s', path)
  return path


__all__ = ['EXPERIMENTS', 'Experiment', 'Run', 'run']
