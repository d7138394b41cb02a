"""The project's GPU figures from one command, within a time budget.

    benchmarks/gpu.sh                        # python -m benchmarks.gpu
    benchmarks/gpu.sh --out=results/h200     # where the JSON and tables go
    benchmarks/gpu.sh --dry-run              # the same code on the CPU, tiny

Sections, in order of priority, each in its own process (a crash, an
out-of-memory error or a hang in one is reported and the next one runs),
each given a share of `--budget` seconds (default 450: with the time to
stop the last section and write the report, 8 minutes) and stopped at its
end; the remaining sections are skipped with a message when time runs out:

1. environment: device, versions, what is missing; the input pipeline's
   images/s (first preparation of a synthetic CelebA folder of 218x178
   JPEGs, CelebA crop, 64x64; cached reads at each batch size);
2. steps: the `larsen64` train step at batch 64, 256 and 1024, bfloat16 and
   float32, against the PyTorch reference in eager mode on the same card,
   NCHW and channels-last (cuDNN autotuning on: PyTorch's best on a GPU),
   timed interleaved (`benchmark.time_case`): step time, images/s; then,
   once every case is timed, the JAX step's FLOPs (XLA's count of the step
   compiled for the CPU) and MFU; an out-of-memory case is reported and the
   next one runs;
3. train: 2,000 steps of `configs/celeba.py` on the synthetic folder by
   `main.py`, evaluation at the end only, FID off unless
   `--inception_weights` is given; the time per step is the median of the
   logged steps/s after the first log interval (compilation);
4. profile: a `jax.profiler` trace of the bfloat16 step at batch 256 and
   1024 (kept under `--out`/traces), summarised: time per kind of
   operation, the longest operations, the share of the step the device is
   busy, MFU (`trace_summary.py`);
5. compile: the cases of 2 against `torch.compile` (channels-last,
   mode 'max-autotune'; the rows count Dynamo's graph breaks), while time
   lasts.

Writes `gpu_benchmark.json` (every number) and `gpu_benchmark.md` (tables
for docs/benchmarks.md) into `--out`, and prints the tables. Installs
nothing: what is missing is printed, and the sections that need it skipped.
The exit status is 1 when a section failed or timed out, a required module
is missing or JAX has no GPU (without --dry-run), else 0.
"""

import argparse
import dataclasses
import datetime
import gc
import importlib.util
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable

from benchmarks import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Modules the sections import (top-level name -> pip package).
REQUIRED = {
    'jax': 'jax[cuda12]', 'flax': 'flax', 'optax': 'optax',
    'orbax.checkpoint': 'orbax-checkpoint', 'ml_collections': 'ml_collections',
    'grain': 'grain', 'absl': 'absl-py', 'etils': 'etils', 'PIL': 'pillow',
    'tensorboardX': 'tensorboardX',
    'numpy': 'numpy',
}
OPTIONAL = {'torch': 'torch (a CUDA build), for the PyTorch comparison'}

# A run's sizes. Budget shares: `cap`, the most a section may take;
# `reserve`, the least it needs to be worth starting (kept free for it while
# the sections before it run).
GPU_PLAN = {
    'arch': 'larsen64', 'batches': [64, 256, 1024],
    'dtypes': ['bfloat16', 'float32'],
    'compile_dtypes': ['bfloat16', 'float32'], 'steps': 20, 'warmup': 2,
    'max_contention': 1.0, 'torch_compile_backend': 'inductor',
    'min_case_s': 15.0, 'jpegs': 2000, 'read_images': 16384,
    'read_repeats': 3, 'train_steps': 2000, 'train_log_every': 50,
    'train_set': [], 'budget': 450.0,
    # PyTorch's best on a GPU: channels-last with cuDNN's autotuning (which
    # benchmark.torch_runners turns on for CUDA), and torch.compile's
    # max-autotune mode in the compile section.
    'steps_torch': 'eager,eager-cl', 'compile_torch': 'compile-cl',
    'torch_compile_mode': 'max-autotune',
    # The profile section: a jax.profiler trace of the bfloat16 step.
    'profile_batches': [256, 1024], 'profile_dtype': 'bfloat16',
    'profile_steps': 5,
}
DRY_PLAN = {
    # float32 steps only: the profile section runs the bfloat16 step.
    **GPU_PLAN, 'arch': 'tiny', 'batches': [4], 'dtypes': ['float32'],
    'compile_dtypes': ['float32'],
    'steps': 3, 'warmup': 1,
    'torch_compile_backend': 'eager', 'torch_compile_mode': 'default',
    'profile_batches': [4], 'profile_steps': 2, 'min_case_s': 5.0, 'jpegs': 200,
    'read_images': 64, 'read_repeats': 2, 'train_steps': 20,
    'train_log_every': 5, 'budget': 360.0,
    # celeba.py's networks, narrow: the same code, compiled in seconds.
    'train_set': [
        'train.batch_size=8', 'eval.batch_size=64', 'model.latent_dim=8',
        'model.encoder_widths=(8,16,16)', 'model.encoder_dense=32',
        'model.decoder_widths=(16,16,8)', 'model.decoder_base_width=16',
        'model.discriminator_widths=(8,16,16,16)',
        'model.discriminator_dense=32'],
}
SHARES = {  # section: (cap, reserve), fractions of the budget
    'environment': (0.125, 0.03),
    'steps': (0.45, 0.08),
    'train': (0.375, 0.2),
    'profile': (0.25, 0.1),
    'compile': (1.0, 0.08),
}
SECTIONS = tuple(SHARES)


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog=__doc__.split('\n\n', 2)[2])
  p.add_argument('--dry-run', '--dry_run', dest='dry_run',
                 action='store_true', help='the same code paths on the CPU '
                 'with tiny sizes, in under 3 minutes')
  p.add_argument('--out', default=None, help='directory for the JSON and '
                 'the tables (default: workdirs/gpu_benchmark/<time>)')
  p.add_argument('--budget', type=float, default=None,
                 help='total seconds (default: 450; dry run 360)')
  p.add_argument('--sections', default=','.join(SECTIONS),
                 help=f'comma-separated subset of {SECTIONS} (environment '
                 'always runs)')
  p.add_argument('--inception_weights', default=None,
                 help='FID Inception weights: the train section then '
                 'computes FID at its end')
  p.add_argument('--train_set', action='append', default=[],
                 metavar='KEY=VALUE', help='config override for the train '
                 'section, e.g. model.dtype=bfloat16 (repeatable)')
  p.add_argument('--keep', action='store_true',
                 help='keep the synthetic folder and the run directory')
  # A section's own process.
  p.add_argument('--child', default=None, help=argparse.SUPPRESS)
  p.add_argument('--plan', default=None, help=argparse.SUPPRESS)
  p.add_argument('--result', default=None, help=argparse.SUPPRESS)
  p.add_argument('--deadline', type=float, default=None,
                 help=argparse.SUPPRESS)
  return p.parse_args(argv)


# --------------------------------------------------------------------------
# Shared helpers (benchmarks/common.py).
# --------------------------------------------------------------------------

say, finite, write_json = common.say, common.finite, common.write_json
read_json, describe_error = common.read_json, common.describe_error


def missing_modules() -> dict[str, str]:
  """{module: pip package} of the required modules not installed."""
  missing = {}
  for module, package in REQUIRED.items():
    try:
      found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
      found = False
    if not found:
      missing[module] = package
  return missing


# --------------------------------------------------------------------------
# The sections' processes.
# --------------------------------------------------------------------------


def torch_status(backend: str) -> tuple[bool, str]:
  """(whether PyTorch can run beside JAX's device, what was found)."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False, ('PyTorch is not installed: the PyTorch comparison is '
                   'skipped (pip install torch, a CUDA build)')
  if backend == 'gpu' and not torch.cuda.is_available():
    return False, (f'PyTorch {torch.__version__} sees no GPU (a CPU build?): '
                   'the PyTorch comparison is skipped')
  where = torch.cuda.get_device_name() if backend == 'gpu' else 'cpu'
  return True, f'PyTorch {torch.__version__} on {where}'


def environment_child(plan: dict[str, Any], result: str,
                      deadline: float) -> None:
  """Device and versions; then the input pipeline on the synthetic folder."""
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import benchmark  # pylint: disable=g-import-not-at-top
  from benchmarks import data_benchmark  # pylint: disable=g-import-not-at-top
  backend = jax.default_backend()
  out = {'environment': {
      'device': benchmark.device_name(), 'backend': backend,
      'device_count': jax.device_count(), 'versions': benchmark.versions(),
      'torch': torch_status(backend)[1], 'cpu_count': os.cpu_count()}}
  write_json(result, out)
  say(f'device: {out["environment"]["device"]} ({backend}); '
      f'{out["environment"]["versions"]}; {out["environment"]["torch"]}')
  config = data_benchmark.folder_config(plan['images'], plan['cache'],
                                        plan['batches'][0])
  prepare_s = data_benchmark.time_preparation(config)
  pipeline = {
      'source': (f'{plan["jpegs"]} synthetic 218x178 JPEGs, folder, CelebA '
                 f'crop ({config.data.crop}), {config.data.image_size}x'
                 f'{config.data.image_size}'),
      'num_threads': config.data.num_threads, 'prepare_s': prepare_s,
      'prepare_images_per_s': plan['jpegs'] / prepare_s, 'reads': {}}
  say('input pipeline: first preparation '
      f'{pipeline["prepare_images_per_s"]:.0f} images/s')
  for batch in plan['batches']:
    if time.time() > deadline - 5:
      break
    config.train.batch_size = batch
    rates = data_benchmark.time_reads(
        config, max(1, plan['read_images'] // batch), plan['read_repeats'])
    pipeline['reads'][str(batch)] = statistics.median(rates)
    say(f'input pipeline: batch {batch}: {statistics.median(rates):.0f} '
        'images/s (cached reads, median)')
  out['pipeline'] = pipeline
  write_json(result, out)


def _free_memory() -> None:
  gc.collect()
  if 'torch' in sys.modules:
    torch = sys.modules['torch']
    if torch.cuda.is_available():
      torch.cuda.empty_cache()


def steps_child(plan: dict[str, Any], result: str, deadline: float,
                variant: str) -> None:
  """Every case: the JAX step against one PyTorch variant, interleaved.

  Each case's rows are written to `result` when it ends, so that a process
  stopped at its deadline keeps what it finished.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import benchmark  # pylint: disable=g-import-not-at-top
  backend = jax.default_backend()
  device = 'cuda' if backend == 'gpu' else 'cpu'
  usable, torch_text = torch_status(backend)
  out = {'torch': torch_text, 'rows': [], 'errors': [], 'skipped': [],
         'peak': {}, 'torch_compile_backend': plan['torch_compile_backend']}
  variant = 'steps' if variant == 'eager' else variant
  if variant == 'compile' and not usable:
    out['skipped'].append({'why': torch_text})
    write_json(result, out)
    say(f'torch.compile section skipped: {torch_text}')
    return
  if plan['dry_run'] and usable:  # shared CPUs: no threads spinning
    sys.modules['torch'].set_num_threads(1)
  args = benchmark.parse_args([
      f'--steps={plan["steps"]}', f'--warmup={plan["warmup"]}',
      f'--torch={plan[variant + "_torch"] if usable else "none"}',
      f'--torch_compile_backend={plan["torch_compile_backend"]}',
      f'--torch_compile_mode={plan["torch_compile_mode"]}',
      f'--max_contention={plan["max_contention"]}', '--flops=none'])
  dtypes = plan['dtypes' if variant == 'steps' else 'compile_dtypes']
  peaks = {}
  for dtype in dtypes:
    peaks[dtype], out['peak'][dtype] = benchmark.device_peak(dtype)
  say(f'peak for MFU: {out["peak"]}; {torch_text}')
  write_json(result, out)
  longest = plan['min_case_s']
  for batch in plan['batches']:
    for dtype in dtypes:
      case = f'{plan["arch"]}:{batch}'
      if time.time() + longest > deadline:
        out['skipped'].append({'case': case, 'dtype': dtype, 'why': (
            f'time budget: {deadline - time.time():.0f} s left, a case '
            f'takes up to {longest:.0f} s')})
        say(f'{case} {dtype}: skipped, {out["skipped"][-1]["why"]}')
        write_json(result, out)
        continue
      say(f'{case} {dtype}')
      start = time.time()
      try:
        config = benchmark.make_config(plan['arch'], batch, dtype)
        variants = (benchmark.parse_torch_variants(args.torch) if usable
                    else [])
        rows = benchmark.time_case(config, case, variants, args, device,
                                   peaks[dtype])
      except Exception as e:  # pylint: disable=broad-except
        out['errors'].append({'case': case, 'dtype': dtype,
                              'error': describe_error(e)})
        say(f'{case} {dtype} failed: {out["errors"][-1]["error"]}')
        traceback.print_exc()
        _free_memory()
        write_json(result, out)
        continue
      took = time.time() - start
      longest = max(longest, took)
      for row in rows:
        row.update(dtype=dtype, case_s=took)
      out['rows'] += rows
      write_json(result, out)
      benchmark.print_rows(rows)
      _free_memory()
  if variant == 'steps':  # the compile section's JAX rows repeat these
    count_flops(plan, out, result, deadline, peaks)


def count_flops(plan: dict[str, Any], out: dict[str, Any], result: str,
                deadline: float, peaks: dict[str, float]) -> None:
  """The JAX rows' FLOPs, FLOP/s and MFU, once every case is timed.

  `benchmark.jax_step_flops` compiles each case's step for the CPU (XLA's
  GPU cost analysis does not count cuDNN's convolutions), some seconds a
  case, so the timings come first; a count that would not end before the
  deadline is left out with a message.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import benchmark  # pylint: disable=g-import-not-at-top
  longest = 0.0
  for row in out['rows']:
    if row['impl'] != 'jax' or 'error' in row:
      continue
    case, dtype = row['case'], row['dtype']
    if time.time() + max(longest * 1.5, 15.0) > deadline:
      out['skipped'].append({'case': case, 'dtype': dtype, 'why': (
          f'JAX FLOP count: time budget, {deadline - time.time():.0f} s '
          'left')})
      say(f'{case} {dtype}: {out["skipped"][-1]["why"]}')
      write_json(result, out)
      continue
    start = time.time()
    config = benchmark.make_config(plan['arch'], int(case.split(':')[1]),
                                   dtype)
    flops = benchmark.jax_step_flops(config, 'cpu', jax.device_count())
    longest = max(longest, time.time() - start)
    row.update(benchmark.flop_figures(flops, row['median_s'], peaks[dtype]))
    say(f'{case} {dtype}: JAX step {row["gflop"]:.1f} GFLOP '
        f'({row["gflops_per_s"] * 1e-3:.1f} TFLOP/s, MFU {row["mfu"]:.1%}; '
        f'counted on the CPU in {time.time() - start:.0f} s)')
    write_json(result, out)


def profile_child(plan: dict[str, Any], result: str,
                  deadline: float) -> None:
  """A `jax.profiler` trace of the step at each profile batch, summarised:
  time per kind of operation, the longest operations, busy share, MFU."""
  from benchmarks import benchmark  # pylint: disable=g-import-not-at-top
  from benchmarks import trace_summary  # pylint: disable=g-import-not-at-top
  dtype = plan['profile_dtype']
  peak, how = benchmark.device_peak(dtype)
  out = {'dtype': dtype, 'peak': how, 'cases': {}, 'skipped': [],
         'errors': []}
  write_json(result, out)
  for batch in plan['profile_batches']:
    case = f'{plan["arch"]}:{batch}'
    if time.time() + plan['min_case_s'] > deadline:
      out['skipped'].append({'case': case, 'why': 'time budget'})
      say(f'profile {case}: skipped, time budget')
      continue
    say(f'profile {case} {dtype}')
    try:
      config = benchmark.make_config(plan['arch'], batch, dtype)
      runner = benchmark.jax_runner(config, 'project', 'cpu')  # + FLOPs
      trace_dir = os.path.join(plan['trace_dir'], f'{plan["arch"]}_{batch}')
      wall = trace_summary.profile_step(runner.step, trace_dir,
                                        plan['profile_steps'])
      summary = trace_summary.summarise(trace_dir, plan['profile_steps'],
                                        runner.flops, peak, wall)
    except Exception as e:  # pylint: disable=broad-except
      out['errors'].append({'case': case, 'error': describe_error(e)})
      say(f'profile {case} failed: {out["errors"][-1]["error"]}')
      _free_memory()
      write_json(result, out)
      continue
    summary.update(compile_s=runner.compile_s, trace_dir=trace_dir)
    out['cases'][case] = summary
    say(f'profile {case}: {wall * 1e3:.2f} ms/step, operations '
        f'{summary.get("ops_s", 0) * 1e3:.2f} ms, MFU '
        f'{summary.get("mfu", float("nan")):.1%}; {summary.get("kinds")}')
    write_json(result, out)
    _free_memory()


def child_main(args: argparse.Namespace) -> None:
  plan = read_json(args.plan)
  common.set_start(plan['t0'])
  if args.child == 'environment':
    environment_child(plan, args.result, args.deadline)
  elif args.child == 'profile':
    profile_child(plan, args.result, args.deadline)
  elif args.child in ('steps', 'compile'):
    steps_child(plan, args.result, args.deadline,
                'eager' if args.child == 'steps' else 'compile')
  else:
    raise ValueError(f'no section {args.child!r}')


# --------------------------------------------------------------------------
# The parent: sections in turn, within the budget.
# --------------------------------------------------------------------------


class SectionTimeout(Exception):
  """A section's process ran past its deadline and was stopped."""


class SectionFailed(Exception):
  """A section's process exited with an error."""


def run_process(cmd: list[str], deadline: float,
                env: dict[str, str] | None = None) -> None:
  """Runs `cmd` (output to ours) until it ends or `deadline` passes.

  Raises:
    SectionTimeout: it was still running at `deadline` (its process group
      is then sent SIGTERM, and SIGKILL 10 s later).
    SectionFailed: it exited with a non-zero status.
  """
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
  try:
    rc = proc.wait(timeout=max(deadline - time.time(), 1.0))
  except subprocess.TimeoutExpired:
    _stop(proc)
    raise SectionTimeout(f'stopped at its deadline, after '
                         f'{common.since_start():.0f} s of the run') from None
  finally:
    if proc.poll() is None:  # Ctrl-C, or an error here
      _stop(proc)
  if rc:
    raise SectionFailed(f'exit status {rc} (its output is above)')


def _stop(proc: subprocess.Popen) -> None:
  for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
    try:
      os.killpg(proc.pid, sig)
      proc.wait(timeout=wait)
      return
    except ProcessLookupError:
      return
    except subprocess.TimeoutExpired:
      continue


@dataclasses.dataclass
class Section:
  """One part of the run: `run(deadline)` returns its results (a dict) or
  raises; `partial()` returns what it left if it raised."""
  name: str
  run: Callable[[float], dict[str, Any]]
  partial: Callable[[], dict[str, Any]] = dict
  cap: float = 1.0  # fractions of the budget
  reserve: float = 0.0


def run_sections(
    sections: list[Section], budget: float, start: float,
    stop: Callable[[dict[str, Any]], str | None] = lambda results: None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
  """Runs `sections` in turn within `budget` seconds from `start`.

  Each section may take `cap * budget` seconds, less the `reserve * budget`
  kept for each later section; one that cannot get its own reserve is
  skipped. A section that raises is reported, its partial results kept, and
  the next one runs.

  Args:
    sections: what to run, in order.
    budget: seconds for all of them.
    start: when the budget started (time.time()).
    stop: called with the results after each section; a message from it
      skips the sections after.

  Returns:
    ({name: results}, [{'section', 'status', 'wall_s', 'message'}]) with
    status 'ok', 'failed', 'timeout' or 'skipped'.
  """
  results, timeline, why_not = {}, [], None
  for i, section in enumerate(sections):
    now = time.time()
    later = sum(s.reserve for s in sections[i + 1:]) * budget
    available = start + budget - now - later
    entry = {'section': section.name, 'status': 'ok', 'message': '',
             'start_s': now - start}
    if why_not:
      entry.update(status='skipped', wall_s=0.0, message=why_not)
      timeline.append(entry)
      continue
    if available < max(section.reserve * budget, 1.0):
      entry.update(status='skipped', wall_s=0.0, message=(
          f'time budget: {max(available, 0):.0f} s left for it after '
          f'keeping {later:.0f} s for the sections after it; it needs '
          f'{section.reserve * budget:.0f} s (--budget)'))
      say(f'== {section.name}: skipped, {entry["message"]}')
      timeline.append(entry)
      continue
    deadline = now + min(section.cap * budget, available)
    say(f'== {section.name} (until +{deadline - start:.0f} s)')
    try:
      results[section.name] = section.run(deadline)
    except Exception as e:  # pylint: disable=broad-except
      ours = isinstance(e, (SectionTimeout, SectionFailed))
      if not ours:
        traceback.print_exc()
      entry.update(status='timeout' if isinstance(e, SectionTimeout)
                   else 'failed', message=str(e) if ours
                   else describe_error(e))
      results[section.name] = section.partial()
    entry['wall_s'] = time.time() - now
    say(f'== {section.name}: {entry["status"]} in {entry["wall_s"]:.0f} s'
        + (f' ({entry["message"]})' if entry['message'] else ''))
    timeline.append(entry)
    why_not = stop(results)
    if why_not:
      say(f'Stopping: {why_not}')
  return results, timeline


def child_env(scratch: str) -> dict[str, str]:
  """Our environment, plus: JAX and PyTorch share the device, so JAX takes
  memory as it needs it; compilations are cached across the sections (in
  this run's `scratch`: the compile times reported are first compiles)."""
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join(
      filter(None, [ROOT, env.get('PYTHONPATH')]))
  env.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')
  env.setdefault('JAX_COMPILATION_CACHE_DIR',
                 os.path.join(scratch, 'jax_cache'))
  env.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '1')
  return env


def child_section(name: str, plan_path: str, scratch: str) -> Section:
  """A section run by this module in its own process."""
  result = os.path.join(scratch, f'{name}.json')

  def run(deadline: float) -> dict[str, Any]:
    run_process([sys.executable, '-m', 'benchmarks.gpu', f'--child={name}',
                 f'--plan={plan_path}', f'--result={result}',
                 f'--deadline={deadline}'], deadline + 10, child_env(scratch))
    return read_json(result)

  cap, reserve = SHARES[name]
  return Section(name, run, lambda: read_json(result), cap, reserve)


def train_command(plan: dict[str, Any], workdir: str,
                  inception_weights: str | None) -> list[str]:
  """main.py on configs/celeba.py reading the synthetic folder."""
  fid = (['--config.eval.fid_features=inception',
          f'--config.eval.inception_weights={inception_weights}']
         if inception_weights else ['--config.eval.fid_features=none'])
  return [
      sys.executable, os.path.join(ROOT, 'main.py'),
      f'--config={os.path.join(ROOT, "configs", "celeba.py")}',
      f'--workdir={workdir}', '--config.data.name=folder',
      f'--config.data.path={plan["images"]}',
      f'--config.data.cache_dir={plan["cache"]}',
      f'--config.train.num_steps={plan["train_steps"]}',
      f'--config.train.log_every={plan["train_log_every"]}',
      '--config.eval.every=0', *fid,
      *[f'--config.{kv}' for kv in plan['train_set']]]


def train_figures(workdir: str) -> dict[str, Any]:
  """Steps/s of a run's log: the median after the first interval."""
  path = os.path.join(workdir, 'metrics.jsonl')
  records = []
  if os.path.exists(path):
    with open(path) as f:
      records = [json.loads(l) for l in f if l.strip()]
  records = [r for r in records if 'perf/steps_per_sec' in r]
  config = read_json(os.path.join(workdir, 'config.json'))
  batch = config.get('train', {}).get('batch_size')
  out = {'log_records': len(records),
         'last_step': records[-1]['step'] if records else 0,
         'batch_size': batch,
         'dtype': config.get('model', {}).get('dtype')}
  rates = [r['perf/steps_per_sec'] for r in records[1:]]
  if rates:
    rate = statistics.median(rates)
    out.update(steps_per_s=rate, s_per_step=1 / rate,
               images_per_s=rate * batch if batch else float('nan'),
               first_interval_s=(records[0]['step']
                                 / records[0]['perf/steps_per_sec']))
  return out


def train_section(plan: dict[str, Any], scratch: str,
                  inception_weights: str | None) -> Section:
  workdir = os.path.join(scratch, 'train')

  def run(deadline: float) -> dict[str, Any]:
    cmd = train_command(plan, workdir, inception_weights)
    say(' '.join(cmd[1:]))
    run_process(cmd, deadline, child_env(scratch))
    out = train_figures(workdir)
    if 'steps_per_s' not in out:
      raise SectionFailed(f'{workdir}/metrics.jsonl has no steps/s after '
                          'the first log interval')
    return out

  cap, reserve = SHARES['train']
  return Section('train', run, lambda: train_figures(workdir), cap, reserve)


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def _num(value: Any, digits: int = 0, scale: float = 1.0) -> str:
  """`value * scale` with thousands separators; '-' for None or NaN."""
  if not isinstance(value, (int, float)) or not math.isfinite(value):
    return '-'
  return f'{value * scale:,.{digits}f}'


def _percent(value: Any) -> str:
  text = _num(value, 1, 100)
  return text if text == '-' else text + '%'


IMPL = {'jax': '**JAX**', 'torch eager': 'PyTorch eager',
        'torch eager-cl': 'PyTorch eager, channels-last',
        'torch compile': 'PyTorch `torch.compile`',
        'torch compile-cl': 'PyTorch `torch.compile`, channels-last'}


def step_table(results: dict[str, Any]) -> list[str]:
  """Markdown rows of every case: JAX and PyTorch eager from the steps
  section, `torch.compile` from the compile section."""
  steps = results.get('steps', {}).get('rows', [])
  compiled = [r for r in results.get('compile', {}).get('rows', [])
              if r['impl'] != 'jax']
  backend = results.get('compile', {}).get('torch_compile_backend')
  impl = dict(IMPL)
  if backend not in (None, 'inductor'):
    for name in ('torch compile', 'torch compile-cl'):
      impl[name] += f' (backend {backend!r})'
  lines = ['| case | dtype | implementation | compile s | ms/step | '
           'images/s | step time / JAX\'s | GFLOP/step | TFLOP/s | MFU | '
           'memory |', '|' + '---|' * 11]
  order = lambda r: (int(r['case'].split(':')[1]), r['dtype'],
                     list(IMPL).index(r['impl']))
  previous = None
  for r in sorted(steps + compiled, key=order):
    arch, batch = r['case'].split(':')
    key = (r['case'], r['dtype'])
    label = (f'`{arch}`, batch {batch} | {r["dtype"]}' if key != previous
             else ' | ')
    previous = key
    if 'error' in r:
      lines.append(f'| {label} | {impl[r["impl"]]} | failed: '
                   f'{r["error"][:80]} |||||||')
      continue
    breaks = r.get('graph_breaks')
    name = impl[r['impl']] + (f' ({breaks} graph breaks)'
                              if breaks is not None else '')
    lines.append(
        f'| {label} | {name} | {_num(r["compile_s"], 1)} | '
        f'{_num(r["median_s"], 2, 1e3)} | {_num(r["images_per_s"])} | '
        f'{_num(r.get("vs_jax"), 2)} | {_num(r["gflop"])} | '
        f'{_num(r["gflops_per_s"], 1, 1e-3)} | {_percent(r["mfu"])} | '
        f'{r["memory"]} |')
  return lines


def _jax_rate(results: dict[str, Any], batch: int, dtype: str) -> float:
  for r in results.get('steps', {}).get('rows', []):
    if (r['impl'] == 'jax' and r['case'].endswith(f':{batch}')
        and r['dtype'] == dtype and 'error' not in r):
      return r['images_per_s'] or float('nan')
  return float('nan')


def pipeline_lines(results: dict[str, Any], plan: dict[str, Any]
                   ) -> list[str]:
  pipeline = results.get('pipeline')
  if not pipeline:
    return ['Input pipeline: not measured.']
  lines = [f'Input pipeline ({pipeline["source"]}, data.num_threads='
           f'{pipeline["num_threads"]}): first preparation '
           f'{_num(pipeline["prepare_images_per_s"])} images/s.', '',
           '| batch | loader images/s | ' + ' | '.join(
               f'JAX step images/s, {d} | loader / step, {d}'
               for d in plan['dtypes']) + ' |',
           '|' + '---|' * (2 + 2 * len(plan['dtypes']))]
  for batch, rate in pipeline['reads'].items():
    cells = []
    for dtype in plan['dtypes']:
      step = _jax_rate(results, int(batch), dtype)
      cells += [_num(step), _num(rate / step if step else None, 1)]
    lines.append(f'| {batch} | {_num(rate)} | ' + ' | '.join(cells) + ' |')
  return lines


def train_lines(results: dict[str, Any], plan: dict[str, Any]) -> list[str]:
  train = results.get('train', {})
  if 'steps_per_s' not in train:
    return ['Training run: not measured.']
  step = _jax_rate(results, train['batch_size'], train['dtype'])
  alone = (f'; the benchmarked step alone: {_num(step)} images/s, so the '
           f'loop runs at {_num(train["images_per_s"] / step * 100)}% of it'
           if math.isfinite(step) else '')
  return [f'Training (`main.py --config=configs/celeba.py`, '
          f'{train["dtype"]}, batch {train["batch_size"]}, '
          f'{train["last_step"]:,} of {plan["train_steps"]:,} steps on the '
          f'synthetic folder): median {_num(train["steps_per_s"], 1)} '
          f'steps/s after the first log interval = '
          f'{_num(train["s_per_step"] * 1e3, 2)} ms/step, '
          f'{_num(train["images_per_s"])} images/s{alone}.']


def profile_lines(results: dict[str, Any]) -> list[str]:
  """The profile section's summaries (`trace_summary.table`)."""
  from benchmarks import trace_summary  # pylint: disable=g-import-not-at-top
  profile = results.get('profile', {})
  lines = []
  for case, summary in profile.get('cases', {}).items():
    lines += ['', f'Profile of `{case}` in {profile["dtype"]} '
              f'(`jax.profiler`, {summary.get("trace_dir", "")}): '
              f'{summary.get("wall_s", float("nan")) * 1e3:.2f} ms/step, '
              f'operations {summary.get("ops_s", float("nan")) * 1e3:.2f} '
              f'ms ({summary.get("busy", float("nan")):.0%} busy), MFU '
              f'{summary.get("mfu", float("nan")):.1%} of {profile["peak"]}.',
              '', *trace_summary.table(summary)]
  for e in profile.get('errors', []):
    lines.append(f'- profile: {e["case"]} failed: {e["error"]}')
  return lines


def markdown(results: dict[str, Any], plan: dict[str, Any]) -> str:
  env = results.get('environment', {})
  peak = results.get('steps', {}).get('peak', {})
  lines = [f'### {env.get("device", "unknown device")}, '
           f'{datetime.date.today().isoformat()}', '',
           f'Versions: {env.get("versions", {})}; {env.get("torch", "")}. '
           f'Peak for MFU: {peak}. Medians of {plan["steps"]} interleaved '
           f'steps after {plan["warmup"]} warm-up steps.', '',
           *step_table(results), '', *pipeline_lines(results, plan), '',
           *train_lines(results, plan), '', 'Sections: ' + '; '.join(
               f'{t["section"]} {t["status"]} ({t["wall_s"]:.0f} s)'
               + (f': {t["message"]}' if t['message'] else '')
               for t in results['timeline']) + '.']
  lines += profile_lines(results)
  for name in ('steps', 'compile'):
    for s in results.get(name, {}).get('skipped', []):
      lines.append(f'- {name}: {s.get("case", "")} {s.get("dtype", "")} '
                   f'skipped: {s["why"]}')
    for e in results.get(name, {}).get('errors', []):
      lines.append(f'- {name}: {e["case"]} {e["dtype"]} failed: '
                   f'{e["error"]}')
  return '\n'.join(lines) + '\n'


# --------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------


def no_gpu(results: dict[str, Any]) -> str | None:
  """Why the GPU sections cannot run, once the environment is known."""
  env = results.get('environment', {}).get('environment')
  if not env:
    return 'the environment section found no device (its output is above)'
  if env['backend'] != 'gpu':
    return (f'JAX has no GPU here (backend: {env["backend"]}): install '
            'jax[cuda12] (or jax[cuda13]) with a CUDA driver, or pass '
            '--dry-run')
  return None


def make_plan(args: argparse.Namespace, scratch: str) -> dict[str, Any]:
  plan = dict(DRY_PLAN if args.dry_run else GPU_PLAN)
  plan.update(t0=common.start_time(), dry_run=args.dry_run,
              images=os.path.join(scratch, 'images'),
              cache=os.path.join(scratch, 'cache'),
              train_set=plan['train_set'] + args.train_set)
  if args.budget is not None:
    plan['budget'] = args.budget
  return plan


def write_folder(plan: dict[str, Any]) -> None:
  from benchmarks import data_benchmark  # pylint: disable=g-import-not-at-top
  os.makedirs(plan['images'])
  start = time.time()
  data_benchmark.write_jpegs(plan['images'], plan['jpegs'])
  say(f'wrote {plan["jpegs"]} synthetic 218x178 JPEGs in '
      f'{time.time() - start:.1f} s')


def main(argv=None) -> int:
  args = parse_args(argv)
  if args.child:
    child_main(args)
    return 0
  missing = missing_modules()
  for module, package in missing.items():
    say(f'MISSING: {module} (pip install {package}); the sections need it')
  for module, what in OPTIONAL.items():
    if importlib.util.find_spec(module) is None:
      say(f'not installed: {what}')
  out = args.out or os.path.join(
      ROOT, 'workdirs', 'gpu_benchmark',
      datetime.datetime.now().strftime('%Y%m%d-%H%M%S'))
  os.makedirs(out, exist_ok=True)
  scratch = tempfile.mkdtemp(prefix='vaegan_gpu_benchmark_')
  plan = make_plan(args, scratch)
  plan['trace_dir'] = os.path.join(out, 'traces')
  plan_path = os.path.join(scratch, 'plan.json')
  write_json(plan_path, plan)
  say(f'{"dry run (CPU, tiny sizes)" if args.dry_run else "GPU run"}; '
      f'budget {plan["budget"]:.0f} s; results in {out}')
  wanted = set(args.sections.split(',')) | {'environment'}
  results = {'command': sys.argv, 'plan': plan, 'missing': missing}
  try:
    try:
      write_folder(plan)
    except Exception as e:  # pylint: disable=broad-except
      say(f'the synthetic folder could not be written: {describe_error(e)}')
    sections = [child_section('environment', plan_path, scratch)]
    if 'steps' in wanted:
      sections.append(child_section('steps', plan_path, scratch))
    if 'train' in wanted:
      sections.append(train_section(plan, scratch, args.inception_weights))
    if 'profile' in wanted:
      sections.append(child_section('profile', plan_path, scratch))
    if 'compile' in wanted:
      sections.append(child_section('compile', plan_path, scratch))
    ran, timeline = run_sections(
        sections, plan['budget'], plan['t0'],
        stop=lambda ran: None if args.dry_run else no_gpu(ran))
    environment = ran.pop('environment', {})
    results.update(environment=environment.get('environment', {}),
                   pipeline=environment.get('pipeline', {}), **ran,
                   timeline=timeline, wall_s=common.since_start())
  finally:
    if not args.keep:
      shutil.rmtree(scratch, ignore_errors=True)
  write_json(os.path.join(out, 'gpu_benchmark.json'), results)
  table = markdown(results, plan)
  with open(os.path.join(out, 'gpu_benchmark.md'), 'w') as f:
    f.write(table)
  print('\n' + table, flush=True)
  say(f'done in {common.since_start():.0f} s; {out}/gpu_benchmark.json and '
      'gpu_benchmark.md')
  bad = [t for t in results['timeline'] if t['status'] in ('failed',
                                                           'timeout')]
  no_device = not args.dry_run and no_gpu(
      {'environment': {'environment': results.get('environment')}})
  return 1 if bad or missing or no_device else 0


if __name__ == '__main__':
  sys.exit(main())
