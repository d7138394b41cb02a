"""The VAE-GAN step of `vaegan_jax.model.algorithm`, written plainly in PyTorch.

Used only by `benchmarks/benchmark.py` as the reference to time against: the
same three networks (same widths, kernels, padding, BatchNorm momentum and
epsilon, Dis_l point) and the same Algorithm-1 update (one forward pass, each
network's gradient of its own loss by `torch.autograd.grad`, three separate
optimizers, equilibrium gating). `load_jax_params` copies a JAX state's
parameters in, so both start from the same point and `benchmark.py --check`
can compare their losses and gradients.
"""

import contextlib
from typing import Any

import ml_collections
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vaegan_jax.model import architectures


def _bn2d(width: int, config: ml_collections.ConfigDict) -> nn.BatchNorm2d:
  # PyTorch's momentum is the weight of the new batch: 1 − Flax's momentum.
  return nn.BatchNorm2d(width, momentum=1.0 - config.model.bn_momentum,
                        eps=config.model.bn_epsilon)


def _bn1d(width: int, config: ml_collections.ConfigDict) -> nn.BatchNorm1d:
  return nn.BatchNorm1d(width, momentum=1.0 - config.model.bn_momentum,
                        eps=config.model.bn_epsilon)


def _down(size: int) -> int:
  return (size + 1) // 2  # 5x5, stride 2, padding 2


class Encoder(nn.Module):
  """x -> (mean, logvar), as `models.Encoder`."""

  def __init__(self, spec: dict[str, Any], config: ml_collections.ConfigDict):
    super().__init__()
    layers, width, size = [], config.data.channels, config.data.image_size
    for w in spec['encoder_widths']:
      layers += [nn.Conv2d(width, w, 5, 2, 2, bias=False), _bn2d(w, config),
                 nn.ReLU()]
      width, size = w, _down(size)
    self.convs = nn.Sequential(*layers)
    self.dense = nn.Sequential(
        nn.Linear(width * size * size, spec['encoder_dense'], bias=False),
        _bn1d(spec['encoder_dense'], config), nn.ReLU())
    self.mean = nn.Linear(spec['encoder_dense'], spec['latent_dim'])
    self.logvar = nn.Linear(spec['encoder_dense'], spec['latent_dim'])

  def forward(self, x):
    x = self.dense(self.convs(x).flatten(1))
    return self.mean(x), self.logvar(x)


class Decoder(nn.Module):
  """z -> image, as `models.Decoder` (transposed convolutions as PyTorch's)."""

  def __init__(self, spec: dict[str, Any], config: ml_collections.ConfigDict):
    super().__init__()
    n_up = len(spec['decoder_widths'])
    self.base = config.data.image_size // 2 ** n_up
    self.base_width = spec['decoder_base_width']
    self.dense = nn.Sequential(
        nn.Linear(spec['latent_dim'], self.base ** 2 * self.base_width,
                  bias=False),
        _bn1d(self.base ** 2 * self.base_width, config), nn.ReLU())
    layers, width = [], self.base_width
    for w in spec['decoder_widths']:
      layers += [nn.ConvTranspose2d(width, w, 5, 2, padding=2,
                                    output_padding=1, bias=False),
                 _bn2d(w, config), nn.ReLU()]
      width = w
    layers += [nn.Conv2d(width, config.data.channels, 5, 1, 2), nn.Tanh()]
    self.convs = nn.Sequential(*layers)

  def forward(self, z):
    x = self.dense(z).view(-1, self.base_width, self.base, self.base)
    return self.convs(x)


class Discriminator(nn.Module):
  """x -> (logit, Dis_l features), as `models.Discriminator`."""

  def __init__(self, spec: dict[str, Any], config: ml_collections.ConfigDict):
    super().__init__()
    self.feature_layer = spec['dis_feature_layer']
    convs, norms = [], []
    width, size = config.data.channels, config.data.image_size
    for i, w in enumerate(spec['discriminator_widths']):
      first = i == 0
      convs.append(nn.Conv2d(width, w, 5, 1 if first else 2, 2, bias=first))
      norms.append(nn.Identity() if first else _bn2d(w, config))
      width, size = w, size if first else _down(size)
    self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
    self.dense = nn.Sequential(
        nn.Linear(width * size * size, spec['discriminator_dense'],
                  bias=False),
        _bn1d(spec['discriminator_dense'], config), nn.ReLU(),
        nn.Linear(spec['discriminator_dense'], 1))

  def forward(self, x):
    features = None
    for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
      x = conv(x)
      if i + 1 == self.feature_layer:
        features = x
      x = F.relu(norm(x))
    return self.dense(x.flatten(1))[:, 0], features


@contextlib.contextmanager
def frozen_statistics(module: nn.Module):
  """BatchNorm layers normalise by the batch but keep their running stats."""
  norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
  saved = [m.momentum for m in norms]
  for m in norms:
    m.momentum = 0.0
  try:
    yield
  finally:
    for m, momentum in zip(norms, saved):
      m.momentum = momentum


def build(config: ml_collections.ConfigDict) -> dict[str, nn.Module]:
  """The three networks of `config`, in PyTorch."""
  spec = architectures.resolve(config.model)
  return {'encoder': Encoder(spec, config), 'decoder': Decoder(spec, config),
          'discriminator': Discriminator(spec, config)}


def _optimizer(module: nn.Module, config: ml_collections.ConfigDict):
  """The network's optimizer; weight decay on kernels only, as optim.py."""
  o = config.optim
  kernels = [p for p in module.parameters() if p.ndim > 1]
  others = [p for p in module.parameters() if p.ndim <= 1]
  groups = [{'params': kernels, 'weight_decay': o.weight_decay},
            {'params': others, 'weight_decay': 0.0}]
  if o.name == 'rmsprop':
    return torch.optim.RMSprop(groups, lr=o.lr, alpha=o.rmsprop_decay,
                               eps=o.eps, foreach=True)
  if o.name == 'adam':
    return torch.optim.Adam(groups, lr=o.lr, betas=(o.b1, o.b2), eps=o.eps,
                            foreach=True)
  raise ValueError(f'No PyTorch reference for config.optim.name={o.name!r}.')


class Step:
  """One Algorithm-1 update of the PyTorch networks, as `step.train_step`.

  Attributes:
    nets: {'encoder', 'decoder', 'discriminator'} -> module (trained).
    forward_nets: the modules the forward pass calls (`nets`, or compiled
      versions of them).
  """

  def __init__(self, config: ml_collections.ConfigDict, device: str = 'cpu',
               compile_mode: str | None = None,
               channels_last: bool = False,
               compile_backend: str = 'inductor'):
    loss = config.loss
    if (loss.gan not in ('minimax', 'non_saturating')
        or loss.recon not in ('l2', 'l1')):
      raise ValueError('The PyTorch reference implements the minimax and '
                       'non-saturating GAN losses with an l2 or l1 '
                       'reconstruction.')
    self.config, self.device = config, device
    self.memory_format = (torch.channels_last if channels_last
                          else torch.contiguous_format)
    self.nets = {k: m.to(device, memory_format=self.memory_format)
                 for k, m in build(config).items()}
    for m in self.nets.values():
      m.train()
    self.forward_nets = dict(self.nets)
    if compile_mode:
      self.forward_nets = {k: torch.compile(m, mode=compile_mode,
                                            backend=compile_backend)
                           for k, m in self.nets.items()}
    self.opts = {k: _optimizer(m, config) for k, m in self.nets.items()}
    self.params = {k: [p for p in m.parameters()]
                   for k, m in self.nets.items()}
    self.gan_weight = (1.0 - loss.gamma
                       if loss.decoder_weighting == 'original' else 1.0)

  def forward(self, images, eps, z_prior):
    """The loss terms of one batch (NCHW images, noise as the JAX step's)."""
    loss, enc, dec, dis = (self.config.loss, self.forward_nets['encoder'],
                           self.forward_nets['decoder'],
                           self.forward_nets['discriminator'])
    n = images.shape[0]
    mean, logvar = enc(images)
    z = mean + torch.exp(0.5 * logvar) * eps
    recon = dec(z)
    with frozen_statistics(self.nets['discriminator']):
      pair_logits, features = dis(torch.cat([recon, images]))
    diff = (features[:n] - features[n:]).flatten(1)
    err = 0.5 * diff ** 2 if loss.recon == 'l2' else diff.abs()
    llike = (err.sum(1) if loss.recon_reduction == 'sum'
             else err.mean(1)).mean()
    z_gen = (torch.cat([z_prior, z.detach()]) if loss.discriminate_recon
             else z_prior)
    fakes = dec(z_gen)
    logits, _ = dis(torch.cat([images, fakes]))
    real, fake = logits[:n], logits[n:]
    w = loss.real_weight
    terms = {
        'kl': (-0.5 * (1 + logvar - mean ** 2 - logvar.exp()).sum(1)).mean(),
        'llike': llike,
        'gan_d': (w * F.softplus(-real).mean()
                  + (1 - w) * F.softplus(fake).mean()),
        'gan_g': sum(F.softplus(-s).mean() if loss.gan == 'non_saturating'
                     else -F.softplus(s).mean() for s in fake.split(n)),
    }
    bce = torch.stack([F.softplus(-real).mean(), F.softplus(fake).mean()])
    return terms, bce, pair_logits

  def gradients(self, terms):
    """Each network's gradient of its own objective, as
    `algorithm.losses_and_gradients`."""
    loss = self.config.loss
    enc = torch.autograd.grad(loss.kl_weight * terms['kl'] + terms['llike'],
                              self.params['encoder'], retain_graph=True)
    dec = torch.autograd.grad(
        loss.gamma * terms['llike'] + self.gan_weight * terms['gan_g'],
        self.params['decoder'], retain_graph=True)
    dis = torch.autograd.grad(terms['gan_d'], self.params['discriminator'])
    return {'encoder': enc, 'decoder': dec, 'discriminator': dis}

  def gates(self, bce) -> dict[str, bool]:
    """Equilibrium gating, as `step.gates` (one host read of two numbers)."""
    loss = self.config.loss
    if not loss.equilibrium_gating:
      return {k: True for k in self.nets}
    real, fake = bce.tolist()
    lo, hi = loss.equilibrium - loss.margin, loss.equilibrium + loss.margin
    dis = not (real < lo or fake < lo)
    dec = not (real > hi or fake > hi)
    neither = not (dis or dec)
    return {'encoder': True, 'decoder': dec or neither,
            'discriminator': dis or neither}

  def __call__(self, images, eps, z_prior):
    """One update; returns the loss terms and the gradient norms."""
    terms, bce, _ = self.forward(images, eps, z_prior)
    grads = self.gradients(terms)
    norms = {}
    for net, gate in self.gates(bce).items():
      norms[net] = torch.linalg.vector_norm(
          torch.stack(torch._foreach_norm(grads[net])))
      if gate:
        for p, g in zip(self.params[net], grads[net]):
          p.grad = g
        self.opts[net].step()
    return terms, norms


def _to_torch(x: np.ndarray, device: str) -> torch.Tensor:
  return torch.from_numpy(np.ascontiguousarray(x)).to(device)


def load_jax_params(step: Step, params: dict[str, Any],
                    batch_stats: dict[str, Any]) -> None:
  """Copies a JAX TrainState's parameters and statistics into `step.nets`.

  Flax kernels are [kh, kw, in, out] (ConvTranspose: the kernel of a
  convolution over the zero-dilated input); dense layers after a flatten of
  NHWC read their inputs in (h, w, c) order, PyTorch's in (c, h, w).
  """
  config = step.config
  spec = architectures.resolve(config.model)
  p = {k: _tree_np(v) for k, v in params.items()}
  s = {k: _tree_np(v) for k, v in batch_stats.items()}
  dev = step.device

  def conv(mod, kernel, bias=None, transpose=False):
    if transpose:  # PyTorch: [in, out, kh, kw], flipped.
      w = kernel[::-1, ::-1].transpose(2, 3, 0, 1)
    else:  # PyTorch: [out, in, kh, kw].
      w = kernel.transpose(3, 2, 0, 1)
    mod.weight.data.copy_(_to_torch(w, dev))
    if bias is not None:
      mod.bias.data.copy_(_to_torch(bias, dev))

  def dense(mod, kernel, bias=None, hwc=None, out_hwc=None):
    w = kernel
    if hwc is not None:  # inputs: (h, w, c) -> (c, h, w)
      h, ww, c = hwc
      w = w.reshape(h, ww, c, -1).transpose(2, 0, 1, 3).reshape(h * ww * c, -1)
    if out_hwc is not None:  # outputs: (h, w, c) -> (c, h, w)
      h, ww, c = out_hwc
      w = w.reshape(-1, h, ww, c).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)
    mod.weight.data.copy_(_to_torch(w.T, dev))
    if bias is not None:
      mod.bias.data.copy_(_to_torch(bias, dev))

  def norm(mod, params, stats, perm_hwc=None):
    vals = [params['scale'], params['bias'], stats['mean'], stats['var']]
    if perm_hwc is not None:
      h, ww, c = perm_hwc
      vals = [v.reshape(h, ww, c).transpose(2, 0, 1).reshape(-1) for v in vals]
    for t, v in zip((mod.weight, mod.bias, mod.running_mean, mod.running_var),
                    vals):
      t.data.copy_(_to_torch(v, dev))

  size = config.data.image_size
  enc, e, es = step.nets['encoder'], p['encoder'], s['encoder']
  convs = [m for m in enc.convs if isinstance(m, nn.Conv2d)]
  bns = [m for m in enc.convs if isinstance(m, nn.BatchNorm2d)]
  for i, (c, b) in enumerate(zip(convs, bns)):
    conv(c, e[f'Conv_{i}']['kernel'])
    norm(b, e[f'BatchNorm_{i}'], es[f'BatchNorm_{i}'])
    size = _down(size)
  n = len(convs)
  dense(enc.dense[0], e['Dense_0']['kernel'],
        hwc=(size, size, spec['encoder_widths'][-1]))
  norm(enc.dense[1], e[f'BatchNorm_{n}'], es[f'BatchNorm_{n}'])
  dense(enc.mean, e['mean']['kernel'], e['mean']['bias'])
  dense(enc.logvar, e['logvar']['kernel'], e['logvar']['bias'])

  dec, d, ds = step.nets['decoder'], p['decoder'], s['decoder']
  base_hwc = (dec.base, dec.base, dec.base_width)
  dense(dec.dense[0], d['Dense_0']['kernel'], out_hwc=base_hwc)
  norm(dec.dense[1], d['BatchNorm_0'], ds['BatchNorm_0'], perm_hwc=base_hwc)
  ups = [m for m in dec.convs if isinstance(m, nn.ConvTranspose2d)]
  bns = [m for m in dec.convs if isinstance(m, nn.BatchNorm2d)]
  for i, (c, b) in enumerate(zip(ups, bns)):
    conv(c, d[f'ConvTranspose2x_{i}']['kernel'], transpose=True)
    norm(b, d[f'BatchNorm_{i + 1}'], ds[f'BatchNorm_{i + 1}'])
  last = [m for m in dec.convs if type(m) is nn.Conv2d][-1]
  conv(last, d['Conv_0']['kernel'], d['Conv_0']['bias'])

  dis, q, qs = step.nets['discriminator'], p['discriminator'], s['discriminator']
  size = config.data.image_size
  bn = 0
  for i, (c, b) in enumerate(zip(dis.convs, dis.norms)):
    conv(c, q[f'Conv_{i}']['kernel'], q[f'Conv_{i}'].get('bias'))
    if i:
      norm(b, q[f'BatchNorm_{bn}'], qs[f'BatchNorm_{bn}'])
      bn += 1
      size = _down(size)
  dense(dis.dense[0], q['Dense_0']['kernel'],
        hwc=(size, size, spec['discriminator_widths'][-1]))
  norm(dis.dense[1], q[f'BatchNorm_{bn}'], qs[f'BatchNorm_{bn}'])
  dense(dis.dense[3], q['Dense_1']['kernel'], q['Dense_1']['bias'])


def _tree_np(tree):
  if isinstance(tree, dict) or hasattr(tree, 'items'):
    return {k: _tree_np(v) for k, v in tree.items()}
  return np.array(tree, dtype=np.float32)

