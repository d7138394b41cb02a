"""Feeding the devices: batches copied onto the mesh ahead of the step."""

import collections
from typing import Any

import jax
from jax.sharding import Mesh

from vaegan_jax import parallel


class DevicePrefetch:
  """Batches of an iterator, sharded onto the mesh `size` steps ahead.

  Each batch is copied to the devices (`parallel.shard_batch`) while
  earlier steps still run, so the step never waits for a host-to-device
  transfer. `get_state()` is the wrapped iterator's state after the last
  batch handed out, not after those read ahead: a checkpoint taken after
  step N resumes at batch N + 1.
  """

  def __init__(self, iterator, mesh: Mesh, size: int = 2):
    self._iterator, self._mesh, self._size = iterator, mesh, size
    self._queue = collections.deque()
    self._state = iterator.get_state()

  def __iter__(self) -> 'DevicePrefetch':
    return self

  def __next__(self) -> dict[str, jax.Array]:
    try:
      while len(self._queue) < self._size:
        batch = parallel.shard_batch(next(self._iterator), self._mesh)
        self._queue.append((batch, self._iterator.get_state()))
    except StopIteration:
      if not self._queue:
        raise
    batch, self._state = self._queue.popleft()
    return batch

  def get_state(self) -> Any:
    """The wrapped iterator's state after the last batch returned."""
    return self._state

  def close(self) -> None:
    self._queue.clear()
    self._iterator.close()
