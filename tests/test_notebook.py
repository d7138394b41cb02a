"""examples/explore.ipynb runs on a run's workdir, cell after cell.

The cells are executed in one namespace in a fresh process, as a kernel
would run them (plain Python: the notebook uses no magics), with
matplotlib's non-interactive backend.
"""

import json
import os
import subprocess
import sys

import pytest

from tests import helpers
from vaegan_jax.run import train

NOTEBOOK = os.path.join(helpers.ROOT, 'examples', 'explore.ipynb')

_RUNNER = '''
import json, sys
with open(sys.argv[1]) as f:
  notebook = json.load(f)
namespace = {'__name__': '__main__'}
for i, cell in enumerate(notebook['cells']):
  if cell['cell_type'] == 'code':
    exec(compile(''.join(cell['source']), f'cell {i}', 'exec'), namespace)
print(json.dumps({name: list(namespace[name].shape) for name in
                  ('samples', 'paths', 'reconstructions', 'analogy')}))
'''


def test_the_notebook_is_valid_nbformat_4():
  with open(NOTEBOOK) as f:
    notebook = json.load(f)
  assert notebook['nbformat'] == 4
  kinds = [cell['cell_type'] for cell in notebook['cells']]
  assert set(kinds) == {'markdown', 'code'} and kinds.count('code') >= 4
  for cell in notebook['cells']:
    assert isinstance(cell['source'], list) and cell['metadata'] == {}
    if cell['cell_type'] == 'code':
      assert cell['outputs'] == [] and cell['execution_count'] is None


@pytest.mark.slow
def test_the_notebook_runs_on_a_trained_workdir(tmp_path):
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(helpers.tiny_config(
      train__num_steps=2, eval__every=0, eval__num_examples=64), workdir)
  proc = subprocess.run(
      [sys.executable, '-c', _RUNNER, NOTEBOOK],
      cwd=os.path.join(helpers.ROOT, 'examples'), capture_output=True,
      text=True, timeout=600,
      env=helpers.subprocess_env(VAEGAN_WORKDIR=workdir, MPLBACKEND='Agg'))
  assert proc.returncode == 0, proc.stdout + proc.stderr
  shapes = json.loads(proc.stdout.strip().splitlines()[-1])
  assert shapes == {'samples': [64, 28, 28, 1], 'paths': [20, 28, 28, 1],
                    'reconstructions': [16, 28, 28, 1],
                    'analogy': [1, 28, 28, 1]}
  assert 'step 2, latent dimensions: 8' in proc.stdout
