"""Experiments on the model family, each training its runs and writing a report.

    python -m experiments compare --workdir=workdirs/compare --docs=docs/compare

trains the runs an experiment needs, each over several seeds (each a
`train.train_and_evaluate` call in `<workdir>/runs/<name>/seed_<k>/`,
resumed if unfinished, skipped if finished), copies each finished seed's
small files (`runner.RECORD_FILES`) to `<docs>/runs/<name>/seed_<k>/`, and
writes `<docs>/report.md` (`<workdir>/report.md` without --docs) with its
tables and figures from those files alone. The experiments
(`definitions.EXPERIMENTS`): compare (VAE, GAN, VAE-GAN), ablation (the
λ-blend), lr (learning-rate sensitivity), translation (reconstructing shifted
digits), feature_layer (Dis_l at each discriminator convolution), conditional,
collapse and features (EMA, DiffAugment and R1, chosen on validation).
"""

from typing import Collection

import ml_collections

from experiments.definitions import Experiment
from experiments.definitions import EXPERIMENTS
from experiments.definitions import Run


def run(experiment: Experiment, config: ml_collections.ConfigDict,
        workdir: str, runs: Collection[str] | None = None,
        command: str | None = None, seeds: int | None = None,
        docs: str | None = None) -> str | None:
  """Trains an experiment's unfinished runs, then writes its report.

  Args:
    experiment: one of `EXPERIMENTS`.
    config: the config every run starts from, experiment defaults included
      (see `runner.experiment_config`).
    workdir: the experiment's directory.
    runs: names of the runs to train (None: all); the report shows every
      finished run found.
    command: the command line, recorded in each run's timing.json.
    seeds: how many seeds each run repeats over (None: the experiment's
      `seeds`): `config.seed`, `config.seed + 1`, ...
    docs: where the finished seeds' small files are copied
      (`<docs>/runs/<name>/seed_<k>/`), the protocol's floors measured
      (`floors.write`) and the report written from them; None: all three
      go in `workdir`.

  Returns:
    The report's path, or None if a run was stopped (SIGTERM or Ctrl-C)
    before its last step: running again continues it.
  """
  # Imported here, not at the top: the command line imports this package,
  # and its --help and flag errors should not wait for JAX.
  from absl import logging  # pylint: disable=g-import-not-at-top
  from experiments import report  # pylint: disable=g-import-not-at-top
  from experiments import runner  # pylint: disable=g-import-not-at-top
  from experiments import records  # pylint: disable=g-import-not-at-top
  from experiments import floors  # pylint: disable=g-import-not-at-top
  from vaegan_jax.run import validation  # pylint: disable=g-import-not-at-top
  # Every run named and every run's config checked before anything is
  # written: a mistyped name or field costs no floors and no folders.
  selected = runner.select(experiment, runs)
  for r in selected:
    validation.validate(runner.run_config(config, r))
  floors.write(config, docs or workdir)
  for seed in runner.seeds(config, seeds or experiment.seeds):
    for r in selected:
      logging.info('Run %s of %s, seed %d.', r.name, experiment.name, seed)
      directory = runner.run_dir(workdir, r, seed)
      if not runner.train_run(runner.run_config(config, r, seed), directory,
                              command):
        logging.warning('%s stopped before its last step; run the same '
                        'command to continue it.', directory)
        return None
      result = runner.read_result(r, seed, directory)
      if result.finished and not records.is_written(directory):
        records.write(result, experiment)
      if docs and result.finished:
        records.export(directory, runner.run_dir(docs, r, seed))
  path = report.write(experiment, docs or workdir)
  logging.info('Wrote %s', path)
  return path


__all__ = ['EXPERIMENTS', 'Experiment', 'Run', 'run']
