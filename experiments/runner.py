"""Configs of an experiment's runs, training them resumably, their results.

Each run is repeated over seeds; each seed lives in
`<workdir>/runs/<name>/seed_<k>/` (k the run's `config.seed`), a normal run
workdir (see the README), plus `timing.json`: the wall time of every
`train_and_evaluate` call that trained it. A seed whose `timing.json` says it
reached `config.train.num_steps` is finished and skipped; any other is
(re)started and resumes from its latest checkpoint. A finished seed's small
files (`RECORD_FILES`, written by `records.write`) are all a report reads,
so copies of them elsewhere (`records.export`, e.g. into docs/) make the
same report.
"""

import dataclasses
import datetime
import json
import os
import platform
import time
from typing import Any, Collection

import jax
import ml_collections
import numpy as np
from absl import logging

from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax.model import algorithm as objectives
from vaegan_jax.run import train
from vaegan_jax.store import workdir as workdir_lib
from vaegan_jax.output import writers
from experiments import definitions

TIMING_FILE = 'timing.json'
CONFIG_FILE = 'config.json'
EVAL_METRICS_FILE = 'eval_metrics.json'
# Every evaluation of a run: its step, the eval metrics and the training
# log's losses at that step, a JSON record a line.
EVALUATIONS_FILE = 'evaluations.jsonl'
# The training log's losses and speed, a JSON record a line.
LOSSES_FILE = 'losses.jsonl'
# Numbers measured on the trained model for the report's sections
# (translation errors, each class's accuracy), and the pictures it shows
# (uint8 arrays: held-out digits and their reconstructions, ...).
MEASURES_FILE = 'measures.json'
PICTURES_FILE = 'pictures.npz'
SAMPLES_FILE = 'samples_4x4.png'
# A finished seed's files the report reads: no checkpoints, no TensorBoard.
RECORD_FILES = (CONFIG_FILE, EVAL_METRICS_FILE, TIMING_FILE,
                EVALUATIONS_FILE, LOSSES_FILE, MEASURES_FILE, PICTURES_FILE,
                SAMPLES_FILE)
SEED_PREFIX = 'seed_'


def experiment_config(experiment: definitions.Experiment,
                      base: ml_collections.ConfigDict,
                      keep: Collection[str] = ()) -> ml_collections.ConfigDict:
  """The base config with the experiment's defaults.

  Args:
    experiment: the experiment.
    base: the base config (e.g. configs/mnist.py with command-line
      overrides); not modified.
    keep: dotted fields the defaults must not change (those set on the
      command line).

  Returns:
    A copy of `base` with each of `experiment.defaults` not in `keep`.
  """
  config = base.copy_and_resolve_references()
  config.update_from_flattened_dict(
      {k: v for k, v in experiment.defaults.items() if k not in keep})
  return config


def seeds(config: ml_collections.ConfigDict, count: int) -> list[int]:
  """The seeds of every run: `config.seed`, `config.seed + 1`, ...

  Raises:
    ValueError: `count` is below 1.
  """
  if count < 1:
    raise ValueError(f'--seeds={count}: give at least 1 seed (3 to 5 for '
                     'error bars).')
  return [config.seed + i for i in range(count)]


def run_config(config: ml_collections.ConfigDict, run: definitions.Run,
               seed: int | None = None) -> ml_collections.ConfigDict:
  """`config` with the run's own fields and, if given, its seed."""
  config = config.copy_and_resolve_references()
  config.update_from_flattened_dict(dict(run.overrides))
  if seed is not None:
    config.seed = seed
  return config


def run_dir(workdir: str, run: definitions.Run, seed: int) -> str:
  """The workdir of one seed of a run inside the experiment's."""
  return str(files.path(workdir) / 'runs' / run.name / f'{SEED_PREFIX}{seed}')


def found_seeds(workdir: str, run: definitions.Run) -> list[int]:
  """The seeds of `run` with a folder in `workdir`, in increasing order."""
  folder = files.path(workdir) / 'runs' / run.name
  if not folder.is_dir():
    return []
  found = []
  for child in folder.iterdir():
    suffix = child.name[len(SEED_PREFIX):]
    if child.name.startswith(SEED_PREFIX) and suffix.isdigit():
      found.append(int(suffix))
  return sorted(found)


def select(experiment: definitions.Experiment,
           names: Collection[str] | None) -> list[definitions.Run]:
  """The experiment's runs named in `names` (all for None), in its order.

  Raises:
    ValueError: for a name the experiment does not have.
  """
  known = [r.name for r in experiment.runs]
  unknown = sorted(set(names or ()) - set(known))
  if unknown:
    raise ValueError(f'{experiment.name} has no run {unknown}; its runs are '
                     f'{",".join(known)}.')
  return [r for r in experiment.runs if names is None or r.name in names]


def read_timing(directory: str) -> dict[str, Any]:
  """A run's timing.json: {'sessions': [{'began', 'seconds', 'step',
  'machine'}, ...], 'step', 'num_steps'}, and 'error' if it failed."""
  path = files.path(directory) / TIMING_FILE
  if not path.exists():
    return {'sessions': []}
  return json.loads(path.read_text())


def _write_timing(directory: str, timing: dict[str, Any]) -> None:
  files.write_text(files.path(directory) / TIMING_FILE,
                   json.dumps(timing, indent=1))


def machine() -> str:
  """The CPU, its cores, and the devices JAX trains on, in words."""
  cpu = platform.processor() or platform.machine()
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      names = [line.split(':', 1)[1].strip() for line in f
               if line.startswith('model name')]
    cpu = names[0] if names else cpu
  devices = jax.devices()
  return (f'{cpu}, {os.cpu_count()} cores; JAX {jax.__version__} on '
          f'{len(devices)} {devices[0].device_kind} device'
          f'{"s" if len(devices) > 1 else ""}')


def is_finished(directory: str, num_steps: int) -> bool:
  """Whether the run in `directory` reached `num_steps`, failed, or was
  stopped by the posterior-collapse watch."""
  timing = read_timing(directory)
  return (bool(timing.get('error')) or bool(timing.get('stopped'))
          or timing.get('step', 0) >= num_steps)


def collapse_stop(config: ml_collections.ConfigDict, directory: str,
                  step: int) -> str | None:
  """Why a run that ended at `step`, before its last, stopped, if the
  posterior-collapse watch stopped it (`config.eval.stop_on_collapse`): the
  run's held-out KLs, read back from its log through the trainer's own
  `train.CollapseWatch`, say to stop at the last evaluation. None otherwise
  (a signal, or no watch)."""
  cfg = config.eval
  if not cfg.stop_on_collapse or step >= config.train.num_steps:
    return None
  path = files.path(directory) / writers.METRICS_FILE
  records = writers.read_jsonl(str(path)) if path.exists() else []
  watch, stop = train.CollapseWatch(cfg), False
  for r in records:
    if 'eval/kl' in r and r['step'] <= step:
      stop = watch.update(r['step'], r['eval/kl'])
  if not stop:
    return None
  return (f'posterior collapse at step {step}: the held-out KL under '
          f'{cfg.collapse_kl} for {cfg.collapse_patience} evaluations')


def now() -> str:
  """The time now, with its UTC offset, to the second."""
  return datetime.datetime.now().astimezone().isoformat(timespec='seconds')


def train_run(config: ml_collections.ConfigDict, directory: str,
              command: str | None = None) -> bool:
  """Trains one run unless it is finished, and records its wall time.

  Args:
    config: the run's configuration.
    directory: its workdir; a run there resumes from its latest checkpoint.
    command: the command line that trains it, recorded with the time.

  Returns:
    False if training stopped before `config.train.num_steps` (SIGTERM or
    Ctrl-C, or an early stop): the experiment should stop too.
  """
  if is_finished(directory, config.train.num_steps):
    logging.info('%s is finished; skipping it.', directory)
    return True
  timing = read_timing(directory)
  start, began = time.time(), now()
  try:
    step = int(train.train_and_evaluate(config, directory).step)
    error = None
  except errors.NonFiniteError as e:
    step, error = timing.get('step', 0), str(e)
    logging.error('%s failed: %s', directory, e)
  session = {'began': began, 'ended': now(),
             'seconds': round(time.time() - start, 1), 'step': step,
             'machine': machine()}
  if command:
    session['command'] = command
  timing['sessions'].append(session)
  timing.update(step=step, num_steps=config.train.num_steps)
  if error:
    timing['error'] = error
  stopped = None if error else collapse_stop(config, directory, step)
  if stopped:
    timing['stopped'] = stopped
    logging.info('%s stopped: %s.', directory, stopped)
  _write_timing(directory, timing)
  return bool(error) or bool(stopped) or step >= config.train.num_steps


@dataclasses.dataclass
class Result:
  """What a run left in its workdir.

  Attributes:
    run: the run.
    seed: its seed.
    directory: its folder: a workdir, or a copy of its `RECORD_FILES`.
    config: the configuration it was trained with (None: never started).
    metrics: its eval_metrics.json (None: not evaluated yet).
    timing: its timing.json.
    records: its training log's losses (losses.jsonl).
    evaluations: each evaluation's metrics and losses (evaluations.jsonl).
    measures: its measures.json ({} before it is written).
  """
  run: definitions.Run
  seed: int
  directory: str
  config: ml_collections.ConfigDict | None
  metrics: dict[str, Any] | None
  timing: dict[str, Any]
  records: list[dict[str, float]]
  evaluations: list[dict[str, float]]
  measures: dict[str, Any]

  @property
  def finished(self) -> bool:
    """Trained to its last step, or stopped there by the collapse watch."""
    return (self.config is not None and self.metrics is not None
            and not self.timing.get('error')
            and (self.timing.get('step', 0) >= self.config.train.num_steps
                 or bool(self.timing.get('stopped'))))

  @property
  def wall_seconds(self) -> float:
    """Wall time of all its training calls (compiling and evaluating too)."""
    return sum(s['seconds'] for s in self.timing['sessions'])

  @property
  def steps_per_second(self) -> float | None:
    """Median training speed over the log records, the first left out (it
    includes compiling)."""
    rates = [r['perf/steps_per_sec'] for r in self.records
             if 'perf/steps_per_sec' in r][1:]
    return float(np.median(rates)) if rates else None

  @property
  def reconstructs(self) -> bool:
    """Whether its encoder was trained, so reconstructions mean something."""
    loss = self.config.loss
    return not (loss.objective == 'gan' or (
        loss.objective == 'blend' and loss.blend_lambda >= 1.0))

  def computes(self, key: str) -> bool:
    """Whether its objective has the loss term `key` ('loss/kl', ...)."""
    objective = self.config.loss.objective
    if objective == 'vae_then_gan':
      return True
    if key.startswith('loss/gan'):
      return objectives.trained_networks(objective)['discriminator']
    if key == 'loss/kl':
      return objectives.trained_networks(objective)['encoder']
    return True

  def final(self, key: str, fraction: float = 0.1) -> float | None:
    """Mean of a training-log scalar over the last `fraction` of the steps.

    Each log record is already the mean over its log interval; at least the
    last record is used.
    """
    points = [(r['step'], r[key]) for r in self.records if key in r]
    if not points:
      return None
    last = points[-1][0]
    window = [v for s, v in points if s > last * (1 - fraction)]
    return float(np.mean(window or [points[-1][1]]))


def _json(path, default):
  return json.loads(path.read_text()) if path.exists() else default


def _jsonl(path) -> list[dict[str, Any]]:
  return writers.read_jsonl(str(path)) if path.exists() else []


def read_result(run: definitions.Run, seed: int, directory: str) -> Result:
  """What one seed of a run left in `directory` (its `RECORD_FILES`)."""
  folder = files.path(directory)
  config = None
  if workdir_lib.read_config_dict(directory) is not None:
    config = workdir_lib.read_config(directory)
  return Result(run, seed, directory, config,
                _json(folder / EVAL_METRICS_FILE, None),
                read_timing(directory), _jsonl(folder / LOSSES_FILE),
                _jsonl(folder / EVALUATIONS_FILE),
                _json(folder / MEASURES_FILE, {}))


def collect(workdir: str, experiment: definitions.Experiment
            ) -> dict[str, list[Result]]:
  """Every seed of every run of the experiment found in `workdir`.

  Args:
    workdir: the experiment's workdir, or a folder with copies of its
      runs' `RECORD_FILES` in the same layout.
    experiment: the experiment.

  Returns:
    Each run's name -> its seeds' results, in increasing seed order (an
    empty list for a run with none), in the experiment's order.
  """
  return {run.name: [read_result(run, seed, run_dir(workdir, run, seed))
                     for seed in found_seeds(workdir, run)]
          for run in experiment.runs}
