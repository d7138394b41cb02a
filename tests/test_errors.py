"""Every bad input gets a clear error: what was wrong and what to do.

One table per kind of input: config fields (`validation`), data, the
workdir and checkpoints, library calls, and the command line. Each row is
what a user does wrong and a pattern its message must match.
"""

import importlib.util
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from flax import serialization
from PIL import Image

import vaegan_jax
from configs import celeba
from configs import mnist
from tests import helpers
from vaegan_jax.run import cli
from vaegan_jax import data
from vaegan_jax import errors
from vaegan_jax.run import evaluate
from vaegan_jax.store import export
from vaegan_jax.model import inference
from vaegan_jax.model import losses
from vaegan_jax.run import modes
from vaegan_jax import parallel
from vaegan_jax.output import sample_files
from vaegan_jax.model import state as state_lib
from vaegan_jax.model import algorithm as step_lib
from vaegan_jax.run import train
from vaegan_jax.run import validation
from vaegan_jax.output import writers
from experiments import definitions
from experiments import runner
from tools import convert_inception
from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import inception_weights
from tools import pth
from vaegan_jax.metrics import quality

# --------------------------------------------------------------------------
# Config fields: `validation.validate`, before anything is read or written.
# --------------------------------------------------------------------------

CONFIG_CASES = [
    ({'loss__objective': 'wgan'}, r"config.loss.objective='wgan' must be one "
     r"of \('vaegan'"),
    ({'loss__gan': 'hinge'}, 'equilibrium_gating=False'),
    ({'loss__gan': 'wgan_gp', 'loss__equilibrium_gating': False},
     'dis_norm=layer'),
    ({'loss__blend_lambda': 1.5}, r'blend_lambda=1.5 must be in \[0, 1\]'),
    ({'loss__gamma': -1.0}, 'gamma=-1.0 must be a number >= 0'),
    ({'loss__n_critic': 0}, 'n_critic=0 must be an integer >= 1'),
    ({'loss__recon': 'l3'}, 'config.loss.recon'),
    ({'loss__recon_reduction': 'max'}, 'config.loss.recon_reduction'),
    ({'loss__recon': 'bce'}, "recon='bce' is a likelihood of pixels .* "
     'Dis_l, which are not probabilities'),
    ({'loss__objective': 'vae_then_gan', 'loss__pretrain_steps': 10},
     'pretrain_steps=10 .* between 0 and config.train.num_steps=4'),
    ({'model__dis_norm': 'group'}, 'config.model.dis_norm'),
    ({'model__arch': 'resnet'}, 'config.model.arch'),
    ({'model__init': 'orthogonal'}, 'config.model.init'),
    ({'model__latent_dim': 0}, 'latent_dim=0 must be an integer >= 1'),
    ({'model__dis_feature_layer': 5}, 'dis_feature_layer=5 must name one '
     r'of the discriminator\'s 3 convolutions'),
    ({'model__decoder_widths': ()}, 'decoder_widths=.* non-empty tuple'),
    ({'data__image_size': 30}, 'image_size=30 .* multiple of 4'),
    ({'data__channels': 4}, 'channels=4 must be one of'),
    ({'data__crop': 'square'}, 'config.data.crop'),
    ({'data__random_translate': 0.7}, 'random_translate=0.7'),
    ({'data__holdout_fraction': 1.0}, 'holdout_fraction=1.0'),
    ({'optim__lr': -1e-3}, 'optim.lr=-0.001 must be a number > 0'),
    ({'optim__name': 'sgd'}, 'config.optim.name'),
    ({'optim__schedule': 'cosine'}, 'config.optim.schedule'),
    ({'train__batch_size': 0}, 'batch_size=0 must be an integer >= 1'),
    ({'train__num_steps': 0}, 'num_steps=0 must be an integer >= 1'),
    ({'train__log_every': 0}, 'log_every=0 must be an integer >= 1'),
    ({'train__checkpoint_every': 0}, 'checkpoint_every=0'),
    ({'train__prefetch_to_device': 0}, 'prefetch_to_device=0'),
    ({'train__profile_steps': -1}, 'profile_steps=-1 must be an integer >= 0'),
    ({'eval__every': -1}, 'eval.every=-1 must be an integer >= 0'),
    ({'eval__fid_features': 'clip'}, 'config.eval.fid_features'),
    ({'eval__fid_features': 'digits', 'data__image_size': 32},
     "fid_features='digits' needs 28x28"),
    ({'eval__fid_features': 'inception'}, 'convert_inception'),
    ({'init_networks': ('generator',)},
     r"init_networks=\('generator',\) must be a non-empty tuple of names "
     r"from \('encoder'"),
    ({'init_from': ''}, "init_from='' must be the path of a run"),
    ({'eval__fid_reference': 'test'},
     r"fid_reference='test' must be one of \('eval', 'train'\)"),
    ({'eval__best_metric': 'fidd'}, "best_metric='fidd' must be ''.*'fid'"),
    ({'eval__best_metric': 'kl'},
     r"best_metric='kl' must be .*'precision' \(higher is better\)"),
    ({'eval__num_examples': 4}, 'num_examples=4 must be an integer >= 8'),
]


@pytest.mark.parametrize('overrides,message', CONFIG_CASES)
def test_config_field(overrides, message):
  top = {k: overrides.pop(k) for k in list(overrides) if '__' not in k}
  config = helpers.tiny_config(**overrides)
  config.update(top)
  with pytest.raises(errors.ConfigError, match=message):
    validation.validate(config, device_count=1, process_count=1)


def test_config_lists_every_problem_at_once():
  config = helpers.tiny_config(train__log_every=0, optim__lr=0.0)
  with pytest.raises(errors.ConfigError,
                     match='(?s)problems.*optim.lr=0.0.*log_every=0'):
    validation.validate(config, device_count=1, process_count=1)


@pytest.mark.parametrize('devices,processes,message', [
    (4, 1, 'batch_size=6 does not split evenly across the 4 devices'),
    (1, 4, 'batch_size=6 does not split evenly across the 4 processes'),
])
def test_config_batch_against_devices(devices, processes, message):
  config = helpers.tiny_config(train__batch_size=6)
  with pytest.raises(errors.ConfigError, match=message):
    validation.validate(config, device_count=devices,
                        process_count=processes)


def test_shipped_configs_are_valid():
  from configs import cifar10, default, fashion_mnist, test  # pylint: disable=g-import-not-at-top,g-multiple-import
  for module in (celeba, cifar10, default, fashion_mnist, mnist, test):
    validation.validate(module.get_config(), device_count=1, process_count=1)


# --------------------------------------------------------------------------
# Data.
# --------------------------------------------------------------------------


def _folder_config(tmp_path, path, **fields):
  config = celeba.get_config()
  config.data.update({'name': 'folder', 'path': path and str(path),
                      'crop': 'none',
                      'image_size': 8, 'cache_dir': str(tmp_path / 'cache'),
                      **fields})
  config.train.batch_size = 2
  return config


def _images(root, count, size=(12, 10)):
  root.mkdir(parents=True, exist_ok=True)
  for i in range(count):
    Image.new('RGB', size, (i, 2 * i, 3 * i)).save(root / f'{i}.png')
  return root


def _unprepared_tfds(tmp_path, name):
  config = mnist.get_config() if name == 'mnist' else celeba.get_config()
  config.data.update(name=name, tfds_data_dir=str(tmp_path))
  return data.check(config)


def _mock_tfds_celeba_crop(tmp_path):
  del tmp_path
  config = mnist.get_config()
  config.data.update(name='mnist', crop='celeba_148')
  with tfds.testing.mock_data(num_examples=8,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    data.check(config)


def _evaluator(config, tmp_path):
  return evaluate.Evaluator(config, str(tmp_path), parallel.make_mesh(),
                            writers.MetricWriter(str(tmp_path), False))


def _attribute_file(tmp_path):
  bad = tmp_path / 'bad_attr.txt'
  bad.write_text('2\nMale Smiling\n0.png 1 -1\n1.png 1 0\n')
  config = _folder_config(tmp_path, _images(tmp_path / 'im', 2),
                          attributes_file=str(bad))
  data.eval_data(config)


def _conditional_without_labels(tmp_path):
  config = _folder_config(tmp_path, _images(tmp_path / 'im', 4))
  config.model.conditional = True
  data.with_conditions(config)


DATA_CASES = [
    ('folder path unset', lambda t: data.check(_folder_config(t, None)),
     '--config.data.path=/path/to/images'),
    ('folder missing', lambda t: data.check(_folder_config(t, t / 'none')),
     'does not exist'),
    ('folder is a file', lambda t: (
        (t / 'f').write_text('x'), data.check(_folder_config(t, t / 'f'))),
     'is a file'),
    ('folder empty', lambda t: (
        (t / 'e').mkdir(), data.check(_folder_config(t, t / 'e'))),
     'is empty'),
    ('folder without images', lambda t: (
        (t / 'x').mkdir(), (t / 'x' / 'a.txt').write_text('x'),
        data.check(_folder_config(t, t / 'x'))), 'No images under'),
    ('folder all unreadable', lambda t: (
        (t / 'b').mkdir(), (t / 'b' / '0.png').write_bytes(b'\x89PNG no'),
        data.train_iterator(_folder_config(t, t / 'b'))),
     'None of the 1 image files.*0.png: '),
    ('attribute file line', _attribute_file, 'line 4'),
    ('celeba crop of another size', lambda t: data.train_data(_folder_config(
        t, _images(t / 'im', 2), crop='celeba_148')),
     "'celeba_148' is for CelebA's 178x218"),
    ('tfds unprepared', lambda t: _unprepared_tfds(t, 'mnist'),
     'tfds build mnist --file_format=array_record'),
    ('tfds celeb_a unprepared', lambda t: _unprepared_tfds(t, 'celeb_a'),
     'list_attr_celeba.txt'),
    ('tfds unknown name', lambda t: _unprepared_tfds(t, 'not_a_dataset'),
     "neither 'bundled_mnist'"),
    ('tfds celeba crop on digits', _mock_tfds_celeba_crop, 'not 28x28'),
    ('conditional without labels', _conditional_without_labels,
     'needs class labels or attributes.*conditional=False'),
    ('held-out split smaller than an evaluation', lambda t: _evaluator(
        _folder_config(t, _images(t / 'im', 10), holdout_fraction=0.1), t),
     'has 1 images; the evaluation needs at least 8'),
]


@pytest.mark.parametrize('what,make,message', DATA_CASES,
                         ids=[c[0] for c in DATA_CASES])
def test_data(tmp_path, what, make, message):
  del what
  with pytest.raises(errors.DataError, match=message):
    make(tmp_path)


def test_a_tfds_dataset_without_tfds_names_the_extra(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'tensorflow_datasets', None)
  config = mnist.get_config()
  config.data.name = 'mnist'
  with pytest.raises(errors.DataError, match=r'TFDS .*pip install -e '
                     r'"\.\[tfds\]"'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_batch_larger_than_the_training_split_names_both_numbers(tmp_path):
  config = _folder_config(tmp_path, _images(tmp_path / 'im', 3),
                          holdout_fraction=0.0)
  config.train.batch_size = 64
  with pytest.raises(errors.DataError, match='batch_size=64.*3 training'):
    data.check(config)


# --------------------------------------------------------------------------
# Workdirs and checkpoints.
# --------------------------------------------------------------------------


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  """A workdir with checkpoints at steps 2 and 3."""
  path = str(tmp_path_factory.mktemp('run'))
  config = helpers.tiny_config(train__num_steps=3, train__checkpoint_every=2,
                               eval__every=0, train__log_every=1)
  train.train_and_evaluate(config, path)
  return path


@pytest.mark.slow  # a whole training run
def test_resume_with_other_shapes_names_the_arrays_and_changes(run_dir):
  config = helpers.tiny_config(train__num_steps=6, model__latent_dim=4,
                               eval__every=0)
  with pytest.raises(errors.CheckpointMismatch,
                     match=r'(?s)latent_dim: 8 -> 4.*--workdir'):
    train.train_and_evaluate(config, run_dir)


def test_warm_start_with_other_shapes_names_the_arrays_and_fields(run_dir,
                                                                  tmp_path):
  config = helpers.tiny_config(model__latent_dim=4, eval__every=0)
  config.init_from = run_dir
  with pytest.raises(errors.CheckpointMismatch,
                     match=r'(?s)encoder/params/mean/kernel: init_from '
                     r'\(32, 8\), this run \(32, 4\).*model.latent_dim: 8 -> 4'
                     r'.*config.init_networks'):
    train.train_and_evaluate(config, str(tmp_path / 'new'))
  assert not os.listdir(tmp_path / 'new' / 'checkpoints')  # none saved


def test_warm_start_from_a_directory_that_is_no_run(tmp_path):
  config = helpers.tiny_config(eval__every=0)
  config.init_from = str(tmp_path / 'nothing')
  with pytest.raises(errors.WorkdirError,
                     match="init_from=.*nothing' is neither the workdir"):
    train.train_and_evaluate(config, str(tmp_path / 'new'))


def test_missing_checkpoint_lists_the_steps_there_are(run_dir):
  with pytest.raises(errors.WorkdirError, match=r'No checkpoint 7 .*\[2, 3\]'):
    modes.sample_checkpoint(helpers.tiny_config(), run_dir, 7)


def test_load_of_a_directory_that_is_no_run(tmp_path):
  with pytest.raises(errors.WorkdirError, match='not the workdir of a'):
    vaegan_jax.load(str(tmp_path))


@pytest.mark.parametrize('url,fix', [
    ('gs://bucket/run', r'needs the gcsfs package: pip install -e "\.\[gcs\]"'),
    ('s3://bucket/run', 'needs the s3fs package: pip install s3fs')])
def test_a_workdir_on_cloud_storage_without_its_file_system(monkeypatch, url,
                                                            fix):
  find_spec = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *args: None if
                      name in ('gcsfs', 's3fs', 'tensorflow')
                      else find_spec(name, *args))
  with pytest.raises(errors.WorkdirError, match=f'{url} is on .*{fix}'):
    train.train_and_evaluate(helpers.tiny_config(), url)
def _a_file(tmp_path):
  (tmp_path / 'file').write_text('x')
  return str(tmp_path / 'file')


def _unknown_attributes(tmp_path):
  attributes = tmp_path / 'attr.txt'
  attributes.write_text('2\nMale Smiling\n' + ''.join(
      f'{i}.png 1 -1\n' for i in range(20)))
  config = _folder_config(tmp_path, _images(tmp_path / 'im', 20),
                          attributes_file=str(attributes),
                          holdout_fraction=0.5)
  config.eval.attributes = ('Male', 'Bald')
  _evaluator(config, tmp_path)


def _digits_features(tmp_path, **fields):
  config = helpers.tiny_config(eval__fid_features='digits')
  config.eval.update(fields)
  return config


WORKDIR_CASES = [
    ('train: workdir is a file', lambda t, run: train.train_and_evaluate(
        helpers.tiny_config(), _a_file(t)), errors.WorkdirError,
     'is a file, not a directory'),
    ('evaluate: workdir is a file', lambda t, run: modes.evaluate_checkpoint(
        helpers.tiny_config(), _a_file(t)), errors.WorkdirError,
     'is not a directory'),
    ('sample: workdir without checkpoints', lambda t, run:
     modes.sample_checkpoint(helpers.tiny_config(), str(t)),
     errors.WorkdirError, 'has no checkpoints/ directory'),
    ('--checkpoint=abc', lambda t, run: modes.sample_checkpoint(
        helpers.tiny_config(), run, 'abc'), errors.UserError,
     "--checkpoint='abc' is not a checkpoint: give 'latest', 'best' or a "
     'step number'),
    ('--num_samples=0', lambda t, run: modes.sample_checkpoint(
        helpers.tiny_config(), run, num=0), errors.UserError,
     '--num_samples=0 must be an integer >= 1'),
    ('classifier_dir is a file', lambda t, run: quality.check_files(
        _digits_features(t, classifier_dir=_a_file(t))), errors.ConfigError,
     'classifier_dir=.*file.* is a file; give a directory'),
    ('inception weights empty', lambda t, run: quality.check_files(
        helpers.tiny_config(eval__fid_features='inception',
                            eval__inception_weights=str(
                                (t / 'w.npz', (t / 'w.npz').touch())[0]))),
     errors.BadFileError, r'inception_weights: .*w.npz .* it is empty'),
    ('attributes the data lacks', lambda t, run: _unknown_attributes(t),
     errors.ConfigError, r"names \['Bald'\], which the data does not have"),
]


@pytest.mark.parametrize('what,make,kind,message', WORKDIR_CASES,
                         ids=[c[0] for c in WORKDIR_CASES])
def test_workdir(tmp_path, run_dir, what, make, kind, message):
  del what
  with pytest.raises(kind, match=message):
    make(tmp_path, run_dir)


# --------------------------------------------------------------------------
# Library calls.
# --------------------------------------------------------------------------


def _wrong_batch_shape(tmp_path):
  del tmp_path
  config = helpers.tiny_config()
  state = state_lib.abstract_train_state(config)
  step_lib.make_train_step(config)(state, {'image': jnp.zeros((8, 32, 32, 3))},
                                   jax.random.key(0))


def _with_batch(config, batch_size):
  config.train.batch_size = batch_size
  return config


LIBRARY_CASES = [
    ('train step batch shape', _wrong_batch_shape, ValueError,
     r'\[B, 28, 28, 1\].*\(8, 32, 32, 3\)'),
    ('interpolation method', lambda t: inference.interpolate(
        np.zeros(2), np.ones(2), 3, 'cubic'), ValueError, 'linear.*slerp'),
    ('reconstruction loss', lambda t: losses.reconstruction(
        jnp.zeros((1, 2)), jnp.zeros((1, 2)), 'l3'), ValueError,
     'config.loss.recon'),
    ('gan loss', lambda t: losses.gan_loss('wgan'), ValueError,
     'config.loss.gan'),
    ('batch larger than the data', lambda t: data.check(
        _with_batch(mnist.get_config(), 8000)), errors.DataError,
     'batch_size=8000.*4000'),
    ('digits classifier images', lambda t: digits_classifier.accuracy(
        None, np.zeros((2, 32, 32, 1)), np.zeros(2)), ValueError, '28, 28, 1'),
    ('frechet shapes', lambda t: frechet.fid_from_features(
        np.zeros((4, 3)), np.zeros((4, 2))), ValueError, 'Mismatched'),
    ('inception weights missing', lambda t: inception_weights.load_variables(
        str(t / 'none.npz')), FileNotFoundError,
     'pt_inception-2015-12-05.*convert_inception'),
    ('inception state dict', lambda t: convert_inception.convert_state_dict(
        {'Mixed_5b.foo.weight': np.zeros(2)}), ValueError, 'Unexpected entry'),
    ('conditional model without conditions', lambda t: inference.Inference(
        helpers.tiny_config(model__conditional=True,
                            model__num_conditions=10)).decode(
                                None, np.zeros((1, 8), np.float32)),
     ValueError, 'conditional: pass conditions'),
    ('conditions for an unconditional model', lambda t: inference.Inference(
        helpers.tiny_config()).decode(None, np.zeros((1, 8), np.float32),
                                      np.array([1])),
     ValueError, 'not conditional'),
    ('export file of something else', lambda t: (
        (t / 'x.msgpack').write_bytes(serialization.msgpack_serialize(
            {'a': np.zeros(2)})), export.load(str(t / 'x.msgpack'))),
     ValueError, 'not a model exported by vaegan_jax.*--mode=export'),
    ('sample format', lambda t: sample_files.parse_formats(['gif']),
     ValueError, r"Unknown sample format\(s\) \['gif'\].*'grid'"),
    ('pth file of other objects', lambda t: (
        (t / 'x.pth').write_bytes(b'not a torch file'),
        pth.load_state_dict(str(t / 'x.pth'))), ValueError,
     'Neither a zip archive nor a legacy torch.save'),
    ('experiment run name', lambda t: runner.select(
        definitions.EXPERIMENTS['compare'], ['gann']), ValueError,
     'has no run'),
]


@pytest.mark.parametrize('what,make,kind,message', LIBRARY_CASES,
                         ids=[c[0] for c in LIBRARY_CASES])
def test_library(tmp_path, what, make, kind, message):
  del what
  with pytest.raises(kind, match=message):
    make(tmp_path)


# --------------------------------------------------------------------------
# The command line: one line, exit status 1, no traceback.
# --------------------------------------------------------------------------


def test_unknown_field_message_names_the_override():
  with pytest.raises(AttributeError) as error:  # as the flag parser meets it
    helpers.tiny_config().train.num_stepz  # pylint: disable=pointless-statement
  argv = ['main.py', '--config=configs/mnist.py', '--config.train.num_stepz=3']
  message = cli.unknown_field_message(error.value, argv)
  assert message.startswith('Error: unknown config field in '
                            '--config.train.num_stepz=3')
  assert '\n' not in message


COMMAND_CASES = [
    (['main.py', '--config=configs/test.py', '--config.train.batchsize=3'],
     'batchsize'),
    (['main.py', '--config=configs/test.py', '--config.train.log_every=0'],
     'config.train.log_every=0 must be an integer >= 1'),
    (['-m', 'vaegan_jax.run.prepare_data', '--config=configs/celeba.py',
      '--config.data.name=folder', '--config.data.path=/no/such/dir'],
     'config.data.path=/no/such/dir does not exist'),
    # An experiment checks its run names and every run's config before it
    # measures its floors or makes a folder.
    (['-m', 'experiments', 'gan_los'],
     'gan_los is not an experiment.\nExperiments:\n  compare: '),
    (['-m', 'experiments', 'compare', '--runs=vaegan,gann'],
     "compare has no run ['gann']; its runs are vae,vae_bce,gan,vaegan."),
    (['-m', 'experiments', 'compare', '--config.train.log_every=0'],
     'config.train.log_every=0 must be an integer >= 1'),
    (['-m', 'experiments', 'compare', '--report_only', '--runs=gan'],
     '--runs=gan chooses runs to train, and --report_only trains none'),
]


@pytest.mark.slow
def test_evaluate_of_a_missing_workdir_is_one_line_and_creates_nothing(
    tmp_path):
  workdir = tmp_path / 'no_such_run'
  proc = subprocess.run(
      [sys.executable, 'main.py', '--config=configs/test.py',
       '--mode=evaluate', f'--workdir={workdir}'], cwd=helpers.ROOT,
      env=helpers.subprocess_env(), capture_output=True, text=True,
      timeout=300)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 1, out
  assert 'Traceback' not in out, out
  assert out.strip().splitlines()[-1] == (
      f'Error: {workdir} is not a directory: give the --workdir of a run.')
  assert not workdir.exists()


@pytest.mark.slow
@pytest.mark.parametrize('argv,message', COMMAND_CASES)
def test_command(tmp_path, argv, message):
  takes_workdir = argv[0] == 'main.py' or argv[:2] == ['-m', 'experiments']
  proc = subprocess.run([sys.executable, *argv, f'--workdir={tmp_path}']
                        if takes_workdir else [sys.executable, *argv],
                        cwd=helpers.ROOT, env=helpers.subprocess_env(),
                        capture_output=True, text=True, timeout=300)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 1, out
  assert message in out and 'Traceback' not in out, out
  assert not os.listdir(tmp_path)  # nothing written
