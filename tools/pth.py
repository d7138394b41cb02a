"""Reads a PyTorch state dict (.pth) into numpy arrays, without torch.

`torch.save` writes either a zip archive (PyTorch >= 1.6: `<name>/data.pkl`,
the pickled object, and `<name>/data/<key>`, the raw bytes of each storage)
or, before that, the legacy stream (three small pickles, the object's
pickle, the list of storage keys, then each storage as an int64 element
count and its raw bytes). In both, a tensor is pickled as a call of
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` whose
storage is a persistent id `('storage', storage type, key, ...)`.

`load_state_dict` unpickles with a restricted unpickler that knows only
those records and `collections.OrderedDict` (no other code runs), then
rebuilds each tensor from its storage's bytes with numpy strides.
"""

import collections
import io
import pickle
import zipfile
from typing import Any, BinaryIO

import numpy as np
from etils import epath

# Storage types by name -> numpy dtype (little-endian byte order added when
# reading). Weights are float32; integer counters (BatchNorm's
# num_batches_tracked) come along in the same files.
STORAGE_DTYPES = {
    'FloatStorage': 'f4',
    'DoubleStorage': 'f8',
    'LongStorage': 'i8',
    'IntStorage': 'i4',
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


class _Storage:
  """A storage named in the pickle; its bytes are read after unpickling."""

  def __init__(self, dtype: str, numel: int):
    self.dtype, self.numel = dtype, numel
    self.array = None  # 1-d numpy array, set once the bytes are read
    self.root, self.offset = None, 0  # a legacy view: part of `root`

  def values(self) -> np.ndarray:
    if self.root is not None:
      return self.root.values()[self.offset:self.offset + self.numel]
    return self.array


class _Tensor:
  """A tensor whose storage's bytes may not be read yet."""

  def __init__(self, storage: _Storage, offset: int, size, stride):
    self.storage, self.offset = storage, offset
    self.size, self.stride = tuple(size), tuple(stride)

  def to_numpy(self) -> np.ndarray:
    values = self.storage.values()
    if not self.size:
      return values[self.offset].copy()
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size,
                                                          self.stride))
    if min(self.size) > 0 and last >= len(values):
      raise ValueError('A tensor reaches past the end of its storage: the '
                       'file is damaged.')
    view = np.lib.stride_tricks.as_strided(
        values[self.offset:], self.size,
        [s * values.itemsize for s in self.stride])
    return view.astype(values.dtype.newbyteorder('='), copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride,
                       requires_grad=False, backward_hooks=None,
                       metadata=None):
  del requires_grad, backward_hooks, metadata
  return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
  del requires_grad, backward_hooks
  return data


class _StorageType:
  def __init__(self, name: str):
    self.name = name


class _Unpickler(pickle.Unpickler):
  """Knows only what a state dict of dense tensors holds."""

  _ALLOWED = {
      ('collections', 'OrderedDict'): collections.OrderedDict,
      ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
      ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
  }

  def __init__(self, file: BinaryIO, storages: dict[str, _Storage],
               byteorder: str):
    super().__init__(file)
    self.storages, self.byteorder = storages, byteorder

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in self._ALLOWED:
      return self._ALLOWED[module, name]
    if module == 'torch' and name in STORAGE_DTYPES:
      return _StorageType(name)
    if module == 'torch' and name.endswith('Storage'):
      raise ValueError(f'Tensors of torch.{name} are not supported: this '
                       f'reader takes {sorted(STORAGE_DTYPES)}.')
    raise pickle.UnpicklingError(
        f'{module}.{name} is not part of a state dict of tensors; this '
        'reader loads nothing else (use torch.load for other files).')

  def persistent_load(self, pid: Any) -> _Storage:
    kind = pid[0].decode() if isinstance(pid[0], bytes) else pid[0]
    if kind != 'storage':
      raise pickle.UnpicklingError(f'Unknown persistent id {kind!r}.')
    storage_type, key, _, numel = pid[1:5]
    view = pid[5] if len(pid) > 5 else None
    key = str(key)
    dtype = ('<' if self.byteorder == 'little' else '>') + STORAGE_DTYPES[
        storage_type.name]
    if key not in self.storages:
      self.storages[key] = _Storage(dtype, numel)
    if view is None:
      return self.storages[key]
    view_key, offset, view_size = view
    view_storage = _Storage(dtype, view_size)
    view_storage.root, view_storage.offset = self.storages[key], offset
    return self.storages.setdefault(f'view:{view_key}', view_storage)


def _materialise(tree: Any) -> Any:
  if isinstance(tree, _Tensor):
    return tree.to_numpy()
  if isinstance(tree, dict):
    return {k: _materialise(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return type(tree)(_materialise(v) for v in tree)
  return tree


def _load_zip(data: bytes) -> Any:
  with zipfile.ZipFile(io.BytesIO(data)) as archive:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith('/data.pkl') or n == 'data.pkl']
    if not pickles:
      raise ValueError('The zip archive has no data.pkl: not a torch.save '
                       'file.')
    prefix = pickles[0][:-len('data.pkl')]
    byteorder = 'little'
    if prefix + 'byteorder' in names:
      byteorder = archive.read(prefix + 'byteorder').decode()
    storages = {}
    result = _Unpickler(io.BytesIO(archive.read(pickles[0])), storages,
                        byteorder).load()
    for key, storage in storages.items():
      if storage.root is None:
        raw = archive.read(f'{prefix}data/{key}')
        storage.array = np.frombuffer(raw, storage.dtype, storage.numel)
  return result


def _load_legacy(data: bytes) -> Any:
  stream = io.BytesIO(data)
  restricted = lambda: _Unpickler(stream, {}, 'little').load()
  try:
    magic = restricted()
  except (pickle.UnpicklingError, EOFError, ValueError):
    magic = None
  if magic != _LEGACY_MAGIC:
    raise ValueError('Neither a zip archive nor a legacy torch.save stream: '
                     'not a file written by torch.save.')
  restricted()  # the protocol version
  sys_info = restricted()
  byteorder = 'little' if sys_info.get('little_endian', True) else 'big'
  storages = {}
  result = _Unpickler(stream, storages, byteorder).load()
  keys = _Unpickler(stream, {}, byteorder).load()
  for key in keys:
    storage = storages[str(key)]
    count_dtype = '<i8' if byteorder == 'little' else '>i8'
    numel = int(np.frombuffer(stream.read(8), count_dtype)[0])
    if numel != storage.numel:
      raise ValueError(f'Storage {key} holds {numel} elements, the pickle '
                       f'says {storage.numel}: the file is damaged.')
    itemsize = np.dtype(storage.dtype).itemsize
    storage.array = np.frombuffer(stream.read(numel * itemsize),
                                  storage.dtype, numel)
  return result


def load_state_dict(path: str) -> dict[str, np.ndarray]:
  """Reads a state dict saved by `torch.save`, without torch.

  Args:
    path: the .pth file (zip or legacy format).

  Returns:
    {name: numpy array} in the file's order, in native byte order.

  Raises:
    ValueError: the file holds something other than a (possibly nested)
      dict of float or integer tensors.
  """
  data = epath.Path(path).read_bytes()
  result = _load_zip(data) if zipfile.is_zipfile(io.BytesIO(data)) else (
      _load_legacy(data))
  if not isinstance(result, dict):
    raise ValueError(f'{path} holds a {type(result).__name__}, not a state '
                     'dict.')
  return _materialise(result)
