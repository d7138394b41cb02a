"""A trained model in one self-contained file, readable without the trainer.

`python main.py --mode=export` writes `<workdir>/export/model_step_<N>.msgpack`
(`flax.serialization` msgpack): the three networks' parameters and
BatchNorm statistics as numpy arrays (and the decoder's moving average as
'decoder_ema', where the run keeps one: sample with it), and the model's
configuration as JSON.
Reading it needs flax and this package's `models`, not orbax:

    from vaegan_jax.store import export
    from vaegan_jax.model import networks
    config, variables = export.load('model_step_1000.msgpack')
    decoder = networks.build(config).decoder
    images = decoder.apply(variables['decoder'], z, train=False)
    samples = decoder.apply(export.sampling_decoder(variables), z,
                            train=False)
"""

import json
from typing import Any

import jax
import ml_collections
import numpy as np
from etils import epath
from flax import serialization

from vaegan_jax.model import architectures
from vaegan_jax import files
from vaegan_jax.model import networks
from vaegan_jax.store import workdir

FORMAT = 'vaegan_jax.export'
EMA = 'decoder_ema'  # the decoder's moving average, where the run has one
VERSION = 1


def save(path: str, config: ml_collections.ConfigDict, state: Any,
         step: int) -> None:
  """Writes the networks of `state` and `config` to `path`, atomically.

  Args:
    path: the .msgpack file to write (its directory is created).
    config: the run's configuration.
    state: a TrainState (its `params`, `batch_stats` and `ema` are
      written).
    step: the checkpoint's step.
  """
  variables = {net: {'params': state.params[net],
                     'batch_stats': state.batch_stats[net]}
               for net in networks.NETWORKS}
  if getattr(state, 'ema', None) is not None:
    variables[EMA] = dict(state.ema)
  blob = {
      'format': FORMAT,
      'version': VERSION,
      'step': int(step),
      'config': architectures.with_architecture(config).to_json_best_effort(
          sort_keys=True),
      'variables': jax.tree.map(np.asarray, jax.device_get(variables)),
  }
  files.write_bytes(path, serialization.msgpack_serialize(blob))


def load(path: str) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
  """Reads a file written by `save`.

  Args:
    path: the .msgpack file.

  Returns:
    (config, variables): `variables[net]` is {'params', 'batch_stats'} for
    `networks.build(config).apply(net, variables[net], x, train=False)`.

  Raises:
    ValueError: the file is not an export of this package.
  """
  blob = serialization.msgpack_restore(epath.Path(path).read_bytes())
  if not isinstance(blob, dict) or blob.get('format') != FORMAT:
    raise ValueError(f'{path} is not a model exported by vaegan_jax '
                     '(python main.py --mode=export).')
  config = workdir.config_from_dict(json.loads(blob['config']))
  return config, blob['variables']


def sampling_decoder(variables: dict[str, Any]) -> dict[str, Any]:
  """The decoder's variables to sample with: its moving average where the
  export has one ('decoder_ema'), else the decoder's own."""
  return variables.get(EMA, variables['decoder'])
