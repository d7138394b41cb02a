"""CelebA 64x64 with the settings of Larsen et al. (2016)."""

from configs import default


def get_config():
  return default.get_config()
