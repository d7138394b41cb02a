"""The training run, read in order: config, workdir, state, data, step, loop.

`train_and_evaluate` resumes from the latest checkpoint in the workdir if
there is one, saves every `config.train.checkpoint_every` steps, at every
evaluation, at the end and when SIGTERM or Ctrl-C arrives, and stops at the
first non-finite loss or gradient norm without saving it. The loop owns
every decision to stop: the last step, a signal, a non-finite value, and a
posterior collapse (`config.eval.stop_on_collapse`).

One run trains in a workdir at a time (`workdir.RunLock`); a damaged newest
checkpoint is set aside and the run resumes from the one before it
(`checkpoint`); a full disk stops the run with one `errors.StorageError`.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from vaegan_jax.store import checkpoint as checkpoint_lib
from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax import files
from vaegan_jax.run import evaluate
from vaegan_jax.run import opening
from vaegan_jax import parallel
from vaegan_jax.run import preemption
from vaegan_jax.run import progress as progress_lib
from vaegan_jax.run import profiling
from vaegan_jax.model import state as state_lib
from vaegan_jax.model import algorithm as step_lib
from vaegan_jax.store import warm_start
from vaegan_jax.store import workdir as workdir_lib
from vaegan_jax.output import writers
from vaegan_jax.metrics import registry as metrics_registry


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str
                       ) -> state_lib.TrainState:
  """Trains (resuming if `workdir` has checkpoints), evaluating as it goes.

  Args:
    config: the run's configuration.
    workdir: directory for checkpoints, metrics, TensorBoard files and
      pictures; created if missing.

  Returns:
    The final train state.
  """
  # Config: checked whole, and the files it names found, before anything
  # is written.
  config, mesh = opening.prepare(config, 'train')
  # Workdir: one run at a time (process 0 holds the lock).
  with errors.storage_errors(workdir, 'The checkpoints already saved are '
                            'kept; fix the filesystem, then run the same '
                            'command to resume.'):
    with workdir_lib.RunLock(workdir):
      return _run(config, workdir, mesh)


def _run(config, workdir, mesh):
  """The run, once the workdir is this process's."""
  # Workdir: resume from its newest good checkpoint, or start afresh.
  try:
    previous = workdir_lib.read_config_dict(workdir)
  except errors.WorkdirError as e:
    logging.warning('%s', e)
    previous = None
  changes = workdir_lib.config_changes(previous, config)
  ckpt = checkpoint_lib.Checkpointer(
      workdir, keep=config.train.keep_checkpoints,
      best_metric=config.eval.best_metric or None)
  # A signal from here on stops the run at the next step boundary.
  with preemption.StopRequest(lambda: _kept(ckpt)) as stop:
    return _run_stoppable(config, workdir, mesh, changes, ckpt, stop)


def _run_stoppable(config, workdir, mesh, changes, ckpt, stop):
  """The run from its restore on, stopping when `stop` is requested."""
  try:
    state, data_state = _initial_state(config, ckpt, mesh, changes)
  except BaseException:
    ckpt.close()
    raise
  if jax.process_index() == 0:
    workdir_lib.write_config(workdir, config)
  if changes and data_state is not None:
    logging.warning('Changed since the run was started:\n  %s',
                    '\n  '.join(changes))
  _announce(config, workdir, int(jax.device_get(state.step)),
            data_state is None)

  # Data: this process's rows of each batch, on the devices ahead of time.
  train_iter = data.train_iterator(config)
  if data_state is not None:
    train_iter.set_state(data_state)
  train_iter = data.DevicePrefetch(train_iter, mesh,
                                   config.train.prefetch_to_device)

  # Step, writer and evaluator.
  train_step = parallel.jit_train_step(step_lib.make_train_step(config), mesh)
  writer = writers.MetricWriter(workdir, enabled=jax.process_index() == 0,
                                resume_step=int(jax.device_get(state.step)))
  failed = True
  try:
    evaluator = evaluate.Evaluator(config, workdir, mesh, writer)
    state = _loop(config, state, train_iter, train_step, ckpt, writer,
                  evaluator, stop)
    failed = False
  except errors.NonFiniteError as e:
    ckpt.wait()
    last = ckpt.latest_step()
    kept = (f'The last good checkpoint (step {last}) is kept in '
            f'{ckpt.directory}; running the same command resumes from it.'
            if last is not None else 'No checkpoint had been saved yet.')
    raise errors.NonFiniteError(
        f'{e} Training stopped. {kept} Lower the learning rate '
        f'(config.optim.lr) or check the data.') from None
  finally:
    train_iter.close()
    _close(ckpt, writer, failed)
  return state


def _announce(config, workdir: str, step: int, new: bool) -> None:
  """The start-up line: where, from which step, and that the step compiles
  before the first log line."""
  cfg = config.train
  if step >= cfg.num_steps:
    return
  first_log = min(cfg.num_steps, (step // cfg.log_every + 1) * cfg.log_every)
  logging.info('Training in %s from step %d to %d (%s); compiling the train '
               'step (a minute or so on a CPU), then the first log line at '
               'step %d.', workdir, step, cfg.num_steps,
               'a new run' if new else 'resumed', first_log)


def _close(ckpt, writer, failed: bool) -> None:
  """Closes the checkpointer, then the writer. The first error is the one
  to report: after a failure, theirs are only logged."""
  first = None
  for close in (ckpt.close, writer.close):
    try:
      close()
    except Exception as e:  # pylint: disable=broad-except
      if failed or first is not None:
        logging.warning('Closing after the failure: %s: %s',
                        type(e).__name__, e)
      else:
        first = e
  if first is not None:
    raise first


def _initial_state(config, ckpt, mesh, changes):
  """The newest good checkpoint's state and data position, or a fresh
  state."""
  abstract = state_lib.with_sharding(state_lib.abstract_train_state(config),
                                     parallel.replicated(mesh))
  if ckpt.latest_step() is not None:
    hint = ('Changed since the run was started:\n  ' + '\n  '.join(changes)
            + '\n') if changes else ''
    restored = ckpt.restore_newest(abstract, hint)
    if restored is not None:
      state, data_state, step = restored
      logging.info('Resuming from the checkpoint at step %d%s.', step,
                   ' (config.init_from is used only by a new run)'
                   if config.init_from else '')
      return state, data_state
  init_rng = jax.random.fold_in(jax.random.key(config.seed), 0)
  state = parallel.replicate(state_lib.create_train_state(config, init_rng),
                             mesh)
  if config.init_from:
    state = warm_start.initialise(state, config, mesh)
  return state, None


def _kept(ckpt) -> str:
  """The sentence a second signal ends with: which checkpoint is kept."""
  root = files.path(ckpt.directory)
  steps = sorted(int(p.name) for p in root.iterdir()
                 if p.name.isdigit()) if root.is_dir() else []
  return (f'The last complete checkpoint, step {steps[-1]}, is kept in '
          f'{ckpt.directory}.' if steps else 'No checkpoint was complete.')


def _loop(config, state, train_iter, train_step, ckpt, writer, evaluator,
          stop):
  """Steps until the last step or a reason to stop; returns the state.

  At most one step is in flight (the loop waits for the step before the
  one it has just started), so a signal is seen within a step's time.
  """
  cfg = config.train
  step_rng = jax.random.fold_in(jax.random.key(config.seed), 1)
  step = int(jax.device_get(state.step))
  if step >= cfg.num_steps:
    logging.info('Step %d already reached config.train.num_steps=%d.',
                 step, cfg.num_steps)
  progress = progress_lib.Progress(step, cfg.num_steps, cfg.batch_size)
  collapse = CollapseWatch(config.eval)
  profiler = profiling.StepProfiler(writer.workdir, step, cfg.profile_steps)
  pending, first_pending = [], step + 1
  with profiler:
    while step < cfg.num_steps:
      profiler.before_step(step)
      state, metrics = train_step(state, next(train_iter), step_rng)
      step += 1
      profiler.after_step(step, state)
      if pending:  # the step before this one: done before going on
        jax.block_until_ready(pending[-1])
      pending.append(metrics)
      interrupted = stop.requested  # read once: a signal may come any time
      if jax.process_count() > 1:  # all hosts must stop at the same step
        interrupted = step % cfg.log_every == 0 and _on_any_host(interrupted)
      last = interrupted or step == cfg.num_steps
      log = step % cfg.log_every == 0 or last
      evaluate_now = not interrupted and (evaluator.due(step)
                                          or step == cfg.num_steps)
      if interrupted and (evaluator.due(step) or step == cfg.num_steps):
        logging.warning('Skipping the evaluation due at step %d to stop '
                        'sooner (--mode=evaluate writes it).', step)
      save = step % cfg.checkpoint_every == 0 or last or evaluate_now
      if log or save or evaluate_now:
        pending = jax.device_get(pending)
        check_finite(pending, first_pending)
        if log:
          text, perf = progress.line(step)
          scalars = progress_lib.average(pending)
          logging.info('%s | %s', text,
                       progress_lib.metrics_text(config, step, scalars))
          writer.write_scalars(step, {**scalars, **perf})
          pending, first_pending = [], step + 1
      eval_metrics = None
      if evaluate_now:
        try:
          eval_metrics = evaluator.run(state, step)
        except Exception:
          # Whatever broke the evaluation, the training is not lost.
          logging.error('The evaluation at step %d failed; saving the '
                        'checkpoint of step %d before stopping.', step, step)
          _save(step, state, train_iter, ckpt, None)
          ckpt.wait()
          raise
      if save:
        _save(step, state, train_iter, ckpt, eval_metrics)
      collapsed = eval_metrics is not None and collapse.update(
          step, eval_metrics['kl'])
      if interrupted or collapsed:
        ckpt.wait()
        signal_name = stop.signal_name or 'a signal to another process'
        why = (f'{signal_name}. Run the same command to resume'
               if interrupted else 'posterior collapse '
               '(config.eval.stop_on_collapse)')
        logging.warning('Stopped at step %d by %s; checkpoint saved in %s.',
                        step, why, ckpt.directory)
        break
  return state


def _save(step, state, train_iter, ckpt, eval_metrics):
  if not bool(_all_finite(state)):
    raise errors.NonFiniteError(
        f'The state at step {step} is not finite; not saving it.')
  ckpt.save(step, state, train_iter.get_state(), eval_metrics)


class CollapseWatch:
  """Warns when the held-out KL stays below `eval.collapse_kl` for
  `eval.collapse_patience` evaluations in a row; `update` then says to stop
  if `eval.stop_on_collapse`."""

  def __init__(self, eval_config: ml_collections.ConfigDict):
    self.cfg = eval_config
    self.low_evals = 0

  def update(self, step: int, kl: float) -> bool:
    self.low_evals = self.low_evals + 1 if kl < self.cfg.collapse_kl else 0
    if self.low_evals < self.cfg.collapse_patience:
      return False
    logging.warning(
        'Posterior collapse at step %d: the held-out KL has been below '
        'config.eval.collapse_kl=%s for %d evaluations (now %.4g).', step,
        self.cfg.collapse_kl, self.low_evals, kl)
    return bool(self.cfg.stop_on_collapse)


def check_finite(pending: list[dict[str, Any]], first_step: int) -> None:
  """Raises NonFiniteError naming the first step and the terms that broke."""
  for i, metrics in enumerate(pending):
    watched = metrics_registry.watched()  # what a non-finite one means
    bad = [k for k in watched if k in metrics
           and not np.isfinite(metrics[k])]
    if bad:
      what = '; '.join(f'{k}={metrics[k]} ({watched[k]})' for k in bad)
      raise errors.NonFiniteError(
          f'Non-finite values at step {first_step + i}: {what}.')


def _on_any_host(flag: bool) -> bool:
  return bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))


@jax.jit
def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x))
                              for x in jax.tree.leaves(tree)]))
