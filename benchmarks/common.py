"""What `benchmark.py` and `gpu.py` share: messages, errors and JSON files.

Standard-library imports only, so that either module (and a section's
process before JAX starts) can import it.
"""

import datetime
import json
import math
import os
import time
from typing import Any

_T0 = [time.time()]


def set_start(t0: float) -> None:
  """Counts `say`'s seconds from `t0` (a section's process: the run's start)."""
  _T0[0] = t0


def say(text: str) -> None:
  """Prints `text` after the wall-clock time and the seconds since start."""
  now = time.time()
  stamp = datetime.datetime.fromtimestamp(now).strftime('%H:%M:%S')
  print(f'[{stamp} +{now - _T0[0]:5.0f} s] {text}', flush=True)


def start_time() -> float:
  """The run's start (`time.time()`), which `say` counts from."""
  return _T0[0]


def since_start() -> float:
  """Seconds since the run's start."""
  return time.time() - _T0[0]


def finite(value: Any) -> Any:
  """`value` with NaN and infinities replaced by None, for strict JSON."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: finite(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [finite(v) for v in value]
  return value


def write_json(path: str, value: Any) -> None:
  """Writes `value` to `path` atomically, NaN as null."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(finite(value), f, indent=1, default=str)
  os.replace(tmp, path)


def read_json(path: str) -> dict[str, Any]:
  """The JSON object in `path`, or {} if it is missing or unreadable."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def describe_error(error: BaseException) -> str:
  """One line: 'out of memory: ...' for a device out-of-memory error."""
  text = f'{type(error).__name__}: {str(error).strip()}'
  first = text.splitlines()[0][:300]
  if ('RESOURCE_EXHAUSTED' in text or 'out of memory' in text.lower()
      or type(error).__name__ == 'OutOfMemoryError'):
    return f'out of memory: {first}'
  return first
