"""Layers shared by the networks: the upsampling convolution and initialisers.

`ConvTranspose2x` is the decoder's stride-2 transposed convolution. It holds
the same parameters as `flax.linen.ConvTranspose(features, (k, k), strides=2,
padding=((p, p + 1), (p, p + 1)))` with `p = k // 2` (the adjoint of a
stride-2 convolution padded by `p`, doubling height and width, as the original
implementation's deconvolution and PyTorch's
`ConvTranspose2d(k, stride=2, padding=p, output_padding=1)`), and computes the
same function in one of two ways:

* `'lax'`: `lax.conv_transpose`, i.e. a convolution over the input dilated
  with zeros;
* `'subpixel'`: the kernel split into its four stride phases, one stride-1
  convolution producing all four phases as channels, then depth-to-space.
  Nothing is multiplied by the inserted zeros, and the gradient is an
  ordinary convolution gradient, which XLA:CPU computes an order of magnitude
  faster than the gradient of the dilated form.
"""

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Initializer = Callable[..., jax.Array]

CONV_TRANSPOSE_IMPLS = ('subpixel', 'lax')


def uniform_fan_in(gain: float = 1.0) -> Initializer:
  """The original implementation's initialiser: U(±gain / sqrt(3 · fan_in)).

  fan_in is the product of all kernel dimensions but the last (output) one,
  as in `jax.nn.initializers.variance_scaling`.
  """

  def init(key, shape, dtype=jnp.float32):
    fan_in = int(np.prod(shape[:-1]))
    limit = gain / np.sqrt(3.0 * fan_in)
    return jax.random.uniform(key, shape, dtype, -limit, limit)

  return init


KERNEL_INITS: dict[str, Callable[[], Initializer]] = {
    'larsen': uniform_fan_in,
    'lecun_normal': nn.initializers.lecun_normal,
    'xavier_uniform': nn.initializers.xavier_uniform,
    'he_normal': nn.initializers.he_normal,
    'normal_0.02': lambda: nn.initializers.normal(0.02),
}


def kernel_init(name: str) -> Initializer:
  """Returns the kernel initialiser called `name` (see `KERNEL_INITS`)."""
  if name not in KERNEL_INITS:
    raise ValueError(
        f'Unknown config.model.init={name!r}; choose one of '
        f'{sorted(KERNEL_INITS)}.')
  return KERNEL_INITS[name]()


def _phase_taps(kernel_size: int, pad_lo: int) -> list[dict[int, int]]:
  """For output phase a in {0, 1}: {input offset d: kernel index k}.

  The dilated form computes out[y] = sum_k w[k] · in_dilated[y + k - pad_lo],
  where in_dilated[j] = in[j / 2] for even j and 0 otherwise. For
  y = 2m + a only kernel indices k with (a + k - pad_lo) even contribute, and
  they read in[m + (a + k - pad_lo) / 2].
  """
  taps = []
  for a in (0, 1):
    taps.append({(a + k - pad_lo) // 2: k for k in range(kernel_size)
                 if (a + k - pad_lo) % 2 == 0})
  return taps


def subpixel_kernel(kernel: jax.Array, pad_lo: int) -> tuple[jax.Array, int]:
  """Rearranges a [k, k, in, out] transposed-conv kernel into phase form.

  Args:
    kernel: the kernel of the dilated (`lax`) form.
    pad_lo: the padding before the dilated input.

  Returns:
    A [n, n, in, 4 · out] kernel for a stride-1 convolution whose output
    channel (2a + b) · out + c is output phase (a, b), channel c, and the
    offset of its first tap (its 'before' padding).
  """
  k = kernel.shape[0]
  taps = _phase_taps(k, pad_lo)
  offsets = sorted({d for t in taps for d in t})
  lo, n = offsets[0], offsets[-1] - offsets[0] + 1
  # index[a][i] is the kernel index read by phase a at offset lo + i, or k
  # (a zero row appended below) where the phase has no tap there.
  index = np.full((2, n), k)
  for a, t in enumerate(taps):
    for d, kk in t.items():
      index[a, d - lo] = kk
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
  phases = [padded[index[a]][:, index[b]] for a in (0, 1) for b in (0, 1)]
  return jnp.concatenate(phases, axis=-1), -lo


def depth_to_space(x: jax.Array) -> jax.Array:
  """[B, H, W, 4·C] with channel (2a + b)·C + c -> [B, 2H, 2W, C]."""
  b, h, w, c4 = x.shape
  c = c4 // 4
  x = x.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, 2 * h, 2 * w, c)


def conv_transpose_2x(x: jax.Array, kernel: jax.Array, impl: str = 'subpixel',
                      precision: Any = None) -> jax.Array:
  """Stride-2 transposed convolution that doubles height and width.

  Args:
    x: [B, H, W, in] input.
    kernel: [k, k, in, out] kernel (layout of `flax.linen.ConvTranspose`).
    impl: 'subpixel' or 'lax' (see the module docstring); same result.
    precision: passed to the convolution.

  Returns:
    [B, 2H, 2W, out].
  """
  k = kernel.shape[0]
  pad_lo = k // 2
  if impl == 'lax':
    return lax.conv_transpose(
        x, kernel, (2, 2), ((pad_lo, pad_lo + 1),) * 2,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=precision)
  if impl != 'subpixel':
    raise ValueError(f'Unknown conv_transpose impl {impl!r}; choose one of '
                     f'{CONV_TRANSPOSE_IMPLS}.')
  phase_kernel, before = subpixel_kernel(kernel, pad_lo)
  n = phase_kernel.shape[0]
  y = lax.conv_general_dilated(
      x, phase_kernel, (1, 1), ((before, n - 1 - before),) * 2,
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'), precision=precision)
  return depth_to_space(y)


class ConvTranspose2x(nn.Module):
  """Stride-2 transposed convolution with `nn.ConvTranspose`'s parameters.

  Attributes:
    features: output channels.
    kernel_size: odd spatial size of the square kernel.
    use_bias: whether to add a bias.
    impl: 'subpixel' (fast gradients on CPU) or 'lax'.
    kernel_init: kernel initialiser.
    dtype: computation dtype (parameters stay float32).
  """
  features: int
  kernel_size: int = 5
  use_bias: bool = True
  impl: str = 'subpixel'
  kernel_init: Initializer = nn.initializers.lecun_normal()
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    shape = (self.kernel_size, self.kernel_size, x.shape[-1], self.features)
    kernel = self.param('kernel', self.kernel_init, shape, jnp.float32)
    x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
    y = conv_transpose_2x(x, kernel, self.impl)
    if self.use_bias:
      bias = self.param('bias', nn.initializers.zeros, (self.features,),
                        jnp.float32)
      y = y + bias.astype(y.dtype)
    return y


def same_padding(kernel_size: int) -> Sequence[tuple[int, int]]:
  """Symmetric padding k // 2, so a stride-s conv maps H to ceil(H / s)."""
  return ((kernel_size // 2, kernel_size // 2),) * 2
