"""Sample-quality metrics: FID and improved precision and recall.

Features come from a frozen network: the FID Inception-v3 ('inception', the
literature's protocol: 2048-d pool3 features of images resized to 299x299)
or a small classifier of 28x28 digits trained by the project ('digits', an
offline FID for MNIST-like data). Typical use:

  extract = metrics.feature_extractor('inception',
                                      weights_path='inception_fid.npz')
  real, fake = extract(real_images), extract(generated_images)
  metrics.sample_quality(real, fake)  # {'fid', 'precision', 'recall'}

Images are float32 [N, H, W, C] in [-1, 1], as the models produce them, or
uint8; every extractor rounds them to 8 bits first (`quantize`), as a saved
PNG, so that the FID of samples is that of their PNG files.
`SampleQuality(config, held_out_images)` does the same as
`config.eval.fid_features` asks, for the evaluation of a run. `registry`
is the table of every metric an evaluation records (how each is computed,
which way is better, which can select the best checkpoint).
"""

from vaegan_jax.metrics import digits_classifier
from vaegan_jax.metrics import frechet
from vaegan_jax.metrics import inception
from vaegan_jax.metrics import precision_recall
from vaegan_jax.metrics import registry
from vaegan_jax.metrics.extractors import digits_extractor
from vaegan_jax.metrics.extractors import feature_extractor
from vaegan_jax.metrics.extractors import FEATURE_KINDS
from vaegan_jax.metrics.extractors import FeatureFn
from vaegan_jax.metrics.extractors import inception_extractor
from vaegan_jax.metrics.extractors import quantize
from vaegan_jax.metrics.quality import sample_quality
from vaegan_jax.metrics.quality import SampleQuality

__all__ = [
    'FEATURE_KINDS', 'FeatureFn', 'SampleQuality', 'digits_classifier',
    'digits_extractor', 'feature_extractor', 'frechet', 'inception',
    'inception_extractor', 'precision_recall', 'quantize', 'registry',
    'sample_quality',
]
