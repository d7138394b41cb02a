"""The floors of an experiment's protocol: real images scored as samples.

A model's FID, precision and recall mean little without what real images
reach on the same protocol: the training split's images, scored as if they
were samples against the images the runs are evaluated on (the same
feature network, the same split, the same number of real images). That is
the best FID and the highest precision and recall a model can be expected
to reach there. `write` measures them once per experiment folder into
`floors.json`, which the report reads beside its table, so that
`--report_only` needs nothing else.
"""

import json

import ml_collections
import numpy as np

from vaegan_jax import data
from vaegan_jax import files
from vaegan_jax import metrics
from vaegan_jax.data import arrays

FLOORS_FILE = 'floors.json'
# The metrics kept, with the digits the report shows.
SHOWN = (('fid', 'FID', 1), ('precision', 'precision', 3),
         ('recall', 'recall', 3))


def protocol(config: ml_collections.ConfigDict) -> dict[str, object]:
  """What the floors depend on: the data, its split and the features."""
  return {'data': config.data.name, 'eval_split': arrays.eval_part(config),
          'validation_size': arrays.validation_size(config),
          'num_examples': int(config.eval.num_examples),
          'fid_features': config.eval.fid_features,
          'fid_reference': config.eval.fid_reference}


def measure(config: ml_collections.ConfigDict) -> dict[str, object]:
  """The sample metrics of the training images against the evaluated ones.

  Args:
    config: an experiment's config (its data and `config.eval`).

  Returns:
    {'protocol': `protocol(config)`, 'train_images' and 'eval_images':
    how many images were scored and against how many, 'metrics': name ->
    value}.
  """
  train = data.train_data(config)['image']
  held_out = data.eval_data(config, config.eval.num_examples)['image']
  scores = metrics.SampleQuality(config, held_out)(np.asarray(train))
  return {'protocol': protocol(config), 'train_images': int(len(train)),
          'eval_images': int(len(held_out)),
          'metrics': {k: round(float(v), 6) for k, v in scores.items()}}


def read(root: str) -> dict[str, object] | None:
  """`root`'s floors.json, or None if it has none."""
  path = files.path(root) / FLOORS_FILE
  if not path.exists():
    return None
  return json.loads(path.read_text())


def write(config: ml_collections.ConfigDict, root: str) -> dict[str, object]:
  """Measures the floors into `<root>/floors.json` unless it holds them for
  this protocol already; returns them."""
  found = read(root)
  if found is not None and found.get('protocol') == protocol(config):
    return found
  floors = measure(config)
  files.write_text(str(files.path(root) / FLOORS_FILE),
                   json.dumps(floors, indent=1, sort_keys=True) + '\n')
  return floors


def line(floors: dict[str, object] | None) -> str:
  """The report's sentence on the floors; '' without them."""
  if not floors or not floors.get('metrics'):
    return ''
  values = floors['metrics']
  shown = ', '.join(f'{label} {values[key]:.{digits}f}'
                    for key, label, digits in SHOWN if key in values)
  p = floors['protocol']
  return (f'**Floors.** The {floors["train_images"]:,} real training images '
          f'scored as samples against the {floors["eval_images"]:,} images '
          f'of the {p["eval_split"]} split the runs are scored on: {shown} '
          f'(`{FLOORS_FILE}`): '
          'what real digits reach on this protocol, the best a model can be '
          'expected to.')
