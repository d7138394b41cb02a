"""Restoring one checkpoint of a finished or running run, by name.

`restore_run` is how the commands that read a run (--mode=evaluate, sample
and export, and `vaegan_jax.load`) get its state: 'latest' (the newest
undamaged checkpoint), 'best' (the lowest `config.eval.best_metric`) or a
step, restored read-only, so a run that is still training is not disturbed.
"""

import ml_collections
from etils import epath

from vaegan_jax.store import checkpoint as checkpoint_lib
from vaegan_jax import errors
from vaegan_jax.store import integrity
from vaegan_jax import parallel
from vaegan_jax.model import state as state_lib


def parse_checkpoint(checkpoint: str | int) -> str | int:
  """'latest', 'best' or a step number, from a flag's text.

  Raises:
    errors.UserError: anything else.
  """
  if checkpoint in ('latest', 'best'):
    return checkpoint
  if isinstance(checkpoint, int) or str(checkpoint).isdigit():
    return int(checkpoint)
  raise errors.UserError(
      f'--checkpoint={checkpoint!r} is not a checkpoint: give \'latest\', '
      "'best' or a step number (the names of the directories in "
      '<workdir>/checkpoints/).')


def restore_run(config: ml_collections.ConfigDict, workdir: str,
                checkpoint: str | int = 'latest', mesh=None
                ) -> tuple[state_lib.TrainState, int]:
  """Restores a checkpoint of the run in `workdir`, changing nothing there.

  Args:
    config: the run's configuration (array shapes must match).
    workdir: the run's directory.
    checkpoint: 'latest' (the newest undamaged one), 'best' (lowest
      config.eval.best_metric) or a step.
    mesh: devices to place the state on (default: all).

  Returns:
    (state, step).
  """
  checkpoint = parse_checkpoint(checkpoint)
  directory = epath.Path(workdir) / 'checkpoints'
  if not epath.Path(workdir).is_dir():
    raise errors.WorkdirError(
        f'{workdir} is not a directory: give the --workdir of a run.')
  if not directory.is_dir():
    raise errors.WorkdirError(
        f'{workdir} has no checkpoints/ directory: it is not the workdir of '
        'a run that saved a checkpoint.')
  ckpt = checkpoint_lib.Checkpointer(
      workdir, best_metric=config.eval.best_metric or None, read_only=True)
  try:
    rep = parallel.replicated(mesh or parallel.make_mesh())
    abstract = state_lib.abstract_train_state(config)
    abstract = state_lib.with_sharding(abstract, rep)
    steps = ckpt.manager.all_steps()
    if checkpoint == 'latest' and steps:
      state, _, step = ckpt.restore_newest(abstract)
      return state, step
    step = ckpt.best_step() if checkpoint == 'best' else checkpoint
    if step is None or step not in steps:
      raise errors.WorkdirError(
          f'No checkpoint {checkpoint!r} in {ckpt.directory} (it has steps '
          f'{sorted(steps)}); use --checkpoint=latest, best or one of those.')
    try:
      state, _ = ckpt.restore(step, abstract)
    except integrity.DamagedCheckpoint as e:
      raise errors.CheckpointDamaged(
          f'{errors.sentence(e)}. Choose another with --checkpoint= (steps '
          f'{sorted(steps)}).') from None
  finally:
    ckpt.close()
  return state, step
