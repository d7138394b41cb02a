"""Where a jitted step's time goes, from a `jax.profiler` trace.

`profile_step` traces some steps of a compiled function; `summarise`
reads the trace (the `.xplane.pb` file `jax.profiler.trace` writes) and
adds up the time of the step's operations: on a GPU the kernels on the
device's streams, on the CPU the XLA thunks its threads ran. Operations are
grouped by kind (convolution, matrix product, fusion of elementwise work,
copy or transpose, collective, other) from their names.
"""

import collections
import glob
import os
import re
import time
from typing import Any, Callable

KINDS = (
    ('convolution', re.compile(
        r'convolution|conv_general|conv2d|cudnn|_(fprop|dgrad|wgrad)_',
        re.I)),
    ('matmul', re.compile(r'dot|gemm|matmul|cublas|ynn_fusion', re.I)),
    ('copy/transpose', re.compile(r'copy|transpose|memcpy|memset', re.I)),
    ('collective', re.compile(r'all-reduce|all_reduce|nccl|collective',
                              re.I)),
    ('fusion', re.compile(r'fusion|loop_|input_|reduce', re.I)),
)


def kind_of(name: str) -> str:
  """The kind of operation an event's name says it is."""
  return next((kind for kind, pattern in KINDS if pattern.search(name)),
              'other')


def _events(path: str) -> list[tuple[str, float]]:
  """(name, seconds) of the operations in the trace file `path`."""
  from jax._src.lib import _profile_data  # pylint: disable=g-import-not-at-top
  data = _profile_data.ProfileData.from_file(path)
  device = [p for p in data.planes if p.name.startswith('/device:')]
  events = []
  for plane in device or data.planes:
    for line in plane.lines:
      if not device and 'XLAEigen' not in line.name and (
          'PjRt' not in line.name):
        continue  # the CPU: the threads that run XLA's thunks
      if device and not re.search(r'stream|XLA Ops', line.name, re.I):
        continue
      for event in line.events:
        if not event.name.startswith(('ThunkExecutor', '$')):
          events.append((event.name, event.duration_ns * 1e-9))
  return events


def summarise(trace_dir: str, steps: int, flops: float = float('nan'),
              peak: float = float('nan'), wall_s: float = float('nan'),
              top: int = 12) -> dict[str, Any]:
  """Adds up a trace's operations per kind and per name.

  Args:
    trace_dir: the directory given to `jax.profiler.trace`.
    steps: how many steps it traced (the times are per step).
    flops: FLOPs of one step, for the MFU.
    peak: the device's peak FLOP/s.
    wall_s: the wall time of one traced step (host clock), for the share
      of it the operations fill (the rest: the device idle or waiting).

  Returns:
    {'ops_s': operation seconds per step, 'wall_s', 'busy': ops_s / wall_s,
    'mfu': flops / wall_s / peak, 'kinds': {kind: seconds per step},
    'top': [[name, kind, seconds per step, count per step], ...]}, or
    {'error': why} when no trace file is found.
  """
  files = sorted(glob.glob(os.path.join(trace_dir, '**', '*.xplane.pb'),
                           recursive=True))
  if not files:
    return {'error': f'no .xplane.pb under {trace_dir}'}
  events = _events(files[-1])
  per_name, count = collections.Counter(), collections.Counter()
  for name, seconds in events:
    per_name[name] += seconds / steps
    count[name] += 1
  kinds = collections.Counter()
  for name, seconds in per_name.items():
    kinds[kind_of(name)] += seconds
  ops_s = sum(per_name.values())
  return {
      'ops_s': ops_s, 'wall_s': wall_s, 'busy': ops_s / wall_s,
      'mfu': flops / wall_s / peak, 'kinds': dict(kinds.most_common()),
      'top': [[name, kind_of(name), seconds, count[name] / steps]
              for name, seconds in per_name.most_common(top)]}


def profile_step(step: Callable[[], Any], trace_dir: str, steps: int = 5,
                 warmup: int = 2) -> float:
  """Runs `step()` (which waits for its result) `warmup` times, then
  `steps` times under `jax.profiler.trace(trace_dir)`.

  Returns:
    The median wall seconds of the traced steps.
  """
  import jax  # pylint: disable=g-import-not-at-top
  for _ in range(warmup):
    step()
  times = []
  with jax.profiler.trace(trace_dir):
    for _ in range(steps):
      start = time.perf_counter()
      step()
      times.append(time.perf_counter() - start)
  return sorted(times)[len(times) // 2]


def table(summary: dict[str, Any]) -> list[str]:
  """Markdown lines: the time per kind, then the longest operations."""
  if 'error' in summary:
    return [f'No profile: {summary["error"]}']
  ops = summary['ops_s']
  lines = ['| kind | ms/step | share |', '|---|---|---|']
  lines += [f'| {kind} | {s * 1e3:.2f} | {s / ops:.0%} |'
            for kind, s in summary['kinds'].items()]
  lines += ['', '| operation | kind | ms/step | per step |', '|---|---|---|---|']
  lines += [f'| `{name[:60]}` | {kind} | {s * 1e3:.2f} | {n:g} |'
            for name, kind, s, n in summary['top']]
  return lines
