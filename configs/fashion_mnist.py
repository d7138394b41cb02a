"""Fashion-MNIST (TFDS): the digits settings on 28x28 grayscale clothes."""

from configs import mnist


def get_config():
  config = mnist.get_config()
  config.data.name = 'fashion_mnist'
  return config
