"""Loss curves from a run's metrics.jsonl, drawn with matplotlib."""

import io

import matplotlib
import numpy as np
from PIL import Image

matplotlib.use('Agg')
from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

PANELS = (
    ('L_prior (KL)', ('loss/kl',)),
    ('L_llike', ('loss/llike',)),
    ('GAN losses', ('loss/gan_d', 'loss/gan_g')),
    ('Discriminator outputs', ('d/real', 'd/recon', 'd/prior')),
    ('Gradient norms', ('grad_norm/encoder', 'grad_norm/decoder',
                        'grad_norm/discriminator')),
)


def loss_curves(records: list[dict[str, float]]) -> np.ndarray:
  """Draws every loss term and D(x), D(x~), D(G(z)) against the step.

  Args:
    records: metrics.jsonl records ({'step': ..., name: value}).

  Returns:
    The figure as uint8 [H, W, 3].
  """
  fig, axes = plt.subplots(1, len(PANELS), figsize=(3.6 * len(PANELS), 3.2))
  for ax, (title, keys) in zip(axes, PANELS):
    for key in keys:
      points = [(r['step'], r[key]) for r in records if key in r]
      if points:
        steps, values = zip(*points)
        ax.plot(steps, values, label=key, linewidth=1)
    if title == 'Gradient norms':
      ax.set_yscale('log')
    ax.set_title(title)
    ax.set_xlabel('step')
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=90)
  plt.close(fig)
  buffer.seek(0)
  return np.asarray(Image.open(buffer).convert('RGB'))
