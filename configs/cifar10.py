"""CIFAR-10 (TFDS) at 32x32: the CelebA settings and networks, flipped."""

from configs import default


def get_config():
  config = default.get_config()
  config.data.name = 'cifar10'
  config.data.image_size = 32
  config.data.channels = 3
  config.data.crop = 'none'
  config.data.random_flip = True
  return config
