"""Memorisation: are samples closer to training images than new images are?

In the FID feature space, each sample's distance to its nearest training
image is set against the same distance of each held-out image, which the
model never saw: a model that copies its training images has samples much
closer to them than held-out images are. Two figures:

  memorisation_share: the fraction of samples closer to a training image
    than the closest 1% of held-out images are (below the 1st percentile of
    the held-out images' nearest-training distances); about 0.01 when
    samples are as novel as new images, 1 when every sample is a copy.
  memorisation_median_ratio: median sample distance / median held-out
    distance; below 1 when samples sit closer to the training images.

`closest_pairs` picks the samples nearest a training image, to be shown
beside it (`pairs_picture`).
"""

import dataclasses

import numpy as np

from vaegan_jax.data import images as images_lib
from vaegan_jax.metrics import precision_recall

PERCENTILE = 1.0
# At most this many training images are compared with (a fixed random
# subset of a larger training split).
MAX_TRAIN_IMAGES = 50_000
PICTURED_PAIRS = 16


@dataclasses.dataclass
class Memorisation:
  """Nearest training images of samples and of held-out images.

  Attributes:
    share: fraction of samples closer than `threshold` to a training image.
    median_ratio: median sample distance / median held-out distance.
    threshold: the `PERCENTILE`-th percentile of held-out distances.
    sample_distances: [M] each sample's distance to its nearest training
      image.
    nearest_train: [M] the index of that training image (a row of the
      training features given).
  """
  share: float
  median_ratio: float
  threshold: float
  sample_distances: np.ndarray
  nearest_train: np.ndarray

  def record(self) -> dict[str, float]:
    """The figures for the evaluation record."""
    return {'memorisation_share': self.share,
            'memorisation_median_ratio': self.median_ratio}


def memorisation(sample_features: np.ndarray, held_out_features: np.ndarray,
                 train_features: np.ndarray, batch_size: int = 1024
                 ) -> Memorisation:
  """How much closer samples are to training images than held-out images.

  Args:
    sample_features: [M, D] features of generated samples.
    held_out_features: [H, D] features of held-out images (not trained on).
    train_features: [N, D] features of training images.
    batch_size: rows per block of the distance computation.

  Returns:
    The figures and each sample's nearest training image.
  """
  nearest, sample_distances = precision_recall.nearest_neighbours(
      sample_features, train_features, batch_size)
  _, held_out_distances = precision_recall.nearest_neighbours(
      held_out_features, train_features, batch_size)
  threshold = float(np.percentile(held_out_distances, PERCENTILE))
  held_out_median = float(np.median(held_out_distances))
  ratio = (float(np.median(sample_distances)) / held_out_median
           if held_out_median > 0 else float('inf'))
  return Memorisation(share=float(np.mean(sample_distances < threshold)),
                      median_ratio=ratio, threshold=threshold,
                      sample_distances=sample_distances,
                      nearest_train=nearest)


def closest_pairs(result: Memorisation, count: int = PICTURED_PAIRS
                  ) -> tuple[np.ndarray, np.ndarray]:
  """The `count` samples nearest a training image, nearest first.

  Returns:
    (sample indices [count], their nearest training rows [count]).
  """
  order = np.argsort(result.sample_distances, kind='stable')[:count]
  return order, result.nearest_train[order]


def pairs_picture(samples: np.ndarray, train_images: np.ndarray,
                  pairs_per_row: int = 4) -> np.ndarray:
  """Each sample beside its nearest training image, in one picture.

  Args:
    samples: [P, H, W, C] samples (float in [-1, 1] or uint8).
    train_images: [P, H, W, C] their nearest training images, same order.
    pairs_per_row: pairs side by side per row.

  Returns:
    uint8 picture: sample, training image, sample, training image, ...
  """
  as_uint8 = lambda x: (x if np.asarray(x).dtype == np.uint8
                        else images_lib.to_uint8(x))
  pairs = np.stack([as_uint8(samples), as_uint8(train_images)], axis=1)
  return images_lib.grid(pairs.reshape(-1, *pairs.shape[2:]),
                         2 * pairs_per_row)
