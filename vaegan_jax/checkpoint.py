"""Checkpoints with orbax: the train state, the data iterator's position, and
the metrics that pick the best checkpoint.

Saves are asynchronous and atomic (written to a temporary directory, then
renamed), so a crash during a save leaves the previous checkpoints readable.
The last `keep` checkpoints are preserved, and the `keep_best` with the
lowest `best_metric` once evaluation reports it.
"""

from typing import Any, Mapping

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax import parallel
from vaegan_jax import state as state_lib

PyTree = Any


def _path_str(path) -> str:
  parts = []
  for key in path:
    for attr in ('name', 'key', 'idx'):
      if hasattr(key, attr):
        parts.append(str(getattr(key, attr)))
        break
  return '/'.join(parts)


def _shapes(tree: PyTree) -> dict[str, tuple[int, ...]]:
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {_path_str(p): tuple(x.shape) for p, x in leaves}


class Checkpointer:
  """Saves and restores {'state': TrainState, 'data': iterator state}.

  Args:
    workdir: the run's directory, local or on cloud storage (`gs://...`);
      checkpoints go to `workdir/checkpoints`.
    keep: number of latest checkpoints to preserve.
    best_metric: name of an evaluation metric (lower is better) whose best
      `keep_best` checkpoints are preserved as well; None: latest only.
    keep_best: number of best checkpoints to preserve.
  """

  def __init__(self, workdir: str, keep: int = 3,
               best_metric: str | None = None, keep_best: int = 1):
    self.directory = str(files.path(files.absolute(workdir)) / 'checkpoints')
    policies = [ocp.checkpoint_managers.LatestN(n=keep)]
    if best_metric:
      policies.append(ocp.checkpoint_managers.BestN(
          get_metric_fn=lambda m: -m.get(best_metric, float('inf')),
          n=keep_best,
          keep_checkpoints_without_metrics=False))
    self.best_metric = best_metric
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(
                policies),
            # Only written to disk (and so known after a restart) with a
            # best_fn; preservation itself follows the policies above.
            best_fn=(lambda m: m.get(best_metric, float('inf')))
            if best_metric else None,
            best_mode='min',
            cleanup_tmp_directories=True),
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'data': ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def best_step(self) -> int | None:
    """The preserved step with the lowest `best_metric`, if any has one."""
    scored = []
    for step in self.manager.all_steps():
      metrics = self.manager.metrics(step) or {}
      if self.best_metric in metrics:
        scored.append((metrics[self.best_metric], step))
    return min(scored)[1] if scored else None

  def save(self, step: int, state: PyTree, data_state: Mapping[str, Any],
           metrics: Mapping[str, float] | None = None) -> None:
    """Starts saving `state` and `data_state` as checkpoint `step`."""
    if step in self.manager.all_steps():
      return
    self.manager.save(
        step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(dict(data_state))),
        metrics=dict(metrics) if metrics else None, force=True)

  def wait(self) -> None:
    """Blocks until every started save is on disk."""
    self.manager.wait_until_finished()

  def check_compatible(self, step: int, abstract_state: PyTree,
                       hint: str = '') -> None:
    """Raises CheckpointMismatch when saved shapes differ from the config's."""
    saved = _shapes(self.manager.item_metadata(step)['state'].tree)
    wanted = _shapes(abstract_state)
    diffs = [f'{k}: saved {saved.get(k)}, config gives {wanted.get(k)}'
             for k in sorted(set(saved) | set(wanted))
             if saved.get(k) != wanted.get(k)]
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
    """
    self.check_compatible(step, abstract_state, hint)
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        data=ocp.args.JsonRestore()))
    logging.info('Restored checkpoint %d from %s', step, self.directory)
    return restored['state'], restored['data']

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def restore_run(config: ml_collections.ConfigDict, workdir: str,
                checkpoint: str | int = 'latest', mesh=None
                ) -> tuple[state_lib.TrainState, int]:
  """Restores a checkpoint of the run in `workdir`.

  Args:
    config: the run's configuration (array shapes must match).
    workdir: the run's directory.
    checkpoint: 'latest', 'best' (lowest config.eval.best_metric) or a step.
    mesh: devices to place the state on (default: all).

  Returns:
    (state, step).
  """
  ckpt = Checkpointer(
      workdir, best_metric=config.eval.best_metric or None)
  try:
    if checkpoint == 'latest':
      step = ckpt.latest_step()
    elif checkpoint == 'best':
      step = ckpt.best_step()
    else:
      step = int(checkpoint)
    steps = ckpt.manager.all_steps()
    if step is None or step not in steps:
      raise errors.WorkdirError(
          f'No checkpoint {checkpoint!r} in {ckpt.directory} (it has steps '
          f'{sorted(steps)}); use --checkpoint=latest, best or one of those.')
    rep = parallel.replicated(mesh or parallel.make_mesh())
    abstract = state_lib.abstract_train_state(config)
    abstract = state_lib.with_sharding(abstract, rep)
    state, _ = ckpt.restore(step, abstract)
  finally:
    ckpt.close()
  return state, step
