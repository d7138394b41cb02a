"""A run written by the release before the package's reorganisation
(tests/fixtures/run_9491773, commit 9491773) resumes under the current code
to the same losses, and --mode=sample reads it.

The fixture's step-4 record is the log interval's mean over steps 1 to 4 of
the uninterrupted run (config.train.log_every=50). The resume logs each step
(log_every=1): its steps 3 and 4 must equal a fresh run's under the current
code, whose steps 1 to 4 average to the fixture's record. The bundled digits
are split as that release split them with config.data.validation_size=0
(the default, 500 validation digits, takes them out of the training digits).
"""

import os
import shutil

import numpy as np
import pytest

from tests import helpers
from vaegan_jax.output import writers
from vaegan_jax.run import modes
from vaegan_jax.run import opening
from vaegan_jax.run import train

FIXTURE = os.path.join(helpers.ROOT, 'tests', 'fixtures', 'run_9491773')
LOSSES = ('loss/kl', 'loss/llike', 'loss/gan_d', 'loss/gan_g',
          'loss/encoder', 'loss/decoder', 'loss/discriminator')
# The fixture was written without the tests' XLA flags (conftest.py): the
# same arithmetic, compiled differently, rounds differently, and two steps
# on a state rounded differently differ by up to 2.3e-4 (the KL, relative);
# a resume on other digits (validation_size=500) differs by 5%.
RTOL = 1e-3


def _copy(tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(FIXTURE, workdir)
  return workdir


def _config():
  # optim.lr: the release's default, which trained the fixture.
  return helpers.tiny_config(train__num_steps=4, train__checkpoint_every=2,
                             train__log_every=1, data__validation_size=0,
                             optim__lr=3e-4)


def _losses(workdir):
  return {r['step']: np.array([r[k] for k in LOSSES]) for r in
          writers.read_jsonl(str(workdir / writers.METRICS_FILE))
          if 'loss/kl' in r}


@pytest.mark.slow  # two 4-step runs, about 40 s
def test_an_old_run_resumes_to_the_same_losses(tmp_path, caplog):
  workdir = _copy(tmp_path)
  caplog.set_level('INFO')
  train.train_and_evaluate(_config(), str(workdir))
  assert 'Resuming from the checkpoint at step 2.' in caplog.text
  assert not (workdir / 'checkpoints' / 'damaged').exists()
  resumed = _losses(workdir)
  assert sorted(resumed) == [3, 4]

  fresh_dir = tmp_path / 'fresh'
  train.train_and_evaluate(_config(), str(fresh_dir))
  fresh = _losses(fresh_dir)
  for step in (3, 4):
    np.testing.assert_allclose(resumed[step], fresh[step], rtol=RTOL)
  (expected,) = [r for r in writers.read_jsonl(
      os.path.join(FIXTURE, 'expected_metrics.jsonl')) if 'loss/kl' in r]
  np.testing.assert_allclose(
      np.mean([fresh[s] for s in (1, 2, 3, 4)], axis=0),
      [expected[k] for k in LOSSES], rtol=RTOL)


def test_sample_reads_an_old_run_filling_the_fields_added_since(tmp_path,
                                                                caplog):
  workdir = _copy(tmp_path)
  caplog.set_level('INFO')
  config = opening.run_config(str(workdir), defaults=helpers.tiny_config())
  assert 'config.json predates' in caplog.text
  path = modes.sample_checkpoint(config, str(workdir), 'latest', num=4)
  assert path.endswith('step_2_seed_0.png') and os.path.exists(path)
  samples = np.load(workdir / 'samples' / 'step_2_seed_0.npy')
  assert samples.shape == (4, 28, 28, 1) and np.isfinite(samples).all()
