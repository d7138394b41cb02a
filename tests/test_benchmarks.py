"""The GPU benchmark command: its dry run end to end, and how it keeps going
when a section fails, runs out of time or a PyTorch variant cannot run."""

import ast
import importlib.util
import json
import math
import subprocess
import sys
import time

import pytest

from benchmarks import benchmark
from benchmarks import gpu
from tests import helpers

HAS_TORCH = importlib.util.find_spec('torch') is not None


def _positive(value) -> bool:
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_dry_run_reports_every_section(tmp_path):
  out = tmp_path / 'out'
  start = time.time()
  proc = subprocess.run(
      [sys.executable, '-m', 'benchmarks.gpu', '--dry-run', f'--out={out}'],
      cwd=helpers.ROOT, capture_output=True, text=True, timeout=600,
      env=helpers.subprocess_env())
  assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
  print(f'dry run: {time.time() - start:.0f} s')
  results = json.loads((out / 'gpu_benchmark.json').read_text())
  assert [(t['section'], t['status']) for t in results['timeline']] == [
      ('environment', 'ok'), ('steps', 'ok'), ('train', 'ok'),
      ('profile', 'ok'), ('compile', 'ok')]
  assert results['environment']['backend'] == 'cpu'
  pipeline = results['pipeline']
  assert _positive(pipeline['prepare_images_per_s'])
  assert _positive(pipeline['reads']['4'])
  expected = ({'jax', 'torch eager', 'torch eager-cl'} if HAS_TORCH
              else {'jax'})
  # The dry run times float32 steps; its profile runs the bfloat16 step.
  rows = {r['impl']: r for r in results['steps']['rows']}
  assert set(rows) == expected, rows
  for r in rows.values():
    assert r['dtype'] == 'float32'
    for key in ('median_s', 'images_per_s', 'gflop', 'mfu', 'compile_s'):
      assert _positive(r[key]), (r['impl'], key, r[key])
  if HAS_TORCH:  # the dry run compiles float32 only
    compiled = [r for r in results['compile']['rows']
                if r['impl'] == 'torch compile-cl']
    assert [r['dtype'] for r in compiled] == ['float32']
    assert _positive(compiled[0]['vs_jax'])
  train = results['train']
  assert train['last_step'] == 20 and train['log_records'] == 4
  assert _positive(train['steps_per_s']) and _positive(train['s_per_step'])
  profile = results['profile']['cases']['tiny:4']
  assert _positive(profile['ops_s']) and _positive(profile['mfu'])
  assert profile['ops_s'] < 3 * profile['wall_s']  # per step, both
  assert profile['kinds']['convolution'] > 0, profile['kinds']
  table = (out / 'gpu_benchmark.md').read_text()
  assert 'Profile of `tiny:4` in bfloat16' in table
  assert '| `tiny`, batch 4 | float32 | **JAX** |' in table
  assert 'ms/step' in table.split('Training')[1]
  assert table in proc.stdout  # the tables are printed too


def _section(name, run, reserve=0.0):
  return gpu.Section(name, run, partial=lambda: {'partial': name},
                     cap=1.0, reserve=reserve)


def _fail(deadline):
  raise RuntimeError('RESOURCE_EXHAUSTED: Out of memory allocating 9 GiB')


def test_a_failing_section_is_reported_and_the_next_one_runs():
  results, timeline = gpu.run_sections(
      [_section('a', _fail), _section('b', lambda deadline: {'ok': 1})],
      budget=60, start=time.time())
  assert [t['status'] for t in timeline] == ['failed', 'ok']
  assert timeline[0]['message'].startswith('out of memory: ')
  assert results == {'a': {'partial': 'a'}, 'b': {'ok': 1}}


def test_sections_get_deadlines_within_the_budget_and_the_rest_is_skipped():
  deadlines = {}

  def record(name):
    def run(deadline):
      deadlines[name] = deadline
      return {}
    return run

  start = time.time()
  _, timeline = gpu.run_sections(
      [_section('a', record('a'), reserve=0.1),
       _section('b', record('b'), reserve=0.5),
       _section('c', record('c'), reserve=0.2)], budget=100, start=start)
  # 'a' leaves the 70 s the two after it need; 'b' leaves 20 s for 'c'.
  assert deadlines['a'] == pytest.approx(start + 30, abs=1)
  assert deadlines['b'] == pytest.approx(start + 80, abs=1)
  assert deadlines['c'] == pytest.approx(start + 100, abs=1)
  _, timeline = gpu.run_sections(
      [_section('late', record('late'), reserve=0.5),
       _section('next', record('next'), reserve=0.1)],
      budget=100, start=start - 60)  # 40 s left: 'late' needs 50
  assert [t['status'] for t in timeline] == ['skipped', 'ok']
  assert 'time budget' in timeline[0]['message']


def test_a_stop_message_skips_the_sections_after():
  _, timeline = gpu.run_sections(
      [_section('a', lambda d: {'backend': 'cpu'}),
       _section('b', lambda d: {})], budget=60, start=time.time(),
      stop=lambda results: 'no GPU' if 'a' in results else None)
  assert [(t['status'], t['message']) for t in timeline] == [
      ('ok', ''), ('skipped', 'no GPU')]


def test_no_gpu_stops_a_gpu_run_on_a_cpu():
  assert 'JAX has no GPU' in gpu.no_gpu(
      {'environment': {'environment': {'backend': 'cpu'}}})
  assert 'no device' in gpu.no_gpu({'environment': {}})
  assert gpu.no_gpu({'environment': {'environment': {'backend': 'gpu'}}}) \
      is None


def _alive(pid: int) -> bool:
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().split(')')[1].split()[0] != 'Z'  # not a zombie
  except OSError:
    return False


def test_a_process_past_its_deadline_is_stopped_with_its_children(tmp_path):
  pid_file = tmp_path / 'pid'
  code = ('import subprocess, sys, time; p = subprocess.Popen([sys.executable,'
          ' "-c", "import time; time.sleep(60)"]); '
          f'open({str(pid_file)!r}, "w").write(str(p.pid)); time.sleep(60)')
  start = time.time()
  with pytest.raises(gpu.SectionTimeout):
    gpu.run_process([sys.executable, '-c', code], time.time() + 3)
  assert time.time() - start < 15
  grandchild = int(pid_file.read_text())
  for _ in range(50):
    if not _alive(grandchild):
      break
    time.sleep(0.1)
  assert not _alive(grandchild)
  with pytest.raises(gpu.SectionFailed, match='exit status 3'):
    gpu.run_process([sys.executable, '-c', 'import sys; sys.exit(3)'],
                    time.time() + 30)


def test_train_time_per_step_leaves_out_the_compiling_interval(tmp_path):
  rates = [0.5, 10.0, 12.0, 11.0, 2.0]  # first: compilation; last: a save
  with open(tmp_path / 'metrics.jsonl', 'w') as f:
    for i, rate in enumerate(rates):
      f.write(json.dumps({'step': 50 * (i + 1),
                          'perf/steps_per_sec': rate}) + '\n')
  (tmp_path / 'config.json').write_text(json.dumps(
      {'train': {'batch_size': 64}, 'model': {'dtype': 'float32'}}))
  figures = gpu.train_figures(str(tmp_path))
  assert figures['steps_per_s'] == pytest.approx(10.5)  # median of 4
  assert figures['images_per_s'] == pytest.approx(64 * 10.5)
  assert figures['first_interval_s'] == pytest.approx(100)
  assert figures['last_step'] == 250


def _runner(name, fail=False):
  def step():
    if fail:
      raise RuntimeError('CUDA out of memory. Tried to allocate 20.00 GiB')
  return benchmark.Runner(name, step, compile_s=0.0)


def test_a_pytorch_variant_that_cannot_run_is_dropped_and_the_rest_timed():
  runners = [_runner('jax'), _runner('torch eager', fail=True),
             _runner('torch compile')]
  failed = benchmark.time_interleaved(runners, steps=3, warmup=1,
                                      max_contention=1.0)
  assert [r.name for r in runners] == ['jax', 'torch compile']
  assert all(len(r.times) == 3 for r in runners)
  assert 'out of memory' in failed['torch eager']
  with pytest.raises(RuntimeError):  # JAX's failure is the case's failure
    benchmark.time_interleaved([_runner('jax', fail=True)], 3, 1, 1.0)


def test_the_tables_show_failures_and_missing_numbers():
  row = {'case': 'larsen64:64', 'dtype': 'float32', 'compile_s': 10.0,
         'median_s': 0.01, 'images_per_s': 6400.0, 'vs_jax': 1.0,
         'gflop': 968.0, 'gflops_per_s': 96800.0, 'mfu': None,
         'memory': 'XLA buffers 1.8 GiB'}
  results = {
      'environment': {'device': '1 x NVIDIA H200'},
      'steps': {'rows': [{**row, 'impl': 'jax'},
                         {'case': 'larsen64:64', 'dtype': 'float32',
                          'impl': 'torch eager', 'error': 'out of memory'}],
                'errors': [{'case': 'larsen64:1024', 'dtype': 'float32',
                            'error': 'out of memory: RESOURCE_EXHAUSTED'}],
                'skipped': []},
      'timeline': [{'section': 'steps', 'status': 'ok', 'wall_s': 5.0,
                    'message': ''}]}
  text = gpu.markdown(results, gpu.GPU_PLAN)
  assert '| `larsen64`, batch 64 | float32 | **JAX** | 10.0 | 10.00 |' in text
  assert '| - |' in text  # MFU unknown
  assert 'PyTorch eager | failed: out of memory' in text
  assert 'larsen64:1024 float32 failed: out of memory' in text
  assert 'Training run: not measured.' in text


def test_a_case_that_fails_is_reported_and_the_next_case_runs(tmp_path):
  plan = {**gpu.DRY_PLAN, 'dtypes': ['int8', 'float64'], 'dry_run': True}
  result = str(tmp_path / 'steps.json')
  gpu.steps_child(plan, result, time.time() + 60, 'eager')
  out = json.loads(open(result).read())
  assert [(e['case'], e['dtype']) for e in out['errors']] == [
      ('tiny:4', 'int8'), ('tiny:4', 'float64')]
  assert all('model.dtype' in e['error'] for e in out['errors'])
  assert out['rows'] == [] and out['skipped'] == []


def test_cases_past_the_deadline_are_skipped_with_a_message(tmp_path):
  result = str(tmp_path / 'steps.json')
  gpu.steps_child({**gpu.DRY_PLAN, 'dtypes': ['bfloat16', 'float32'],
                   'dry_run': True}, result, time.time() + 1, 'eager')
  out = json.loads(open(result).read())
  assert [(s['case'], s['dtype']) for s in out['skipped']] == [
      ('tiny:4', 'bfloat16'), ('tiny:4', 'float32')]
  assert all('time budget' in s['why'] for s in out['skipped'])
  assert out['rows'] == [] and out['errors'] == []


def _top_level_imports(module) -> set[str]:
  tree = ast.parse(open(module.__file__).read())
  names = set()
  for node in tree.body:
    if isinstance(node, ast.ImportFrom) and node.module:
      names |= {f'{node.module}.{a.name}' for a in node.names}
    elif isinstance(node, ast.Import):
      names |= {a.name for a in node.names}
  return names


def test_benchmark_and_gpu_do_not_import_each_other():
  assert 'benchmarks.gpu' not in _top_level_imports(benchmark)
  assert 'benchmarks.benchmark' not in _top_level_imports(gpu)
  assert 'benchmarks.common' in _top_level_imports(benchmark)
  assert 'benchmarks.common' in _top_level_imports(gpu)


def test_the_headline_ratio_is_against_pytorchs_fastest_variant():
  runner = lambda name, times: benchmark.Runner(
      name, None, times=times, contention=[0.0] * len(times))
  runners = [runner('jax', [1.0, 1.2, 0.9]),
             runner('torch eager', [2.0, 2.4, 1.8]),
             runner('torch eager-cl', [1.25, 1.5, 1.0])]
  rows = {r['impl']: r for r in benchmark.summarise('x:1', runners, 1.0, 1)}
  assert rows['jax']['torch_best'] == 'torch eager-cl'
  assert rows['jax']['vs_torch_best'] == pytest.approx(0.8)
  assert rows['jax']['vs_torch_eager'] == pytest.approx(0.5)


def test_torch_variants_are_checked():
  assert benchmark.parse_torch_variants('eager,eager-cl') == ['eager',
                                                               'eager-cl']
  assert benchmark.parse_torch_variants('none') == []
  with pytest.raises(ValueError, match='unknown variant'):
    benchmark.parse_torch_variants('eager,channels_last')


def test_trace_operations_are_grouped_by_kind():
  from benchmarks import trace_summary  # pylint: disable=g-import-not-at-top
  kinds = {name: trace_summary.kind_of(name) for name in (
      'convolution.44', 'conv_general_dilated.180',
      'sm90_xmma_wgrad_implicit_gemm', 'ynn_fusion.3', 'cutlass_gemm_relu',
      'transpose_copy_fusion.29', 'broadcast_add_fusion', 'loop_add_fusion',
      'convert_convert_fusion.7', 'rng-bit-generator')}
  assert kinds == {
      'convolution.44': 'convolution',
      'conv_general_dilated.180': 'convolution',
      'sm90_xmma_wgrad_implicit_gemm': 'convolution',
      'ynn_fusion.3': 'matmul', 'cutlass_gemm_relu': 'matmul',
      'transpose_copy_fusion.29': 'copy/transpose',
      'broadcast_add_fusion': 'fusion', 'loop_add_fusion': 'fusion',
      'convert_convert_fusion.7': 'fusion', 'rng-bit-generator': 'other'}
  assert 'No profile' in trace_summary.table({'error': 'none'})[0]


def test_the_timed_step_is_the_plain_one_unless_set():
  # configs/mnist.py turns R1, the decoder's average and the minibatch std
  # on; the PyTorch reference has none of them.
  plain = benchmark.make_config('digits', 64, 'float32')
  assert not plain.model.minibatch_std and plain.loss.r1_weight == 0.0
  assert plain.model.ema_halflife_images is None
  featured = benchmark.make_config(
      'digits', 64, 'float32', ('model.minibatch_std=True',
                                'model.ema_halflife_images=10000',
                                'loss.r1_weight=0.1'))
  assert featured.model.minibatch_std and featured.loss.r1_weight == 0.1
  assert featured.model.ema_halflife_images == 10000
  assert not benchmark.make_config(
      'digits', 64, 'float32', ('model.minibatch_std=False',)
  ).model.minibatch_std
