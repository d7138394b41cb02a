"""Two processes on localhost (`--distributed`), as on two hosts: training
with evaluations (pictures, digits FID, precision and recall), checkpoints,
a stop and a resume, then --mode=evaluate and --mode=sample."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests import helpers
from vaegan_jax.run import train
from vaegan_jax.output import writers

# A short schedule for the digits classifier: this checks the wiring across
# processes, not the classifier.
_SHORT_CLASSIFIER = ('from vaegan_jax.metrics import digits_classifier, '
                     'quality\n'
                     'quality.CLASSIFIER_SETTINGS = digits_classifier.Settings('
                     'num_steps=30)\n')
# main.py, as the command line runs it.
_MAIN = (_SHORT_CLASSIFIER + 'import runpy, sys\n'
         'sys.argv[0] = "main.py"\n'
         'runpy.run_path("main.py", run_name="__main__")\n')
# In one start (one compilation of the networks), the library calls of
# main.py's three modes: train (resuming), evaluate, sample.
_MODES = (_SHORT_CLASSIFIER + 'import json, sys\n'
          'import jax\n'
          'from absl import logging\n'
          'logging.use_absl_handler()\n'
          'logging.set_verbosity(logging.INFO)\n'
          'from vaegan_jax.run import modes\n'
          'from vaegan_jax.run import train\n'
          'from configs import test\n'
          'address, count, index, workdir, overrides = sys.argv[1:6]\n'
          'jax.distributed.initialize(address, int(count), int(index))\n'
          'config = test.get_config()\n'
          'for key, value in json.loads(overrides).items():\n'
          '  section, field = key.split(".")\n'
          '  config[section][field] = value\n'
          'train.train_and_evaluate(config, workdir)\n'
          'modes.evaluate_checkpoint(config, workdir, "latest")\n'
          'modes.sample_checkpoint(config, workdir, "latest", 5, 0)\n')
_LOSSES = ('loss/kl', 'loss/llike', 'loss/gan_d', 'loss/gan_g')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _run_two_processes(command, timeout=300):
  """`command(address, process_id)` in 2 processes of 1 CPU device each;
  both must exit 0 without a traceback. Returns their outputs."""
  address = f'localhost:{_free_port()}'
  procs = [subprocess.Popen(
      command(address, i), cwd=helpers.ROOT,
      env=helpers.subprocess_env(JAX_NUM_CPU_DEVICES='1'),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  try:
    outputs = [proc.communicate(timeout=timeout)[0] for proc in procs]
  except subprocess.TimeoutExpired:
    for proc in procs:
      proc.kill()
    pytest.fail(f'Timed out after {timeout}s:\n' + '\n'.join(
        f'process {i}:\n{proc.communicate()[0][-3000:]}'
        for i, proc in enumerate(procs)))
  for i, (proc, out) in enumerate(zip(procs, outputs)):
    assert proc.returncode == 0, f'process {i}:\n{out[-6000:]}'
    assert 'Traceback' not in out, f'process {i}:\n{out[-6000:]}'
  return outputs


def _losses(path):
  return {r['step']: [r[k] for k in _LOSSES]
          for r in writers.read_jsonl(str(path)) if 'loss/kl' in r}


_OVERRIDES = {
    'train.log_every': 1, 'train.checkpoint_every': 1, 'eval.every': 2,
    'eval.fid_features': 'digits', 'eval.num_examples': 64,
    'eval.num_fid_samples': 64, 'eval.batch_size': 32}


@pytest.mark.slow
def test_two_processes_train_evaluate_resume_and_sample(tmp_path):
  workdir = tmp_path / 'run'
  overrides = {**_OVERRIDES,
               'eval.classifier_dir': str(tmp_path / 'classifier')}
  # main.py --distributed: 2 steps, an evaluation, checkpoints, a stop.
  _run_two_processes(lambda address, i: [
      sys.executable, '-c', _MAIN, '--config=configs/test.py',
      f'--workdir={workdir}', '--distributed',
      f'--coordinator_address={address}', '--num_processes=2',
      f'--process_id={i}', '--config.train.num_steps=2',
      *[f'--config.{k}={v}' for k, v in overrides.items()]])
  # Resume to step 4 (evaluating there), then evaluate and sample.
  outputs = _run_two_processes(lambda address, i: [
      sys.executable, '-c', _MODES, address, '2', str(i), str(workdir),
      json.dumps({**overrides, 'train.num_steps': 4})])
  for out in outputs:
    assert 'Resuming from the checkpoint at step 2.' in out
  records = writers.read_jsonl(str(workdir / 'metrics.jsonl'))
  # Written by process 0 only: each step once.
  assert [r['step'] for r in records if 'loss/kl' in r] == [1, 2, 3, 4]
  evals = [r for r in records if 'eval/fid' in r]
  assert [r['step'] for r in evals] == [2, 4]
  for r in evals:
    assert np.isfinite(r['eval/fid'])
    assert 0 <= r['eval/precision'] <= 1 and 0 <= r['eval/recall'] <= 1
  assert (workdir / 'samples_8x8.png').exists()
  assert sorted(os.listdir(workdir / 'checkpoints'))[-1] == '4'
  with open(workdir / 'evaluation' / 'step_4' / 'eval_metrics.json') as f:
    evaluated = json.load(f)
  np.testing.assert_allclose(evaluated['fid'], evals[-1]['eval/fid'],
                             rtol=1e-4)
  samples = np.load(workdir / 'samples' / 'step_4_seed_0.npy')
  assert samples.shape == (5, 28, 28, 1) and np.isfinite(samples).all()
  assert (workdir / 'samples' / 'step_4_seed_0.png').exists()

  # The same losses as one process with the same global batch.
  reference = helpers.tiny_config(train__num_steps=4, train__log_every=1,
                                  eval__every=0, eval__num_examples=64,
                                  eval__batch_size=32)
  train.train_and_evaluate(reference, str(tmp_path / 'one'))
  one, two = _losses(tmp_path / 'one' / 'metrics.jsonl'), _losses(
      workdir / 'metrics.jsonl')
  assert sorted(one) == sorted(two) == [1, 2, 3, 4]
  # Two processes sum the batch in another order than one: after three
  # updates the losses differ by up to 2.3e-4 (relative) under the tests'
  # XLA flags, while steps on other images differ by over 10%.
  np.testing.assert_allclose([two[s] for s in one], [one[s] for s in one],
                             rtol=1e-3, atol=1e-6)
