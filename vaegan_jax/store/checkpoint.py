"""Checkpoints with orbax: the train state, the data iterator's position, and
the metrics that pick the best checkpoint.

Saves are asynchronous and atomic (written to a temporary directory, then
renamed), so a crash during a save leaves the previous checkpoints readable.
The last `keep` checkpoints are preserved, and the `keep_best` with the
best `best_metric` once evaluation reports it: the lowest or the highest, as
`metrics.registry` says of that metric.

Damage: each checkpoint holds a SHA-256 manifest of its files (`integrity`),
written as its save completes and checked before it is restored. When the
newest checkpoint is damaged (the manifest does not match, or orbax cannot
read it), training logs which step and why, moves that step's directory to
`checkpoints/damaged/` (nothing is deleted) and resumes from the newest
checkpoint that restores. Read-only users (evaluate, sample, `load`) skip a
damaged checkpoint without moving it.

Storage errors (a full disk, a read-only or vanished filesystem) while
writing become one `errors.StorageError` naming the step and the reason.
"""

import contextlib
from typing import Any, Iterator, Mapping

import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from jax.experimental import multihost_utils

from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax.metrics import registry
from vaegan_jax.store import integrity
from vaegan_jax.model import state as state_lib

PyTree = Any
DAMAGED_DIR = 'damaged'
# The suffix of the directory orbax writes a step into before renaming it
# (orbax.checkpoint._src.path.atomicity_types.TMP_DIR_SUFFIX).
_TMP_SUFFIX = '.orbax-checkpoint-tmp'


class Checkpointer:
  """Saves and restores {'state': TrainState, 'data': iterator state}.

  Args:
    workdir: the run's directory, local or on cloud storage (`gs://...`);
      checkpoints go to `workdir/checkpoints`.
    keep: number of latest checkpoints to preserve.
    best_metric: name of an evaluation metric that can select the best
      checkpoint (`metrics.registry.best_choices()`), whose best `keep_best`
      checkpoints are preserved as well; None: latest only.
    keep_best: number of best checkpoints to preserve.
    read_only: only restore: nothing is created, cleaned up, saved or moved
      (for reading the workdir of a run that may be training).
  """

  def __init__(self, workdir: str, keep: int = 3,
               best_metric: str | None = None, keep_best: int = 1,
               read_only: bool = False):
    self.directory = str(files.path(files.absolute(workdir)) / 'checkpoints')
    self.read_only = read_only
    self._saving = None  # the step of the save in progress
    self._failed = False
    policies = [ocp.checkpoint_managers.LatestN(n=keep)]
    self.best_metric = best_metric
    if best_metric:
      self._lower_is_better = registry.best_direction(best_metric)
      policies.append(ocp.checkpoint_managers.BestN(
          get_metric_fn=self._goodness, n=keep_best,
          keep_checkpoints_without_metrics=False))
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(
                policies),
            # Only written to disk (and so known after a restart) with a
            # best_fn; preservation itself follows the policies above.
            best_fn=self._goodness if best_metric else None,
            best_mode='max',
            # A reader leaves a live run's saves in progress alone (and
            # is not orbax's read_only, which warns at every start).
            cleanup_tmp_directories=not read_only,
            create=not read_only,
            async_options=ocp.AsyncOptions(
                post_finalization_callback=self._write_manifest)),
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'data': ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def _goodness(self, metrics: Mapping[str, float]) -> float:
    """`best_metric` of a checkpoint's metrics, signed so that higher is
    better (-inf without it)."""
    if self.best_metric not in metrics:
      return float('-inf')
    value = float(metrics[self.best_metric])
    return -value if self._lower_is_better else value

  def best_step(self) -> int | None:
    """The preserved step with the best `best_metric`, if any has one."""
    scored = []
    for step in self.manager.all_steps():
      metrics = self.manager.metrics(step) or {}
      if self.best_metric in metrics:
        scored.append((-self._goodness(metrics), step))
    return min(scored)[1] if scored else None  # of equals, the earliest

  def step_directory(self, step: int) -> epath.Path:
    return epath.Path(self.directory) / str(step)

  def _write_manifest(self) -> None:
    """Seals the step being saved with its manifest, before orbax renames its
    temporary directory (on the primary process, in orbax's save thread)."""
    root, step = epath.Path(self.directory), self._saving
    for directory in (root / f'{step}{_TMP_SUFFIX}', root / str(step)):
      if directory.is_dir():
        try:
          integrity.write_manifest(directory)
        except Exception as e:  # pylint: disable=broad-except
          # The checkpoint itself is complete; it stays usable, unverified.
          logging.warning('Checkpoint %s has no manifest (%s): it cannot be '
                          'checked for damage.', step, e)
        return
    logging.warning('Found no directory of checkpoint %s to write its '
                    'manifest in.', step)

  def _complete_steps(self) -> list[int]:
    root = epath.Path(self.directory)
    return sorted(int(p.name) for p in root.iterdir()
                  if p.name.isdigit()) if root.is_dir() else []

  @contextlib.contextmanager
  def _storage_errors(self) -> Iterator[None]:
    """Turns a failure to write a checkpoint into one StorageError."""
    try:
      yield
    except Exception as e:  # pylint: disable=broad-except
      reason = errors.storage_reason(e)
      if reason is None or isinstance(e, errors.UserError):
        raise
      self._failed = True
      kept = [s for s in self._complete_steps() if s != self._saving]
      latest = (f'the checkpoints already there are kept (the latest '
                f'complete one is step {kept[-1]})' if kept else
                'no checkpoint had been completed yet')
      raise errors.StorageError(
          f'Could not write checkpoint {self._saving} to {self.directory}: '
          f'{reason}; {latest}. Free space there (or fix the filesystem), '
          'then run the same command to resume.') from None

  def save(self, step: int, state: PyTree, data_state: Mapping[str, Any],
           metrics: Mapping[str, float] | None = None) -> None:
    """Starts saving `state` and `data_state` as checkpoint `step`."""
    if self.read_only:
      raise ValueError('This Checkpointer is read-only.')
    if step in self.manager.all_steps():
      return
    with self._storage_errors():
      self.manager.wait_until_finished()  # the previous save, sealed
      self._saving = step
      self.manager.save(
          step, args=ocp.args.Composite(
              state=ocp.args.StandardSave(state),
              data=ocp.args.JsonSave(dict(data_state))),
          metrics=dict(metrics) if metrics else None, force=True)

  def wait(self) -> None:
    """Blocks until every started save is on disk."""
    with self._storage_errors():
      self.manager.wait_until_finished()

  def check_compatible(self, step: int, abstract_state: PyTree,
                       hint: str = '') -> None:
    """Raises CheckpointMismatch when saved shapes differ from the config's."""
    diffs = state_lib.shape_differences(
        self.manager.item_metadata(step)['state'].tree, abstract_state,
        'saved', 'config gives')
    if diffs:
      shown = '\n  '.join(diffs[:8])
      more = f'\n  ... and {len(diffs) - 8} more' if len(diffs) > 8 else ''
      raise errors.CheckpointMismatch(
          f'The checkpoint at step {step} in {self.directory} does not fit '
          f'this configuration ({len(diffs)} arrays differ):\n  {shown}{more}'
          f'\n{hint}Resume with the overrides the run was started with, or '
          f'start a new run with a different --workdir.')

  def restore(self, step: int, abstract_state: PyTree, hint: str = ''
              ) -> tuple[PyTree, dict[str, Any]]:
    """Restores checkpoint `step` into arrays shaped and placed as given.

    Args:
      step: the step to restore.
      abstract_state: jax.ShapeDtypeStruct leaves (with shardings) that the
        restored state takes.
      hint: text added to a shape-mismatch error (e.g. the config changes).

    Returns:
      (state, data iterator state).

    Raises:
      integrity.DamagedCheckpoint: its files differ from its manifest, or it
        has none and orbax cannot read it.
      errors.CheckpointMismatch: its arrays do not fit `abstract_state`.
    """
    problems = integrity.verify(self.step_directory(step))
    if problems:
      raise integrity.DamagedCheckpoint(step, problems)
    try:
      target = state_lib.fields_saved(
          self.manager.item_metadata(step)['state'].tree, abstract_state)
      self.check_compatible(step, target, hint)
      restored = self.manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target),
          data=ocp.args.JsonRestore()))
    except errors.UserError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      if problems == []:  # its files are as saved: not damage, a bug
        raise
      raise integrity.DamagedCheckpoint(step, [
          f'orbax cannot read it ({type(e).__name__}: {errors.first_line(e)})']
      ) from e
    logging.info('Restored checkpoint %d from %s', step, self.directory)
    state = restored['state']
    if target is not abstract_state:
      state = state_lib.restored_state(abstract_state, state, step)
    return state, restored['data']

  def restore_newest(self, abstract_state: PyTree, hint: str = ''
                     ) -> tuple[PyTree, dict[str, Any], int] | None:
    """Restores the newest checkpoint that is not damaged.

    A damaged newer checkpoint is logged as an error and moved to
    `checkpoints/damaged/` (skipped, if read-only).

    Args:
      abstract_state: as `restore`'s.
      hint: as `restore`'s.

    Returns:
      (state, data iterator state, step), or None if there is no checkpoint.

    Raises:
      errors.CheckpointDamaged: every checkpoint is damaged.
    """
    damaged = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        state, data_state = self.restore(step, abstract_state, hint)
      except integrity.DamagedCheckpoint as e:
        damaged.append(e)
        self._set_aside(e)
        continue
      if damaged:
        logging.error('Using checkpoint %d, the newest undamaged one in %s%s',
                      step, self.directory, '.' if self.read_only else
                      '; the steps after it are trained again.')
      return state, data_state, step
    if not damaged:
      return None
    where = ('' if self.read_only else ' They were moved to '
             f'{epath.Path(self.directory) / DAMAGED_DIR}; running the same '
             'command again starts the run afresh.')
    raise errors.CheckpointDamaged(
        f'Every checkpoint in {self.directory} is damaged: '
        + '; '.join(str(e) for e in damaged) + '.' + where)

  def _set_aside(self, damage: integrity.DamagedCheckpoint) -> None:
    """Moves a damaged step out of orbax's sight (or only says so)."""
    if self.read_only:
      logging.error('%s. Skipping it (it is left where it is).',
                    errors.sentence(damage))
      return
    source = self.step_directory(damage.step)
    target = epath.Path(self.directory) / DAMAGED_DIR / str(damage.step)
    suffix = 1
    while target.exists():
      target = target.parent / f'{damage.step}-{suffix}'
      suffix += 1
    if jax.process_index() == 0:
      target.parent.mkdir(parents=True, exist_ok=True)
      source.rename(target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f'vaegan_set_aside_{damage.step}')
    self.manager.reload()
    logging.error('%s. Moved it to %s (nothing is deleted); falling back to '
                  'the checkpoint before it.', errors.sentence(damage),
                  target)

  def close(self) -> None:
    if self._failed:  # the failure was reported; do not raise it again
      with contextlib.suppress(Exception):
        self.manager.close()
      return
    with self._storage_errors():
      self.manager.wait_until_finished()
      self.manager.close()
