"""A trained VAE-GAN on numpy arrays, for notebooks and scripts.

    import vaegan_jax
    model = vaegan_jax.load('workdirs/mnist')          # latest checkpoint
    codes, _ = model.encode(images)   # [N, H, W, C]: float in [-1, 1] or uint8
    images = model.decode(codes)
    path = model.interpolate(images[0], images[1], steps=10, method='slerp')

Nothing here touches the trainer: the model is the config the run wrote to
its workdir and the parameters of one of its checkpoints.
"""

import ml_collections
import numpy as np

from vaegan_jax.model import inference
from vaegan_jax.store import restore
from vaegan_jax.model import state as state_lib
from vaegan_jax.store import workdir as workdir_lib


class TrainedModel:
  """Encode, decode, sample, interpolate and edit attributes with a model.

  Images are numpy arrays [N, H, W, C] of the model's size: float in
  [-1, 1], or uint8 in [0, 255] (converted as the data pipeline and the
  metrics convert a pixel: u / 127.5 - 1); codes are [N, D]. Decoded images
  are float in [-1, 1]. A conditional model (`config.model.conditional`)
  takes `conditions` with them: int class labels [N] or float [N, K]
  (one-hot or attribute vectors). Any other input is a ValueError of one
  line saying what is expected.

  Attributes:
    config: the run's configuration.
    state: the checkpoint's train state.
    step: the checkpoint's step.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               state: state_lib.TrainState, step: int):
    self.config, self.state, self.step = config, state, step
    self._infer = inference.Inference(config,
                                      batch_size=config.eval.batch_size)

  def encode(self, images: np.ndarray, conditions: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior (mean, logvar) of q(z|x) for each image."""
    return self._infer.encode(self.state, images, conditions)

  def decode(self, codes: np.ndarray,
             conditions: np.ndarray | None = None) -> np.ndarray:
    """Images decoded from codes (by the decoder's moving average where the
    run keeps one, `config.model.ema_decay`)."""
    return self._infer.decode(self.state, codes, conditions)

  def reconstruct(self, images: np.ndarray,
                  conditions: np.ndarray | None = None) -> np.ndarray:
    """Decodes each image's posterior mean (by the decoder itself)."""
    return self._infer.reconstruct(self.state, images, conditions)

  def sample(self, num: int, seed: int = 0,
             conditions: np.ndarray | None = None) -> np.ndarray:
    """Decodes `num` codes drawn from the prior N(0, I) (a conditional
    model's cycle through the classes unless `conditions` are given)."""
    return self._infer.sample(self.state, num, seed, conditions)

  def interpolate(self, image_a: np.ndarray, image_b: np.ndarray,
                  steps: int = 10, method: str = 'linear') -> np.ndarray:
    """Decodes `steps` codes between the posterior means of two images.

    Args:
      image_a, image_b: [H, W, C] images.
      steps: number of images, both ends included.
      method: 'linear' or 'slerp' (spherical).

    Returns:
      [steps, H, W, C].
    """
    means, _ = self.encode(np.stack([image_a, image_b]))
    return self.decode(inference.interpolate(means[0], means[1], steps,
                                             method))

  def attribute_vector(self, images: np.ndarray,
                       has_attribute: np.ndarray) -> np.ndarray:
    """Mean code of the images with an attribute minus those without.

    Args:
      images: [N, H, W, C].
      has_attribute: [N] booleans (or 0/1).

    Returns:
      [D] attribute vector.
    """
    means, _ = self.encode(images)
    mask = np.asarray(has_attribute).reshape(-1, 1).astype(np.int32)
    return inference.attribute_vectors(means, mask)[0]

  def apply_attribute(self, images: np.ndarray, vector: np.ndarray,
                      scale: float = 1.0) -> np.ndarray:
    """Decodes the images' codes plus `scale` times an attribute vector."""
    means, _ = self.encode(images)
    return self.decode(means + scale * np.asarray(vector)[None])


def load(workdir: str, checkpoint: str | int = 'latest') -> TrainedModel:
  """Loads a trained model from a run's workdir.

  Args:
    workdir: the directory the run wrote (config.json, checkpoints/).
    checkpoint: 'latest', 'best' or a step number.

  Returns:
    The model.
  """
  config = workdir_lib.read_config(workdir)
  state, step = restore.restore_run(config, workdir, checkpoint)
  return TrainedModel(config, state, step)
