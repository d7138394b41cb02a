"""The network widths of each architecture, the one place they are written.

`config.model.arch` names a row of `ARCHITECTURES`; `config.model` fields
left at None take the row's values (`resolve`), and a run writes the
resolved values into its config.json (`with_architecture`).
"""

from typing import Any

import ml_collections

ARCHITECTURES: dict[str, dict[str, Any]] = {
    'larsen64': dict(
        latent_dim=128,
        encoder_widths=(64, 128, 256),
        encoder_dense=1024,
        decoder_widths=(256, 128, 32),
        decoder_base_width=256,
        discriminator_widths=(32, 128, 256, 256),
        discriminator_dense=512,
        dis_feature_layer=4,
    ),
    'digits': dict(
        latent_dim=32,
        encoder_widths=(32, 64),
        encoder_dense=256,
        decoder_widths=(64, 32),
        decoder_base_width=64,
        discriminator_widths=(16, 32, 64),
        discriminator_dense=256,
        dis_feature_layer=3,
    ),
}

def resolve(model_config: ml_collections.ConfigDict) -> dict[str, Any]:
  """`config.model` with every field left at None taken from its `arch`."""
  if model_config.arch not in ARCHITECTURES:
    raise ValueError(
        f'Unknown config.model.arch={model_config.arch!r}; choose one of '
        f'{sorted(ARCHITECTURES)}.')
  resolved = dict(ARCHITECTURES[model_config.arch])
  for key in resolved:
    if model_config.get(key) is not None:
      resolved[key] = model_config[key]
  return resolved


def with_architecture(config: ml_collections.ConfigDict
                      ) -> ml_collections.ConfigDict:
  """A copy of `config` whose `model` fields left at None hold its arch's
  values, so that what a run writes (config.json) shows every width."""
  config = config.copy_and_resolve_references()
  config.model.update(resolve(config.model))
  return config


def latent_dim(config: ml_collections.ConfigDict) -> int:
  """The latent size of `config`'s model."""
  return resolve(config.model)['latent_dim']
