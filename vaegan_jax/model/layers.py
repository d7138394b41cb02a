"""Layers shared by the networks: convolutions, and initialisers.

`ConvTranspose2x` is the decoder's stride-2 transposed convolution. It holds
the same parameters as `flax.linen.ConvTranspose(features, (k, k), strides=2,
padding=((p, p + 1), (p, p + 1)))` with `p = k // 2` (the adjoint of a
stride-2 convolution padded by `p`, doubling height and width, as the original
implementation's deconvolution and PyTorch's
`ConvTranspose2d(k, stride=2, padding=p, output_padding=1)`), and computes the
same function in one of two ways:

* `'lax'`: `lax.conv_transpose`, i.e. a convolution over the input dilated
  with zeros;
* `'subpixel'`: the kernel split into its four stride phases, each output
  phase a stride-1 convolution with only its own taps (3x3, 3x2, 2x3 and 2x2
  of a 5x5 kernel), interleaved. Nothing is multiplied by the inserted zeros,
  and the gradient is made of ordinary stride-1 convolution gradients, which
  XLA:CPU computes an order of magnitude faster than the gradient of the
  dilated form.

`conv_general_dilated` is the same convolution as `lax.conv_general_dilated`,
whose input gradient, for a stride above 1, is computed in the same phase
form (one stride-1 convolution per input phase) instead of as XLA's
convolution over a zero-dilated cotangent. Outputs and both gradients equal
those of `lax.conv_general_dilated` (tests/test_layers.py). It pays on
XLA:CPU only; `conv_for_platform` is the one place that chooses it: the
networks' `nn.Conv` layers call what it returns (`networks.build`).
"""

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Initializer = Callable[..., jax.Array]

CONV_TRANSPOSE_IMPLS = ('subpixel', 'lax')
_NHWC = ('NHWC', 'HWIO', 'NHWC')

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


def _phase_kernels(kernel: jax.Array, pad_lo: int
                   ) -> list[tuple[jax.Array, tuple[tuple[int, int], ...]]]:
  """Splits a [k, k, in, out] transposed-conv kernel into its four phases.

  Args:
    kernel: the kernel of the dilated (`lax`) form.
    pad_lo: the padding before the dilated input.

  Returns:
    For output phases (a, b) in (0, 0), (0, 1), (1, 0), (1, 1): the kernel of
    the stride-1 convolution computing that phase from the undilated input
    (its taps only: 3x3, 3x2, 2x3, 2x2 for k = 5) and that convolution's
    padding, which keeps the input's height and width.
  """
  taps = _phase_taps(kernel.shape[0], pad_lo)
  rows = []
  for t in taps:
    offsets = sorted(t)
    rows.append((np.array([t[d] for d in offsets]), (-offsets[0], offsets[-1])))
  return [(kernel[rows[a][0]][:, rows[b][0]], (rows[a][1], rows[b][1]))
          for a in (0, 1) for b in (0, 1)]


def interleave_phases(phases: Sequence[jax.Array]) -> jax.Array:
  """Four [B, H, W, C] phases (a, b) -> [B, 2H, 2W, C], phase at (2i+a, 2j+b)."""
  b, h, w, c = phases[0].shape
  rows = [jnp.stack(phases[2 * a:2 * a + 2], axis=3) for a in (0, 1)]
  return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, c)


def conv_transpose_2x(x: jax.Array, kernel: jax.Array, impl: str = 'subpixel',
                      precision: Any = None) -> jax.Array:
  """Stride-2 transposed convolution that doubles height and width.

  Args:
    x: [B, H, W, in] input.
    kernel: [k, k, in, out] kernel (layout of `flax.linen.ConvTranspose`).
    impl: 'subpixel' or 'lax' (see the module docstring); same result.
    precision: passed to the convolutions.

  Returns:
    [B, 2H, 2W, out].
  """
  k = kernel.shape[0]
  pad_lo = k // 2
  if impl == 'lax':
    return lax.conv_transpose(
        x, kernel, (2, 2), ((pad_lo, pad_lo + 1),) * 2,
        dimension_numbers=_NHWC, precision=precision)
  if impl != 'subpixel':
    raise ValueError(f'Unknown conv_transpose impl {impl!r}; choose one of '
                     f'{CONV_TRANSPOSE_IMPLS}.')
  return interleave_phases([
      lax.conv_general_dilated(x, w, (1, 1), pads, dimension_numbers=_NHWC,
                               precision=precision)
      for w, pads in _phase_kernels(kernel, pad_lo)])


def _input_phase(a: int, size: int, pad_lo: int, kernel_size: int,
                 stride: int, out_size: int) -> tuple[int, int, tuple[int, int]]:
  """Where taps a, a + s, a + 2s, ... of a stride-s convolution read.

  Output o reads input s·o + t − pad_lo at tap t; for t = s·j + a that is
  input phase r = (a − pad_lo) mod s at position o + j + q, with
  q = (a − pad_lo) // s.

  Returns:
    (r, the number of these taps, the padding of the stride-1 convolution
    over phase r that gives `out_size` outputs).
  """
  r, q = (a - pad_lo) % stride, (a - pad_lo) // stride
  taps = len(range(a, kernel_size, stride))
  length = len(range(r, size, stride))
  return r, taps, (-q, out_size - 1 + taps - length + q)


def strided_conv_phases(x: jax.Array, kernel: jax.Array, stride: int,
                        padding: Sequence[tuple[int, int]],
                        precision: Any = None) -> jax.Array:
  """A stride-s convolution as a sum of s² stride-1 convolutions.

  Input phase (r, c), x[:, r::s, c::s], meets only the kernel's taps
  kernel[a::s, b::s] with (a − pad) ≡ (r, c) mod s; each pair is an ordinary
  stride-1 convolution, and their sum is the strided convolution.

  Args:
    x: [B, H, W, in] input.
    kernel: [kh, kw, in, out] kernel.
    stride: the stride of both spatial dimensions.
    padding: ((lo, hi), (lo, hi)) of the strided convolution.
    precision: passed to the convolutions.

  Returns:
    The same as `lax.conv_general_dilated(x, kernel, (stride, stride),
    padding)` in NHWC/HWIO layout.
  """
  out = [(x.shape[1 + i] + lo + hi - kernel.shape[i]) // stride + 1
         for i, (lo, hi) in enumerate(padding)]
  y = None
  for a in range(min(stride, kernel.shape[0])):
    r, _, pad_h = _input_phase(a, x.shape[1], padding[0][0], kernel.shape[0],
                               stride, out[0])
    for b in range(min(stride, kernel.shape[1])):
      c, _, pad_w = _input_phase(b, x.shape[2], padding[1][0],
                                 kernel.shape[1], stride, out[1])
      term = lax.conv_general_dilated(
          x[:, r::stride, c::stride], kernel[a::stride, b::stride], (1, 1),
          (pad_h, pad_w), dimension_numbers=_NHWC, precision=precision)
      y = term if y is None else y + term
  return y


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _strided_conv(x, kernel, stride, padding, precision):
  return lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                                  dimension_numbers=_NHWC, precision=precision)


def _strided_conv_fwd(x, kernel, stride, padding, precision):
  return _strided_conv(x, kernel, stride, padding, precision), (x, kernel)


def _strided_conv_bwd(stride, padding, precision, residuals, cotangent):
  x, kernel = residuals
  input_grad = jax.linear_transpose(
      lambda x: strided_conv_phases(x, kernel, stride, padding, precision),
      x)(cotangent)[0]
  kernel_grad = jax.linear_transpose(
      lambda k: lax.conv_general_dilated(x, k, (stride, stride), padding,
                                         dimension_numbers=_NHWC,
                                         precision=precision),
      kernel)(cotangent)[0]
  return input_grad, kernel_grad


_strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array,
                         window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Sequence[int] | None = None,
                         rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: Any = None,
                         feature_group_count: int = 1,
                         batch_group_count: int = 1,
                         precision: Any = None,
                         preferred_element_type: Any = None) -> jax.Array:
  """`lax.conv_general_dilated`, with a faster input gradient when strided.

  Pass as `flax.linen.Conv(..., conv_general_dilated=conv_general_dilated)`.
  A 2-D NHWC/HWIO convolution with equal strides above 1, explicit padding
  and no dilation or groups gets its input gradient from
  `strided_conv_phases` (stride-1 convolutions) and its kernel gradient from
  XLA; anything else is `lax.conv_general_dilated` itself.

  Args and Returns: as `lax.conv_general_dilated`.
  """
  args = dict(window_strides=window_strides, padding=padding,
              lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
              dimension_numbers=dimension_numbers,
              feature_group_count=feature_group_count,
              batch_group_count=batch_group_count, precision=precision,
              preferred_element_type=preferred_element_type)
  strides = tuple(window_strides)
  plain = (
      lhs.ndim == 4 and len(set(strides)) == 1 and strides[0] > 1
      and not isinstance(padding, str)
      and all(d == 1 for d in (lhs_dilation or (1, 1)))
      and all(d == 1 for d in (rhs_dilation or (1, 1)))
      and feature_group_count == 1 and batch_group_count == 1
      and preferred_element_type is None
      and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
      == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC))
  if not plain:
    return lax.conv_general_dilated(lhs, rhs, **args)
  padding = tuple((int(lo), int(hi)) for lo, hi in padding)
  return _strided_conv(lhs, rhs, strides[0], padding, precision)


ConvFunction = Callable[..., jax.Array]


def conv_for_platform(platform: str | None = None) -> ConvFunction:
  """The convolution the networks' `nn.Conv` layers call on `platform`.

  On the CPU, `conv_general_dilated`: XLA:CPU computes a strided
  convolution's input gradient as a convolution over a zero-dilated
  cotangent, several times slower than the phase form (docs/benchmarks.md);
  on every CPU measured (AVX2 and AVX-512) the phase form made the step
  faster. Elsewhere XLA's own `lax.conv_general_dilated`: cuDNN computes
  strided input gradients directly.

  Args:
    platform: 'cpu', 'gpu', 'tpu'; default `jax.default_backend()`.

  Returns:
    A function with `lax.conv_general_dilated`'s signature, for
    `nn.Conv(..., conv_general_dilated=...)`.
  """
  if (platform or jax.default_backend()) == 'cpu':
    return conv_general_dilated
  return lax.conv_general_dilated


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
      y += self.param('bias', nn.initializers.zeros, (self.features,),
                      jnp.float32).astype(y.dtype)
    return y


def same_padding(kernel_size: int) -> Sequence[tuple[int, int]]:
  """Symmetric padding k // 2, so a stride-s conv maps H to ceil(H / s)."""
  return ((kernel_size // 2, kernel_size // 2),) * 2
