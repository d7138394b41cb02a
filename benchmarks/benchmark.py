"""Times the jitted train step against a PyTorch reference of the same step.

For each case (network and batch size) this builds the project's train step
(`algorithm.make_train_step`, jitted as `parallel.jit_train_step` does, with
`parallel.compiler_options()`) and the PyTorch reference of
`benchmarks/torch_reference.py` (eager, and `torch.compile`), and times them
interleaved, one step of each in turn, in the same process on the same
device: compile time separately, then the median of `--steps` steps after
`--warmup` steps. It reports images/s, the ratio to PyTorch eager, the
step's FLOPs (XLA's cost analysis of the step as compiled for the CPU,
whatever the device: `jax_step_flops`; for PyTorch its FLOP counter),
achieved FLOP/s and MFU against the device's peak, memory, and the input
pipeline's images/s beside the step's.

  python -m benchmarks.benchmark                         # all cases
  python -m benchmarks.benchmark --cases=digits:64 --steps=5
  python -m benchmarks.benchmark --dtype=bfloat16 --cases=larsen64:1024
  python -m benchmarks.benchmark --check                 # same numbers?
"""

import argparse
import ast
import contextlib
import dataclasses
import functools
import importlib
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from configs import mnist as mnist_config
from vaegan_jax.model import architectures
from vaegan_jax.model import networks
from vaegan_jax import parallel
from vaegan_jax.model import state as state_lib
from vaegan_jax.model import algorithm
from vaegan_jax.run import validation

CONFIGS = {'larsen64': 'configs.default', 'digits': 'configs.mnist',
           'tiny': 'configs.test'}
DEFAULT_CASES = 'larsen64:64,larsen64:256,digits:64'
MIN_STEPS = 20
# PyTorch's variants: eager or torch.compile, in NCHW or channels-last
# ('-cl') memory format. On the CPU, eager channels-last is PyTorch's fastest
# (oneDNN's convolutions run in NHWC) and torch.compile its slowest.
TORCH_VARIANTS = ('eager', 'eager-cl', 'compile', 'compile-cl')
DEFAULT_TORCH = 'eager,eager-cl,compile'

# Dense peak TFLOP/s from NVIDIA's datasheets, by device kind and dtype
# ('float32': TF32 tensor cores, which XLA and cuDNN use for float32
# convolutions and matmuls by default).
GPU_PEAK_TFLOPS = {
    'H100 PCIe': {'bfloat16': 756.0, 'float32': 378.0},
    'H100': {'bfloat16': 989.4, 'float32': 494.7},  # SXM
    'H200': {'bfloat16': 989.4, 'float32': 494.7},
}


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--cases', default=DEFAULT_CASES,
                 help=f'comma-separated ARCH:BATCH, ARCH in {sorted(CONFIGS)}')
  p.add_argument('--steps', type=int, default=MIN_STEPS,
                 help='timed steps per implementation (median); fewer than '
                 f'{MIN_STEPS} is allowed for slow CPU runs and is flagged')
  p.add_argument('--warmup', type=int, default=2)
  p.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'],
                 help='computation dtype (parameters stay float32)')
  p.add_argument('--torch', default=DEFAULT_TORCH,
                 help=f'comma-separated PyTorch variants of {TORCH_VARIANTS} '
                 "('-cl': channels-last memory format), or 'none'; the "
                 "'vs best' ratio is against the fastest of them")
  p.add_argument('--torch_compile_mode', default='default')
  p.add_argument('--torch_compile_backend', default='inductor',
                 help="torch.compile's backend ('eager': Dynamo's tracing "
                 'alone, for quick checks of the code path)')
  p.add_argument('--torch_channels_last', action='store_true',
                 help='every PyTorch variant in channels-last memory format')
  p.add_argument('--xla_options', default='project',
                 choices=['project', 'xla_default'],
                 help="'project': parallel.compiler_options(); 'xla_default': "
                 "XLA's own defaults")
  p.add_argument('--flops', default='cpu', choices=['cpu', 'lowered', 'none'],
                 help="the JAX step's FLOPs (jax_step_flops): 'cpu', XLA's "
                 'cost analysis of the step compiled for the CPU (on a GPU, '
                 "a further compilation per case); 'lowered', of the "
                 'unoptimised step (no compilation; counts the backward pass '
                 "XLA merges twice, +15%% for larsen64); 'none'")
  p.add_argument('--max_contention', type=float, default=0.1,
                 help='re-time a step during which other processes took more '
                 'than this share of the CPUs (shared machines; 1: never)')
  p.add_argument('--pipeline_batches', type=int, default=50,
                 help='batches read to time the input pipeline (0: skip)')
  p.add_argument('--data_name', default=None,
                 help='config.data.name for the pipeline timing (default: '
                 "the case's config)")
  p.add_argument('--data_path', default=None,
                 help='config.data.path for --data_name=folder')
  p.add_argument('--synthetic_folder', type=int, default=0,
                 help='time the folder pipeline on this many generated '
                 '218x178 JPEGs (CelebA-sized) for the 64x64 cases')
  p.add_argument('--check', action='store_true',
                 help='first compare the JAX and PyTorch loss terms and '
                 'gradients on one batch (same parameters and noise)')
  p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                 help='config override for every case, e.g. '
                 'model.conv_transpose_impl=lax (repeatable)')
  p.add_argument('--json', default=None, help='also write the results here')
  return p.parse_args(argv)


# The step both sides time: Algorithm 1 as the PyTorch reference implements
# it, without the training features configs/mnist.py turns on; `--set` turns
# them on for the JAX side alone.
PLAIN_STEP = mnist_config.FEATURES_OFF


def make_config(arch: str, batch_size: int, dtype: str,
                overrides: tuple[str, ...] = ()):
  config = importlib.import_module(CONFIGS[arch]).get_config()
  config.update_from_flattened_dict(PLAIN_STEP)
  config.train.batch_size = batch_size
  config.model.dtype = dtype
  for override in overrides:
    key, _, value = override.partition('=')
    *path, field = key.split('.')
    node = functools.reduce(getattr, path, config)
    old = getattr(node, field)  # AttributeError names a mistyped field
    if isinstance(old, bool):
      parsed = value.lower() in ('true', '1')
    elif old is None:  # a placeholder: a number if it reads as one
      parsed = value
      with contextlib.suppress(ValueError, SyntaxError):
        parsed = ast.literal_eval(value)
    else:
      parsed = type(old)(value)
    setattr(node, field, parsed)
  return config


# --------------------------------------------------------------------------
# Peak FLOP/s.
# --------------------------------------------------------------------------


def _cpu_theoretical_flops() -> tuple[float, str]:
  """cores x clock x FLOP/cycle (two FMA units of the widest float32 SIMD)."""
  info = ''
  with contextlib.suppress(OSError):
    info = open('/proc/cpuinfo').read()
  flags = next((l for l in info.splitlines() if l.startswith('flags')), '')
  mhz = max([float(l.split(':')[1]) for l in info.splitlines()
             if l.startswith('cpu MHz')] or [0.0])
  with contextlib.suppress(OSError, ValueError):
    mhz = int(open('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq')
              .read()) / 1e3
  isa, lanes = (('AVX-512', 16) if ' avx512f' in flags else
                ('AVX2', 8) if ' avx2' in flags else ('SSE', 4))
  per_cycle = 2 * 2 * lanes  # 2 FMA units x (multiply + add) x lanes
  cores = os.cpu_count() or 1
  return (cores * mhz * 1e6 * per_cycle,
          f'{cores} cores x {mhz / 1e3:.2f} GHz x {per_cycle} float32 '
          f'FLOP/cycle ({isa}: 2 FMA units x {lanes} lanes x 2)')


def _matmul_flops(n: int = 2048, reps: int = 5) -> float:
  """FLOP/s of an n x n float32 matmul in XLA (median of `reps`)."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    f(a).block_until_ready()
    times.append(time.perf_counter() - start)
  return 2 * n ** 3 / statistics.median(times)


def device_peak(dtype: str) -> tuple[float, str]:
  """The peak FLOP/s MFU is measured against, and how it was obtained."""
  device = jax.devices()[0]
  if device.platform == 'gpu':
    kind = device.device_kind
    for name, peaks in GPU_PEAK_TFLOPS.items():
      if all(word in kind for word in name.split()):
        return peaks[dtype] * 1e12, (f'{kind}: {peaks[dtype]} TFLOP/s dense '
                                     f'{dtype}, datasheet')
    return float('nan'), f'{kind}: peak unknown, MFU not reported'
  theory, how = _cpu_theoretical_flops()
  measured = _matmul_flops()
  return theory, (f'theoretical {how} = {theory / 1e9:.0f} GFLOP/s; a '
                  f'2048^3 float32 matmul in XLA reached '
                  f'{measured / 1e9:.0f} GFLOP/s here')


# --------------------------------------------------------------------------
# The implementations.
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Runner:
  """One implementation of one case; `step()` runs a step and waits for it."""
  name: str
  step: Callable[[], Any]
  compile_s: float = float('nan')
  flops: float = float('nan')
  memory: Callable[[], str] = lambda: ''
  times: list[float] = dataclasses.field(default_factory=list)
  contention: list[float] = dataclasses.field(default_factory=list)
  retried: int = 0


def _random_images(config) -> np.ndarray:
  shape = (config.train.batch_size, *state_lib.image_shape(config))
  return np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)


def step_shapes(config) -> tuple[Any, Any, Any]:
  """The shapes and dtypes of the step's (state, batch, rng)."""
  shape = (config.train.batch_size, *state_lib.image_shape(config))
  return jax.eval_shape(lambda: (
      state_lib.create_train_state(config, jax.random.key(0)),
      {'image': jnp.zeros(shape, jnp.float32)}, jax.random.key(1)))


def jax_step_flops(config, how: str = 'cpu', devices: int = 1,
                   compiled=None) -> float:
  """FLOPs per device of one step, by XLA's cost analysis.

  On a GPU, XLA's compiled module holds the convolutions as cuDNN custom
  calls, which its cost analysis counts as no FLOPs (an H200 run reported 20
  GFLOP for the `larsen64` step at batch 64, bfloat16, against 971 counted
  on the CPU): the count is that of the same step compiled for one CPU
  device, where every convolution is a `convolution` op. The unoptimised
  (lowered) module is no substitute: XLA merges the backward pass that
  `algorithm.losses_and_gradients` pulls back for two networks
  (common-subexpression elimination), and the lowered module counts it
  twice (+15.5% for `larsen64`: 1,118 against 968 GFLOP at batch 64,
  float32).

  Args:
    config: the case's configuration.
    how: 'cpu': XLA:CPU's count of the compiled step (`compiled`'s own when
      it was compiled for the CPU, else a further compilation, of some
      seconds); 'lowered': of the unoptimised step, on the CPU (no
      compilation; counts the merged backward pass twice); 'none'.
    devices: the number of devices the step runs on (a count on the CPU,
      of the whole batch on one device, is divided by it).
    compiled: the step as compiled for its own devices, if at hand.

  Returns:
    The FLOPs, NaN for 'none' or when the CPU cannot count them.
  """
  def flops(cost) -> float:
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float((cost or {}).get('flops', 'nan'))

  if how == 'none':
    return float('nan')
  if (how == 'cpu' and compiled is not None
      and jax.devices()[0].platform == 'cpu'):
    return flops(compiled.cost_analysis())
  try:
    mesh = parallel.make_mesh(jax.devices('cpu')[:1])
    lowered = parallel.jit_train_step(
        algorithm.make_train_step(config), mesh).lower(*step_shapes(config))
    cost = (lowered.cost_analysis() if how == 'lowered'
            else lowered.compile().cost_analysis())
  except Exception as e:  # pylint: disable=broad-except
    print(f'  JAX FLOP count on the CPU failed: {common.describe_error(e)}',
          flush=True)
    return float('nan')
  return flops(cost) / devices


def flop_figures(flops: float, seconds: float, peak: float
                 ) -> dict[str, float]:
  """A row's FLOP columns: FLOPs per step, FLOP/s at `seconds` a step, MFU."""
  return {'gflop': flops / 1e9, 'gflops_per_s': flops / seconds / 1e9,
          'mfu': flops / seconds / peak}


def jax_runner(config, xla_options: str, flops: str = 'cpu') -> Runner:
  """The project's jitted train step on a fixed batch of random images;
  `flops` as `jax_step_flops`'s `how`."""
  mesh = parallel.make_mesh()
  validation.validate(config)
  state = parallel.replicate(
      state_lib.create_train_state(config, jax.random.key(0)), mesh)
  batch = parallel.shard_batch({'image': _random_images(config)}, mesh)
  rng = jax.random.key(1)
  jitted = parallel.jit_train_step(
      algorithm.make_train_step(config), mesh,
      compiler_options={} if xla_options == 'xla_default' else None)
  lowered = jitted.lower(state, batch, rng)
  start = time.perf_counter()
  compiled = lowered.compile()
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  counted = jax_step_flops(config, flops, mesh.devices.size, compiled)
  if jax.devices()[0].platform != 'cpu' and flops != 'none':
    print(f'  jax: FLOPs counted on the CPU ({flops}) in '
          f'{time.perf_counter() - start:.1f} s', flush=True)
  mem = compiled.memory_analysis()
  buffers = float('nan') if mem is None else (
      mem.argument_size_in_bytes + mem.output_size_in_bytes
      + mem.temp_size_in_bytes - mem.alias_size_in_bytes)
  held = {'state': state}

  def step():
    held['state'], metrics = compiled(held['state'], batch, rng)
    jax.block_until_ready((held['state'], metrics))

  def memory():
    text = f'XLA buffers {buffers / 2 ** 30:.2f} GiB'
    peak = (jax.devices()[0].memory_stats() or {}).get('peak_bytes_in_use')
    return text + (f'; device peak {peak / 2 ** 30:.2f} GiB' if peak else '')

  return Runner('jax', step, compile_s, counted, memory)


def parse_torch_variants(text: str) -> list[str]:
  """`--torch`'s comma-separated variants (none for 'none' or '').

  Raises:
    ValueError: a variant is not one of `TORCH_VARIANTS`.
  """
  variants = [v for v in text.split(',') if v and v != 'none']
  unknown = [v for v in variants if v not in TORCH_VARIANTS]
  if unknown:
    raise ValueError(f'--torch={text}: unknown variant(s) {unknown}; choose '
                     f'from {TORCH_VARIANTS} or none.')
  return variants


def torch_runners(config, variants: list[str], args, device: str
                  ) -> list[Runner]:
  """The PyTorch reference in each of `variants` (`TORCH_VARIANTS`), all
  from the JAX init; `args.torch_channels_last` makes every one
  channels-last."""
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
  init = state_lib.create_train_state(config, jax.random.key(0))
  b, latent = config.train.batch_size, architectures.latent_dim(config)
  images = torch.from_numpy(_random_images(config).transpose(0, 3, 1, 2)
                            .copy()).to(device)
  cuda = device.startswith('cuda')
  if cuda:  # as XLA: autotuned convolutions, TF32 for float32 matmuls too
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision('high')
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
  autocast = lambda: (torch.autocast(device, dtype=torch.bfloat16)
                      if config.model.dtype == 'bfloat16'
                      else contextlib.nullcontext())
  runners = []
  for variant in variants:
    mode, _, layout = variant.partition('-')
    channels_last = layout == 'cl' or args.torch_channels_last
    if mode == 'compile':  # static shapes: no dynamic-shape kernels from
      torch._dynamo.reset()  # an earlier case's batch size
    ref = torch_reference.Step(
        config, device, channels_last=channels_last,
        compile_mode=args.torch_compile_mode if mode == 'compile' else None,
        compile_backend=args.torch_compile_backend)
    torch_reference.load_jax_params(ref, init.params, init.batch_stats)
    x = images.contiguous(memory_format=torch.channels_last if channels_last
                          else torch.contiguous_format)

    def step(ref=ref, x=x):
      with autocast():
        ref(x, torch.randn(b, latent, device=device),
            torch.randn(b, latent, device=device))
      if cuda:
        torch.cuda.synchronize()

    def memory():
      if not cuda:
        return ''
      return f'device peak {torch.cuda.max_memory_allocated() / 2 ** 30:.2f} GiB'

    name = f'torch {mode}' + ('-cl' if channels_last else '')
    runners.append(Runner(name, step, memory=memory))
  return runners


def torch_flops(config, device: str) -> float:
  """FLOPs of one eager PyTorch step, by `torch.utils.flop_counter`."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch.utils import flop_counter  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
  ref = torch_reference.Step(config, device)
  b, latent = config.train.batch_size, architectures.latent_dim(config)
  x = torch.from_numpy(_random_images(config).transpose(0, 3, 1, 2).copy())
  with flop_counter.FlopCounterMode(display=False) as counter:
    ref(x.to(device), torch.randn(b, latent, device=device),
        torch.randn(b, latent, device=device))
  return float(counter.get_total_flops())


# --------------------------------------------------------------------------
# Timing.
# --------------------------------------------------------------------------


def _busy_seconds() -> float:
  """CPU seconds all processes have used (/proc/stat), or 0 elsewhere."""
  try:
    with open('/proc/stat') as f:
      fields = [int(v) for v in f.readline().split()[1:]]
  except OSError:
    return 0.0
  idle = fields[3] + fields[4]  # idle, iowait
  return (sum(fields[:8]) - idle) / os.sysconf('SC_CLK_TCK')


def timed(step: Callable[[], Any]) -> tuple[float, float]:
  """(wall seconds of one step, share of the CPUs other processes took)."""
  busy, own = _busy_seconds(), time.process_time()
  start = time.perf_counter()
  step()
  wall = time.perf_counter() - start
  others = (_busy_seconds() - busy) - (time.process_time() - own)
  return wall, max(others, 0.0) / (wall * (os.cpu_count() or 1))


def time_interleaved(runners: list[Runner], steps: int, warmup: int,
                     max_contention: float) -> dict[str, str]:
  """Warm-up, then one step of each runner in turn, `steps` times.

  On a shared machine, a step during which other processes took more than
  `max_contention` of the CPUs is timed again (up to 4 times; `retried`
  counts them), so that every implementation is timed on a quiet machine.
  A runner after the first whose first step raises (PyTorch out of memory, a
  torch.compile failure) is removed from `runners`, and the others timed.

  Returns:
    {name: the error's first line} of the runners removed.
  """
  failed = {}
  for r in list(runners):
    start = time.perf_counter()
    try:
      r.step()
    except Exception as e:  # pylint: disable=broad-except
      if r is runners[0]:
        raise
      failed[r.name] = f'{type(e).__name__}: {str(e).strip()[:300]}'
      print(f'  {r.name}: first step failed, not timed: {failed[r.name]}',
            flush=True)
      runners.remove(r)
      continue
    if np.isnan(r.compile_s):  # PyTorch: the first call (compiles, if any)
      r.compile_s = time.perf_counter() - start
    print(f'  {r.name}: first step {time.perf_counter() - start:.1f} s',
          flush=True)
    for _ in range(warmup - 1):
      r.step()
  for i in range(steps):
    for r in runners:
      for attempt in range(5):
        wall, contention = timed(r.step)
        if contention <= max_contention or attempt == 4:
          break
        r.retried += 1
      r.times.append(wall)
      r.contention.append(contention)
    print(f'  step {i + 1}/{steps}: ' + ', '.join(
        f'{r.name} {r.times[-1]:.3f} s' for r in runners), flush=True)
  return failed


# --------------------------------------------------------------------------
# Input pipeline and check.
# --------------------------------------------------------------------------


def _synthetic_folder(n: int) -> str:
  """A temporary folder of n random 218x178 JPEGs, CelebA's aligned size."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path = tempfile.mkdtemp(prefix='vaegan_bench_')
  rng = np.random.default_rng(0)
  for i in range(n):
    pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(os.path.join(path, f'{i:06d}.jpg'))
  return path


def pipeline_rate(config, args) -> tuple[float, str]:
  """Images/s of `vaegan_jax.data.train_iterator(config)`, or why not."""
  try:
    from vaegan_jax import data  # pylint: disable=g-import-not-at-top
    make = data.train_iterator
  except (ImportError, AttributeError) as e:
    return float('nan'), f'no vaegan_jax.data.train_iterator ({e})'
  config = config.copy_and_resolve_references()
  if args.data_name:
    config.data.name = args.data_name
  if args.data_path:
    config.data.path = args.data_path
  if args.synthetic_folder and config.data.image_size == 64:
    config.data.name, config.data.path = 'folder', _synthetic_folder(
        args.synthetic_folder)
    config.data.cache_dir = os.path.join(config.data.path, 'cache')
  try:
    data.check(config)
    iterator = make(config)
    next(iterator)  # start-up: threads, caches (a folder's decoding)
  except Exception as e:  # pylint: disable=broad-except
    first = str(e).splitlines()[0].split('. ')[0].rstrip('.')
    return float('nan'), f'{config.data.name}: {first}'
  try:
    start = time.perf_counter()
    for _ in range(args.pipeline_batches):
      next(iterator)
    elapsed = time.perf_counter() - start
  finally:
    iterator.close()
  source = config.data.name + (' (synthetic JPEGs)'
                               if args.synthetic_folder and
                               config.data.name == 'folder' else '')
  return args.pipeline_batches * config.train.batch_size / elapsed, source


def check_against_torch(config, device: str) -> dict[str, float]:
  """Relative differences of the loss terms and of each gradient's norm."""
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
  state = state_lib.create_train_state(config, jax.random.key(0))
  b, latent = config.train.batch_size, architectures.latent_dim(config)
  images = _random_images(config)
  rng = jax.random.key(3)
  hp, nets = algorithm.hyperparameters(config), networks.build(config)
  out = jax.jit(
      lambda state: algorithm.losses_and_gradients(
          hp, nets, state, {'image': jnp.asarray(images)}, rng),
      compiler_options=parallel.compiler_options())(state)
  grads, terms = out.grads, out.terms
  drawn = algorithm.noise(rng, b, latent)  # the step's own noise
  noise = [np.asarray(drawn.eps), np.asarray(drawn.prior)]
  ref = torch_reference.Step(config, device)
  torch_reference.load_jax_params(ref, state.params, state.batch_stats)
  t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)
  tterms, _, _ = ref.forward(t(images.transpose(0, 3, 1, 2)),
                             *[t(n) for n in noise])
  tgrads = ref.gradients(tterms)
  diffs = {}
  for k, v in tterms.items():
    a, c = float(terms[k]), float(v.detach())
    diffs[f'loss/{k}'] = abs(a - c) / max(abs(a), 1e-12)
  for net, g in grads.items():  # per tensor, layouts aside: sorted norms
    a = sorted(float(jnp.linalg.norm(x)) for x in jax.tree.leaves(g))
    c = sorted(float(torch.linalg.norm(x)) for x in tgrads[net])
    diffs[f'grad_norms/{net}'] = max(abs(x - y) / max(x, 1e-12)
                                     for x, y in zip(a, c))
  return diffs


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def versions() -> dict[str, str]:
  import flax  # pylint: disable=g-import-not-at-top
  import jaxlib  # pylint: disable=g-import-not-at-top
  v = {'python': platform.python_version(), 'jax': jax.__version__,
       'jaxlib': jaxlib.__version__, 'flax': flax.__version__}
  with contextlib.suppress(ImportError):
    import torch  # pylint: disable=g-import-not-at-top
    v['torch'] = torch.__version__
  return v


def device_name() -> str:
  d = jax.devices()[0]
  if d.platform != 'cpu':
    return f'{jax.device_count()} x {d.device_kind}'
  model = platform.processor() or 'CPU'
  with contextlib.suppress(OSError, StopIteration):
    model = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo')
                 if l.startswith('model name'))
  return f'{model}, {os.cpu_count()} cores'


def fastest_torch(runners: list[Runner]) -> Runner | None:
  """The PyTorch runner with the lowest median step time, if any."""
  timed = [r for r in runners if r.name.startswith('torch') and r.times]
  return min(timed, key=lambda r: statistics.median(r.times), default=None)


def summarise(case: str, runners: list[Runner], peak: float,
              batch_size: int) -> list[dict[str, Any]]:
  """A row per runner; the ratios are medians over interleaved pairs of
  steps: 'vs_torch_best' against PyTorch's fastest variant (its name in
  'torch_best'), 'vs_torch_eager' against eager NCHW, 'vs_jax' against the
  JAX step."""
  eager = next((r for r in runners if r.name == 'torch eager'), None)
  best = fastest_torch(runners)
  paired = lambda r, ref: (  # median over interleaved pairs of steps
      statistics.median(a / b for a, b in zip(r.times, ref.times))
      if ref is not None else float('nan'))
  rows = []
  for r in runners:
    t = statistics.median(r.times)
    rows.append({
        'case': case, 'impl': r.name, 'compile_s': r.compile_s,
        'median_s': t, 'min_s': min(r.times), 'max_s': max(r.times),
        'steps': len(r.times), 'images_per_s': batch_size / t,
        'vs_torch_best': paired(r, best),
        'torch_best': best.name if best else None,
        'vs_torch_eager': paired(r, eager), 'vs_jax': paired(r, runners[0]),
        **flop_figures(r.flops, t, peak),
        'others_cpu': statistics.median(r.contention), 'retried': r.retried,
        'memory': r.memory(),
    })
  return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
  print(f'{"case":13} {"impl":16} {"compile s":>9} {"median s":>9} '
        f'{"min s":>7} {"img/s":>7} {"/best":>6} {"/eager":>6} {"GFLOP":>6} '
        f'{"GFLOP/s":>7} {"MFU":>6} {"others":>6} {"retried":>7}  memory')
  for r in rows:
    if 'error' in r:
      print(f'{r["case"]:13} {r["impl"]:16} failed: {r["error"]}')
      continue
    print(f'{r["case"]:13} {r["impl"]:16} {r["compile_s"]:9.1f} '
          f'{r["median_s"]:9.3f} {r["min_s"]:7.3f} {r["images_per_s"]:7.1f} '
          f'{r["vs_torch_best"]:6.2f} {r["vs_torch_eager"]:6.2f} '
          f'{r["gflop"]:6.0f} '
          f'{r["gflops_per_s"]:7.1f} {r["mfu"]:6.1%} {r["others_cpu"]:6.1%} '
          f'{r["retried"]:7d}  {r["memory"]}')


def graph_breaks() -> int:
  """Dynamo's graph breaks since its last reset (0 if it has none)."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch._dynamo import utils  # pylint: disable=g-import-not-at-top
  del torch
  return int(sum(utils.counters['graph_break'].values()))


def time_case(config, case: str, variants: list[str], args, device: str,
              peak: float) -> list[dict[str, Any]]:
  """Times one case: the JAX step and the PyTorch `variants`, interleaved.

  Args:
    config: the case's configuration (`make_config`).
    case: its name, 'ARCH:BATCH'.
    variants: PyTorch variants to time beside JAX (`TORCH_VARIANTS`).
    args: `parse_args`'s namespace (steps, warm-up, PyTorch options).
    device: 'cuda' or 'cpu', for PyTorch.
    peak: the device's peak FLOP/s, for MFU.

  Returns:
    A row per implementation timed (`summarise`); a PyTorch variant whose
    first step failed has a row with its 'error' instead of timings.
  """
  runners = [jax_runner(config, args.xla_options, args.flops)]
  if variants:
    runners += torch_runners(config, variants, args, device)
  failed = time_interleaved(runners, args.steps, args.warmup,
                            args.max_contention)
  if len(runners) > 1:
    try:
      counted = torch_flops(config, device)
    except Exception as e:  # pylint: disable=broad-except
      counted = float('nan')
      print(f'  PyTorch FLOP count failed: {e}', flush=True)
    for r in runners[1:]:
      r.flops = counted
  rows = summarise(case, runners, peak, config.train.batch_size)
  if any(v.startswith('compile') for v in variants):
    breaks = graph_breaks()
    for row in rows:
      if row['impl'].startswith('torch compile'):
        row['graph_breaks'] = breaks
  return rows + [{'case': case, 'impl': name, 'error': error}
                 for name, error in failed.items()]


def main(argv=None) -> None:
  args = parse_args(argv)
  backend = jax.default_backend()
  device = 'cuda' if backend == 'gpu' else 'cpu'
  try:
    variants = parse_torch_variants(args.torch)
  except ValueError as e:
    sys.exit(str(e))
  if variants and device == 'cuda':
    import torch  # pylint: disable=g-import-not-at-top
    if not torch.cuda.is_available():
      sys.exit('JAX sees a GPU but PyTorch does not: install a CUDA PyTorch.')
  print(f'device: {device_name()} ({backend}); {versions()}')
  print(f'load average {os.getloadavg()}; XLA options: '
        f'{parallel.compiler_options() if args.xla_options == "project" else None}')
  if args.steps < MIN_STEPS:
    print(f'NOTE: medians of {args.steps} steps, fewer than the {MIN_STEPS} '
          'the benchmark is meant for (--steps): a slow-CPU run, noisier.')
  peak, how = device_peak(args.dtype)
  print(f'peak for MFU: {how}')
  results = {'device': device_name(), 'versions': versions(), 'peak': how,
             'peak_flops': peak, 'args': vars(args), 'rows': [],
             'checks': {}, 'pipeline': {}}
  for case in args.cases.split(','):
    arch, batch = case.split(':')
    config = make_config(arch, int(batch), args.dtype, args.set)
    if args.check:
      diffs = check_against_torch(config, device)
      results['checks'][case] = diffs
      print(f'check {case}, max relative difference JAX vs PyTorch:',
            {k: f'{v:.1e}' for k, v in diffs.items()})
    rows = time_case(config, case, variants, args, device, peak)
    print()
    print_rows(rows)
    results['rows'] += rows
    if args.pipeline_batches:
      rate, source = pipeline_rate(config, args)
      step_rate = rows[0]['images_per_s']
      results['pipeline'][case] = {'images_per_s': rate, 'source': source,
                                   'vs_step': rate / step_rate}
      if math.isnan(rate):
        print(f'input pipeline not timed: {source}.')
      else:
        print(f'input pipeline ({source}): {rate:.0f} images/s, '
              f'{rate / step_rate:.0f}x the JAX step\'s {step_rate:.1f}')
    print(f'process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB')
  print('\n/best, /eager: median over the interleaved steps of (step time / '
        'the step time of PyTorch\'s fastest variant, of PyTorch eager '
        'NCHW); GFLOP: XLA\'s cost analysis (jax, '
        f'--flops={args.flops}: jax_step_flops), PyTorch FLOP '
        'counter (torch); others: median share of the CPUs other processes '
        'took during a timed step.')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=1, default=str)


if __name__ == '__main__':
  main()
