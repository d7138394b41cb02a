"""A tiny configuration for tests: narrow digits networks, a few steps."""

from configs import mnist


def get_config():
  config = mnist.get_config()
  config.model.latent_dim = 8
  config.model.encoder_widths = (8, 16)
  config.model.encoder_dense = 32
  config.model.decoder_widths = (16, 8)
  config.model.decoder_base_width = 16
  config.model.discriminator_widths = (8, 16, 16)
  config.model.discriminator_dense = 32
  # The original's loss and gating, which the step tests exercise.
  config.loss.gan = 'minimax'
  config.loss.equilibrium_gating = True
  # Algorithm 1 as written: configs/mnist.py's training features off (the
  # tests of R1, the decoder's average and the minibatch std turn them on).
  config.update_from_flattened_dict(mnist.FEATURES_OFF)
  config.train.batch_size = 8
  config.train.num_steps = 4
  config.eval.fid_features = 'none'  # tests that want FID ask for it
  config.eval.num_fid_samples = 256
  config.eval.num_examples = 256
  config.eval.batch_size = 64
  return config
