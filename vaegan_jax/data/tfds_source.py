"""TFDS image datasets by name, read through `tfds.data_source`.

`tfds.data_source` gives random access to data prepared as ArrayRecord files
and decodes images with Pillow, so training needs no TensorFlow (preparing a
dataset once does: `tfds build`). tensorflow-datasets is an extra:
`pip install -e ".[tfds]"`. Tested with 'mnist', 'fashion_mnist',
'cifar10' and 'celeb_a'; any TFDS dataset with an 'image' feature works.
CelebA keeps its 40 binary attributes, and trains on 'train+validation' with
'test' held out, as Larsen et al. (2016).
"""

import os

import ml_collections
import numpy as np

from vaegan_jax.data import preprocess
from vaegan_jax.errors import DataError

# Splits of the original protocols; datasets not listed use these defaults.
TRAIN_SPLITS = {'celeb_a': 'train+validation'}
DEFAULT_TRAIN_SPLIT = 'train'
DEFAULT_EVAL_SPLIT = 'test'


def split_name(config: ml_collections.ConfigDict, split: str) -> str:
  """The TFDS split of 'train' or 'eval': config.data's, else the table's."""
  data = config.data
  if split == 'train':
    return data.get('train_split') or TRAIN_SPLITS.get(data.name,
                                                       DEFAULT_TRAIN_SPLIT)
  return data.get('eval_split') or DEFAULT_EVAL_SPLIT


def _not_prepared(name: str, data_dir: str | None, why: str) -> DataError:
  where = data_dir or os.environ.get('TFDS_DATA_DIR') or '~/tensorflow_datasets'
  dir_flag = f' --data_dir={data_dir}' if data_dir else ''
  if name == 'celeb_a':
    files = ('--config.data.name=folder '
             '--config.data.path=/path/to/img_align_celeba '
             '--config.data.attributes_file=/path/to/list_attr_celeba.txt '
             '--config.data.partition_file=/path/to/list_eval_partition.txt '
             "(TFDS's CelebA download is often unavailable)")
  else:
    files = '--config.data.name=folder --config.data.path=/path/to/images'
    if name == 'mnist':
      files += " (or --config.data.name=bundled_mnist: 5,000 digits, no download)"
  return DataError(
      f"TFDS dataset '{name}' is not prepared for random access in {where} "
      f'({why}). Prepare it once (TensorFlow is needed for this step only): '
      f'pip install tensorflow && tfds build {name} '
      f'--file_format=array_record{dir_flag} ; or point '
      '--config.data.tfds_data_dir at the directory that holds it; or train '
      f'on image files: {files}.')


def open_split(config: ml_collections.ConfigDict, split: str):
  """Opens a split without downloading anything.

  Args:
    config: the run's configuration (`config.data.{name, tfds_data_dir}`).
    split: 'train' or 'eval'.

  Returns:
    The `tfds.data_source` of the split.

  Raises:
    DataError: the name is unknown, or the split is not prepared.
  """
  name, data_dir = config.data.name, config.data.get('tfds_data_dir')
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError(
        f"config.data.name='{name}' is neither 'bundled_mnist' nor 'folder', "
        'so it names a TFDS dataset, which needs tensorflow-datasets: '
        'pip install -e ".[tfds]"') from None
  tfds_split = split_name(config, split)
  try:
    return tfds.data_source(name, split=tfds_split, data_dir=data_dir,
                            download=False)
  except tfds.core.registered.DatasetNotFoundError:
    raise DataError(
        f"config.data.name='{name}' is neither 'bundled_mnist', 'folder' nor "
        'a TFDS dataset (e.g. mnist, fashion_mnist, cifar10, celeb_a).'
    ) from None
  except Exception:  # pylint: disable=broad-except
    # TFDS fails in many ways on data that is not there; say what to do.
    raise _unreadable(name, data_dir, tfds_split, split) from None


def _unreadable(name: str, data_dir: str | None, tfds_split: str,
                split: str) -> DataError:
  """The error for a dataset TFDS knows but cannot open."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
    available = list(builder.info.splits.keys()) if builder.is_prepared(
    ) else None
  except Exception:  # pylint: disable=broad-except
    available = None
  if available is None:
    return _not_prepared(name, data_dir, 'no prepared files were found')
  wanted = {part.split('[')[0] for part in tfds_split.split('+')}
  if not wanted <= set(available):
    return DataError(
        f"TFDS dataset '{name}' has no split '{tfds_split}' (it has "
        f'{sorted(available)}); set config.data.{split}_split.')
  return _not_prepared(
      name, data_dir,
      'it is prepared as TFRecord files, which allow no random access')


class TfdsSource:
  """Examples of one TFDS split, decoded and preprocessed on access.

  Attributes:
    attribute_names: the names of the 'attributes' columns, or None.
    num_classes: the number of 'label' classes, or None.
  """

  def __init__(self, data_source, settings: preprocess.Settings):
    features = data_source.dataset_info.features
    keys = list(features.keys())
    if 'image' not in keys:
      raise DataError(f"TFDS dataset '{data_source.dataset_info.name}' has "
                      f"no 'image' feature (it has {keys}).")
    shape = features['image'].shape
    if shape and None not in shape[:2]:  # fixed-size images: check the crop
      preprocess.crop_box(settings.crop, shape[1], shape[0])
    self._ds = data_source
    self._settings = settings
    self._has_label = 'label' in keys
    self.num_classes = (int(features['label'].num_classes)
                        if self._has_label else None)
    self.attribute_names = (list(features['attributes'].keys())
                            if 'attributes' in keys else None)

  def __len__(self) -> int:
    return len(self._ds)

  def __getitem__(self, indices) -> dict[str, np.ndarray]:
    # One item at a time: every data source supports it.
    examples = [self._ds[int(i)] for i in indices]
    out = {'image': np.stack([
        preprocess.process_array(e['image'], self._settings)
        for e in examples])}
    if self._has_label:
      out['label'] = np.array([e['label'] for e in examples], np.int32)
    if self.attribute_names:
      out['attributes'] = np.array(
          [[e['attributes'][k] for k in self.attribute_names]
           for e in examples], np.int32).reshape(len(examples), -1)
    return out


def source(config: ml_collections.ConfigDict, split: str) -> TfdsSource:
  """The TFDS split of 'train' or 'eval', preprocessed to `config.data`'s
  settings.

  Args:
    config: the run's configuration.
    split: 'train' or 'eval'.

  Returns:
    A `TfdsSource`.
  """
  return TfdsSource(open_split(config, split),
                    preprocess.settings_from_config(config))
