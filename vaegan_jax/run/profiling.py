"""A `jax.profiler` trace of a few training steps.

With `config.train.profile_steps=N` (> 0) the run traces N steps, starting
`SKIPPED_STEPS` steps after its first (so that compiling is not in the
trace), into `<workdir>/profile/plugins/profile/<time>/`: an XPlane file for
TensorBoard's profile plugin and `perfetto_trace.json.gz` for
https://ui.perfetto.dev.
"""

import jax
from absl import logging
from etils import epath

PROFILE_DIR = 'profile'
SKIPPED_STEPS = 3


class StepProfiler:
  """Starts and stops the trace around the chosen steps; as a context,
  stops it too when the run ends or fails first.

  Args:
    workdir: the run's directory.
    first_step: the step the run starts from (0, or the resumed step).
    num_steps: how many steps to trace (0: none).
  """

  def __init__(self, workdir: str, first_step: int, num_steps: int):
    self.directory = epath.Path(workdir) / PROFILE_DIR
    self.start = first_step + SKIPPED_STEPS
    self.stop = self.start + num_steps
    self.num_steps = num_steps
    self.tracing = False

  def __enter__(self) -> 'StepProfiler':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()  # a run that ends or fails before the last traced step

  def before_step(self, step: int) -> None:
    """Call before running `step + 1` (`step` steps done)."""
    if self.num_steps and step == self.start and not self.tracing:
      self.directory.mkdir(parents=True, exist_ok=True)
      jax.profiler.start_trace(str(self.directory),
                               create_perfetto_trace=True)
      self.tracing = True

  def after_step(self, step: int, state) -> None:
    """Call after `step` steps are done; stops once the last is traced."""
    if self.tracing and step >= self.stop:
      self.close(state)

  def close(self, state=None) -> None:
    """Waits for the traced steps and writes the trace, if tracing."""
    if not self.tracing:
      return
    if state is not None:
      jax.block_until_ready(state)
    jax.profiler.stop_trace()
    self.tracing = False
    logging.info('Wrote a profile of steps %d-%d to %s (tensorboard '
                 '--logdir %s, or its perfetto_trace.json.gz at '
                 'https://ui.perfetto.dev).', self.start + 1, self.stop,
                 self.directory, self.directory)
