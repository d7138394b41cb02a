"""Whether each experiment's claim holds, read from its own finished runs.

Each verdict is one paragraph for the top of the report, under the claim:
the numbers it rests on and a plain "holds", "does not hold", or "not
resolved with N seeds". Every verdict compares groups of seeds through one
helper, `compare_groups`: a difference counts only where Welch's t-test
finds it at p < `ALPHA` (a difference larger than the spread of the
seeds); otherwise the claim is not resolved by these runs, and the verdict
says so with the numbers. The rules are fixed here, and the report records
the commit of this file its verdict used (`report.rule_provenance`), so a
reader can check that the rule was committed before the runs.
"""

import dataclasses
import math
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy import stats

from experiments import definitions
from experiments import runner

# A run's seeds: the finished results of one run (condition) of an
# experiment, one per seed; `Groups` maps each run's name to them.
Seeds = Sequence[runner.Result]
Groups = Mapping[str, Seeds]
# Welch's t-test must find a difference at this level for it to count.
ALPHA = 0.05
# The confidence of the intervals the report shows (Student t over seeds).
CONFIDENCE = 0.95
# The share of each class's samples the digits classifier must label as
# asked for "draws the class it is asked for" (the classifier itself is 97%
# accurate on held-out digits).
CLASS_ACCURACY = 0.9
# "Stable to the learning rate": each final loss within this factor across
# 1.5e-4, 3e-4 and 6e-4 (seed 004's Table 1 varies by 1.07, 1.21 and 1.17).
STABLE_RATIO = 1.5
LR_LOSSES = ('loss/gan_g', 'loss/kl', 'loss/gan_d')


@dataclasses.dataclass(frozen=True)
class Summary:
  """The mean of a group of seeds and its confidence interval.

  Attributes:
    n: how many seeds.
    mean: their mean.
    half: half the width of the `CONFIDENCE` interval of the mean (Student
      t with n - 1 degrees of freedom); None for fewer than 2 seeds.
  """
  n: int
  mean: float
  half: float | None

  def text(self, digits: int) -> str:
    """'mean ± half', or the mean alone for one seed."""
    if self.half is None:
      return f'{self.mean:.{digits}f}'
    return f'{self.mean:.{digits}f} ± {self.half:.{digits}f}'


def summarise(values: Sequence[float]) -> Summary | None:
  """The mean and `CONFIDENCE` interval of `values` (None: no values)."""
  values = np.asarray([v for v in values if v is not None], np.float64)
  if not len(values):
    return None
  mean = float(values.mean())
  if len(values) < 2:
    return Summary(1, mean, None)
  t = stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1)
  sem = values.std(ddof=1) / math.sqrt(len(values))
  return Summary(len(values), mean, float(t * sem))


@dataclasses.dataclass(frozen=True)
class Comparison:
  """Two groups of seeds compared by Welch's t-test.

  Attributes:
    a: the first group's summary.
    b: the second's (a single number for a one-sample test: half None).
    p: the two-sided p-value (None: not enough seeds to test).
    sign: -1 where a is lower than b at p < ALPHA, +1 where it is higher,
      0 where the difference is not resolved.
    one_sample: whether `b` is a fixed number rather than a group.
  """
  a: Summary
  b: Summary
  p: float | None
  sign: int
  one_sample: bool = False

  @property
  def seeds(self) -> int:
    """The fewest seeds of the two groups (of `a` for a one-sample test)."""
    return self.a.n if self.one_sample else min(self.a.n, self.b.n)

  def text(self) -> str:
    """'p = 0.012' or 'too few seeds to test'."""
    return 'too few seeds to test' if self.p is None else f'p = {self.p:.3f}'


def compare_groups(a: Sequence[float], b: Sequence[float] | float
                   ) -> Comparison:
  """Whether group `a` is lower or higher than `b` beyond the seeds' spread.

  Args:
    a: one value per seed.
    b: one value per seed, or a fixed number (a one-sample test of `a`'s
      mean against it).

  Returns:
    The `Comparison`; its `sign` is nonzero only where Welch's t-test (or
    the one-sample t-test) gives p < `ALPHA`.
  """
  a = [float(v) for v in a if v is not None]
  one_sample = np.isscalar(b)
  if one_sample:
    group_b, summary_b = None, Summary(1, float(b), None)
  else:
    group_b = [float(v) for v in b if v is not None]
    summary_b = summarise(group_b)
  summary_a = summarise(a)
  if summary_a is None or summary_b is None:
    raise ValueError('compare_groups needs at least one value in each '
                     'group.')
  p = None
  # Groups without spread warn of precision loss; their p is handled below.
  with warnings.catch_warnings(), np.errstate(all='ignore'):
    warnings.simplefilter('ignore', RuntimeWarning)
    if one_sample and len(a) >= 2:
      p = float(stats.ttest_1samp(a, float(b)).pvalue)
    elif not one_sample and len(a) >= 2 and len(group_b) >= 2:
      p = float(stats.ttest_ind(a, group_b, equal_var=False).pvalue)
  if p is not None and math.isnan(p):  # no spread at all: equal or not
    p = 0.0 if summary_a.mean != summary_b.mean else 1.0
  sign = 0
  if p is not None and p < ALPHA:
    sign = -1 if summary_a.mean < summary_b.mean else 1
  return Comparison(summary_a, summary_b, p, sign, one_sample)


def outcome(checks: Sequence[tuple[Comparison, int]]) -> str:
  """'holds', 'does not hold' or 'is not resolved with N seeds'.

  Args:
    checks: (comparison, the sign the claim needs) for each comparison the
      claim rests on.

  Returns:
    'holds' where every comparison is resolved the way the claim needs;
    'does not hold' where any is resolved the other way; else 'is not
    resolved with N seeds' (N the fewest seeds of any group).
  """
  if all(c.sign == wanted for c, wanted in checks):
    return 'holds'
  if any(c.sign == -wanted for c, wanted in checks):
    return 'does not hold'
  return _unresolved(min(c.seeds for c, _ in checks))


def _unresolved(seeds: int) -> str:
  return f'is not resolved with {seeds} seed{"s" if seeds != 1 else ""}'


def _claim(result: str) -> str:
  return f'The claim {result} here'


def _direction(c: Comparison) -> str:
  word = {-1: 'lower', 1: 'higher', 0: 'not resolved'}[c.sign]
  return f'{word} ({c.text()})'


def _values(seeds: Seeds, key: str) -> list[float]:
  return [r.metrics[key] for r in seeds
          if r.metrics.get(key) is not None]


def _fid(groups: Groups) -> dict[str, list[float]]:
  fid = {name: _values(seeds, 'fid') for name, seeds in groups.items()}
  return {name: v for name, v in fid.items() if v}


def _seeds_line(groups: Groups) -> str:
  counts = sorted({len(s) for s in groups.values()})
  return (f'{counts[0]}' if len(counts) == 1
          else f'{counts[0]} to {counts[-1]}') + ' seeds per run'


# The verdicts, each after its own constants and helpers (`report.rule_lines`
# dates a report by the lines above this one and its verdict's own).


# compare's VAEs (Gaussian and Bernoulli pixels), and the latent measures
# set against seed 001's table: (what, measures.json key, its number).
COMPARE_VAES = ('vae', 'vae_bce')
COMPARE_LATENT = (
    ('mode coverage (the class shares\' distance from 10% each)',
     'coverage', lambda m: m['distance']),
    ('smoothness (the median jump along lines between prior codes)',
     'smoothness', lambda m: m['prior']))


def _vae_against_gan(groups: Groups, vaes: Sequence[str]) -> str:
  """Seed 001's table, its VAE column against its GAN column, on the
  measures `experiments.latent` takes (lower is better for both)."""
  parts = []
  for what, key, read in COMPARE_LATENT:
    gan = [read(r.measures[key]) for r in groups['gan'] if key in r.measures]
    for name in vaes:
      seeds = [read(r.measures[key]) for r in groups[name]
               if key in r.measures]
      if not gan or not seeds:
        continue
      c = compare_groups(seeds, gan)
      parts.append(f'{what}, the {groups[name][0].run.label} {c.a.text(3)} '
                   f'against the GAN {c.b.text(3)}: the VAE\'s better '
                   f'{outcome([(c, -1)])} ({c.text()})')
  if not parts:
    return ''
  return (' Seed 001\'s table gives the VAE "Better coverage" and a '
          '"Continuous, smooth" latent space, the GAN "Prone to collapse" and '
          'a "Discontinuous" one: ' + '; '.join(parts) + '.')


def compare(groups: Groups) -> str:
  fid = _fid(groups)
  vaes = [n for n in COMPARE_VAES if n in fid]
  if 'gan' not in fid or 'vaegan' not in fid or not vaes:
    return 'Not every run has an FID: nothing to decide.'
  label = lambda name: groups[name][0].run.label
  gan = compare_groups(fid['vaegan'], fid['gan'])
  against = [(n, compare_groups(fid['vaegan'], fid[n])) for n in vaes]
  checks = [(gan, -1)] + [(c, -1) for _, c in against]
  return (f'{_claim(outcome(checks))} (the VAE-GAN\'s FID below every other '
          f'model\'s at p < {ALPHA:g}; {_seeds_line(groups)}): FID VAE-GAN '
          f'{gan.a.text(1)}, GAN {gan.b.text(1)}, '
          + ', '.join(f'{label(n)} {c.b.text(1)}' for n, c in against)
          + f'. The VAE-GAN\'s FID against the GAN\'s: {_direction(gan)}; '
          + '; '.join(f'against the {label(n)}\'s: {_direction(c)}'
                      for n, c in against) + '.'
          + _vae_against_gan(groups, vaes))


def ablation(groups: Groups) -> str:
  by_lambda = {seeds[0].config.loss.blend_lambda: seeds
               for seeds in groups.values() if seeds}
  fid = {lam: _values(s, 'fid') for lam, s in sorted(by_lambda.items())}
  fid = {lam: f for lam, f in fid.items() if f}
  # λ = 1 trains no encoder: its reconstructions are not compared.
  mse = {lam: _values(s, 'recon_mse') for lam, s in sorted(by_lambda.items())
         if lam < 1.0}
  mse = {lam: m for lam, m in mse.items() if m and lam in fid}
  blends = [lam for lam in mse if lam > 0.0]
  if 0.0 not in mse or 1.0 not in fid or not blends:
    return ('The runs at λ = 0, at λ = 1 and at a λ between them are needed '
            'to decide.')
  top = max(blends)
  ends = compare_groups(fid[1.0], fid[0.0])
  top_fid = compare_groups(fid[top], fid[0.0])
  top_mse = compare_groups(mse[top], mse[0.0])
  result = outcome([(ends, -1), (top_fid, -1), (top_mse, 1)])
  dominated = []  # (better λ, worse λ): lower FID and MSE, both resolved
  for i, a in enumerate(mse):
    for b in list(mse)[i + 1:]:
      f, m = compare_groups(fid[b], fid[a]), compare_groups(mse[b], mse[a])
      if f.sign and f.sign == m.sign:
        dominated.append((b, a) if f.sign < 0 else (a, b))
  if dominated:
    result = 'does not hold'
  table = '; '.join(
      f'λ = {lam:g}: FID {summarise(fid[lam]).text(1)}'
      + (f', MSE {summarise(mse[lam]).text(4)}' if lam in mse else '')
      for lam in fid)
  return (f'{_claim(result)} (a lower FID at λ = 1 and at λ = {top:g} than '
          f'at λ = 0, a higher reconstruction MSE at λ = {top:g} than at '
          f'λ = 0, each at p < {ALPHA:g}, and no λ lower than another on '
          f'both; {_seeds_line(groups)}): {table}. FID at λ = 1 against '
          f'λ = 0: {_direction(ends)}; at λ = {top:g} against λ = 0: FID '
          f'{_direction(top_fid)}, MSE {_direction(top_mse)}. '
          + ('λ better on both than another: ' + ', '.join(
              f'{a:g} over {b:g}' for a, b in dominated)
             if dominated else 'No λ is better than another on both.')
          + ' The VAE-GAN itself is not one of these runs: `compare` has '
          'it, at the same steps.')


def _final(seeds: Seeds, key: str) -> list[float]:
  values = [r.final(key) for r in seeds]
  return [v for v in values if v is not None]


def _factor_pair(what: str, high: Sequence[float], low: Sequence[float]
                 ) -> tuple[str, float, Comparison]:
  """(what, the ratio of the higher mean to the lower, their comparison)."""
  high, low = list(high), list(low)
  if np.mean(high) < np.mean(low):
    high, low = low, high
  return what, float(np.mean(high) / np.mean(low)), compare_groups(high, low)


def _within_factor(pairs) -> tuple[str, list]:
  """Whether no pair differs by more than STABLE_RATIO beyond the spread:
  (the result, the pairs that do)."""
  apart = [p for p in pairs if p[1] > STABLE_RATIO and p[2].sign != 0]
  unsure = [p for p in pairs if p[1] > STABLE_RATIO and p[2].sign == 0]
  if apart:
    return 'does not hold', apart
  if unsure:
    return _unresolved(min(p[2].seeds for p in unsure)), apart
  return 'holds', apart


def lr(groups: Groups) -> str:
  rates = [label for label, _ in definitions.LR_RATES]
  finals = {(name, r, key): _final(groups.get(f'{name}_{r}', ()), key)
            for name, _ in definitions.LR_OPTIMISERS for r in rates
            for key in LR_LOSSES}
  by_rate, by_optimiser = [], []
  for name, title in definitions.LR_OPTIMISERS:
    for key in LR_LOSSES:
      values = {r: finals[name, r, key] for r in rates}
      if not all(values.values()) or min(map(np.mean, values.values())) <= 0:
        continue
      high = max(values, key=lambda r: np.mean(values[r]))
      low = min(values, key=lambda r: np.mean(values[r]))
      by_rate.append(_factor_pair(f'{title} {key} ({low} against {high})',
                                  values[high], values[low]))
  (adam, _), (other, other_title) = definitions.LR_OPTIMISERS
  for r in rates:
    for key in LR_LOSSES:
      a, b = finals[adam, r, key], finals[other, r, key]
      if a and b and min(np.mean(a), np.mean(b)) > 0:
        by_optimiser.append(_factor_pair(
            f'{key} at {r}, Adam against {other_title}', a, b))
  if not by_rate and not by_optimiser:
    return 'No optimiser has all three learning rates finished.'
  parts = []
  for claim, pairs in (('stable to the learning rate', by_rate),
                       (f'no difference between Adam and {other_title}',
                        by_optimiser)):
    if not pairs:
      continue
    result, apart = _within_factor(pairs)
    widest = max(pairs, key=lambda p: p[1])
    parts.append(f'"{claim}" {result}: the widest change is {widest[0]}, a '
                 f'factor {widest[1]:.2f} ({widest[2].text()}); {len(apart)} '
                 f'of {len(pairs)} pairs differ by more than the factor '
                 f'beyond the spread')
  fid = {n: summarise(_values(s, 'fid')) for n, s in groups.items()}
  fid = {n: f for n, f in fid.items() if f is not None}
  best = min(fid, key=lambda n: fid[n].mean) if fid else None
  worst = max(fid, key=lambda n: fid[n].mean) if fid else None
  return (f'Each claim holds where no final loss differs by more than a '
          f'factor {STABLE_RATIO:g}, a difference counted where it is also '
          f'larger than the seeds\' spread at p < {ALPHA:g} (the seed\'s own '
          f'table changes by 1.21 at most; {_seeds_line(groups)}): '
          + '; '.join(parts) + '. By samples: the lowest mean FID is '
          + (f'{best} ({fid[best].text(1)}), the highest {worst} '
             f'({fid[worst].text(1)})' if best else 'n/a') + '.')


def translation_claim(groups: Groups) -> str:
  # Imported here: the measure is this verdict's alone.
  from experiments import translation  # pylint: disable=g-import-not-at-top
  if not {'vae', 'vaegan'} <= set(groups):
    return 'Both the VAE and the VAE-GAN are needed to decide.'

  def ratios(name, shift, key):
    return [translation.degradation(r.measures['translation'], shift)[key]
            for r in groups[name] if 'translation' in r.measures]

  parts, results = [], []
  for shift, fraction in definitions.TRANSLATIONS:
    if not ratios('vae', shift, 'mse') or not ratios('vaegan', shift, 'mse'):
      continue
    mse = compare_groups(ratios('vaegan', shift, 'mse'),
                         ratios('vae', shift, 'mse'))
    sharp = compare_groups(ratios('vaegan', shift, 'sharpness'),
                           ratios('vae', shift, 'sharpness'))
    result = outcome([(mse, -1), (sharp, 1)])
    results.append(result)
    parts.append(f'shifts up to ±{fraction:.0%} ({shift} in training): the '
                 f'MSE grows by a factor {mse.a.text(2)} for the VAE-GAN '
                 f'against {mse.b.text(2)} for the VAE ({_direction(mse)} '
                 f'for the VAE-GAN), the sharpness keeps a share '
                 f'{sharp.a.text(2)} against {sharp.b.text(2)} '
                 f'({_direction(sharp)}): less affected {result}')
  if not parts:
    return 'No run has its translation measured.'
  if all(r == 'holds' for r in results) and len(results) == len(
      definitions.TRANSLATIONS):
    result = 'holds'
  elif 'does not hold' in results:
    result = 'does not hold'
  else:
    result = _unresolved(min(len(s) for s in groups.values()))
  return (f'{_claim(result)} (for each shift, the VAE-GAN\'s MSE ratio '
          f'lower and its sharpness ratio higher than the VAE\'s, each at '
          f'p < {ALPHA:g}; {_seeds_line(groups)}): ' + '; '.join(parts)
          + '. A learned similarity is not meant to win on pixel error '
          'itself; the ratios ask how much each model loses to the shift.')


def feature_layer(groups: Groups) -> str:
  shallow, deep = 'layer_1', 'layer_3'
  mse = {n: _values(s, 'recon_mse') for n, s in groups.items()}
  rfid = {n: _values(s, 'rfid') for n, s in groups.items()}
  if not all(mse.get(n) and rfid.get(n) for n in (shallow, deep)):
    return 'Dis_1 and Dis_3 need their reconstructions measured to decide.'
  pixels = compare_groups(mse[shallow], mse[deep])
  semantic = compare_groups(rfid[deep], rfid[shallow])
  fid = _fid(groups)
  return (f'{_claim(outcome([(pixels, -1), (semantic, -1)]))} (Dis_1\'s '
          f'reconstruction MSE lower than Dis_3\'s and Dis_3\'s rFID lower '
          f'than Dis_1\'s, each at p < {ALPHA:g}; {_seeds_line(groups)}): '
          f'MSE Dis_1 {pixels.a.text(4)} against Dis_3 {pixels.b.text(4)} '
          f'({_direction(pixels)}); rFID Dis_3 {semantic.a.text(1)} against '
          f'Dis_1 {semantic.b.text(1)} ({_direction(semantic)}). FID, which '
          f'no seed ranks: ' + ', '.join(
              f'Dis_{n.split("_")[1]} {summarise(f).text(1)}'
              for n, f in sorted(fid.items())) + '.')


def conditional_claim(groups: Groups) -> str:
  seeds = [r for s in groups.values() for r in s
           if 'class_accuracy' in r.measures]
  if not seeds:
    return 'No run has its classes measured.'
  accuracy = np.asarray([r.measures['class_accuracy'] for r in seeds])
  worst_per_seed = accuracy.min(axis=1)
  test = compare_groups(worst_per_seed, CLASS_ACCURACY)
  mean = accuracy.mean(axis=0)
  worst = int(np.argmin(mean))
  return (f'{_claim(outcome([(test, 1)]))} (each seed\'s worst class has '
          f'more than {CLASS_ACCURACY:.0%} of its samples labelled as asked, '
          f'beyond the seeds\' spread; {len(seeds)} seed'
          f'{"s" if len(seeds) != 1 else ""}): the worst class of each seed '
          f'{test.a.text(3)} ({test.text()}); over all classes the digits '
          f'classifier labels {mean.mean():.1%} as asked, class {worst} the '
          f'fewest ({mean[worst]:.1%}).')


def collapse(groups: Groups) -> str:
  if 'none' not in groups or not groups['none']:
    return 'The run without remedies is needed to decide.'
  base = groups['none']
  parts, results = [], []
  for name, seeds in groups.items():
    if name == 'none' or not seeds:
      continue
    recall = compare_groups(_values(seeds, 'recall'), _values(base, 'recall'))
    fid = compare_groups(_values(seeds, 'fid'), _values(base, 'fid'))
    result = outcome([(recall, 1), (fid, -1)])
    results.append(result)
    parts.append(f'{seeds[0].run.label}: recall {recall.a.text(3)} '
                 f'({_direction(recall)}), FID {fid.a.text(1)} '
                 f'({_direction(fid)}): {result}')
  holding = results.count('holds')
  if holding == len(results):
    head = 'The claim holds here for every remedy'
  elif 'does not hold' in results:
    head = (f'The claim does not hold here for every remedy: it holds for '
            f'{holding} of the {len(results)}')
  else:
    head = (f'The claim is not resolved here for every remedy: it holds '
            f'for {holding} of the {len(results)}')
  return (f'{head} (recall higher and FID lower than without either, each '
          f'at p < {ALPHA:g}; {_seeds_line(groups)}). Without either: recall '
          f'{summarise(_values(base, "recall")).text(3)}, FID '
          f'{summarise(_values(base, "fid")).text(1)}; ' + '; '.join(parts)
          + '.')


# The features experiment's target for the default run: mean FID at most
# TARGET_FID, mean precision and recall at least TARGET_PR.
TARGET_FID = 20.0
TARGET_PR = 0.80
FEATURES_ALONE = ('ema', 'augment', 'r1')


def features(groups: Groups) -> str:
  if 'none' not in groups or not groups['none']:
    return 'The run without features is needed to decide.'
  base = _values(groups['none'], 'fid')
  parts = []
  for name in FEATURES_ALONE:
    if groups.get(name):
      c = compare_groups(_values(groups[name], 'fid'), base)
      parts.append(f'{groups[name][0].run.label} alone: FID '
                   f'{c.a.text(1)}, {_direction(c)}')
  meeting = []
  for name, seeds in groups.items():
    means = {k: summarise(_values(seeds, k))
             for k in ('fid', 'precision', 'recall')}
    if any(m is None for m in means.values()):
      continue
    if (means['fid'].mean <= TARGET_FID
        and means['precision'].mean >= TARGET_PR
        and means['recall'].mean >= TARGET_PR):
      meeting.append(f'{seeds[0].run.label} ({len(seeds)} seeds: FID '
                     f'{means["fid"].text(1)}, precision '
                     f'{means["precision"].text(3)}, recall '
                     f'{means["recall"].text(3)})')
  target = (f'The target (mean FID ≤ {TARGET_FID:g}, precision and recall '
            f'≥ {TARGET_PR:.2f}) is met by '
            + ('; '.join(meeting) if meeting else 'no run') + '.')
  return (f'{target} Against none (FID '
          f'{summarise(base).text(1)}; {_seeds_line(groups)}; a difference '
          f'counts at p < {ALPHA:g}): ' + '; '.join(parts) + '.')


# The tune experiment's trials of each model (run name '<model>_<trial>').
TUNE_TRIALS = ('third', 'default', 'triple', 'lr')


def tune(groups: Groups) -> str:
  """Each model's choice: its trial with the lowest mean FID at the last
  step (on the validation split), once all its trials have finished."""
  parts = []
  for model, label, _, _ in definitions.TUNE_MODELS:
    names = [r.name for r in definitions.TUNE.runs
             if r.name.startswith(model + '_')
             and r.name[len(model) + 1:] in TUNE_TRIALS]
    fid = {n: summarise(_values(groups.get(n, ()), 'fid')) for n in names}
    done = {n: m for n, m in fid.items() if m is not None}
    if len(done) < len(names):
      parts.append(f'{label}: {len(done)} of {len(names)} trials finished, '
                   'nothing chosen yet')
      continue
    best = min(done, key=lambda n: done[n].mean)
    others = ', '.join(f'{groups[n][0].run.label.split(", ", 1)[1]} '
                       f'{done[n].text(1)}' for n in names if n != best)
    parts.append(f'{label}: **{groups[best][0].run.label.split(", ", 1)[1]}'
                 f'** (FID {done[best].text(1)}; the others {others})')
  return ('Each model\'s setting is its trial with the lowest FID on the '
          'validation digits at the last step: ' + '; '.join(parts) + '.')


def pretrain(groups: Groups) -> str:
  fid = _fid(groups)
  if 'gan' not in fid or 'vae_then_gan' not in fid:
    return 'The GAN from scratch and from the VAE are both needed to decide.'
  c = compare_groups(fid['vae_then_gan'], fid['gan'])
  text = (f'{_claim(outcome([(c, -1)]))} (the GAN from the pre-trained VAE '
          f'below the GAN from scratch at p < {ALPHA:g}; '
          f'{_seeds_line(groups)}): FID {c.a.text(1)} against '
          f'{c.b.text(1)}, {_direction(c)}.')
  if 'vaegan' in fid:
    joint = compare_groups(fid['vae_then_gan'], fid['vaegan'])
    text += (f' Against the VAE-GAN ({joint.b.text(1)}), the pre-trained '
             f'GAN\'s FID is {_direction(joint)}.')
  return text


def recon(groups: Groups) -> str:
  fid = _fid(groups)
  if 'l1' not in fid or 'l2' not in fid:
    return 'Both distances are needed to decide.'
  c = compare_groups(fid['l1'], fid['l2'])
  which = {-1: 'L1 gives the lower FID', 1: 'L2 gives the lower FID',
           0: f'neither gives a lower FID with {c.seeds} seeds'}[c.sign]
  return (f'{which} ({_seeds_line(groups)}): FID L1 {c.a.text(1)}, L2 '
          f'{c.b.text(1)}; L1 against L2: {_direction(c)}. The seed prefers '
          'neither, so either outcome agrees with it.')


# A seed of a stability experiment failed if its training ended in an error
# (non-finite losses) or its last FID is above this: five times the digits
# default's 16 (docs/features/report.md).
FAILED_FID = 80.0


def failed(result: runner.Result) -> bool:
  """Whether a seed failed: diverged, or its last FID above FAILED_FID."""
  fid = (result.metrics or {}).get('fid')
  return (bool(result.timing.get('error')) or fid is None
          or not math.isfinite(fid) or fid > FAILED_FID)


@dataclasses.dataclass(frozen=True)
class Stability:
  """Two groups of seeds (over learning rates) set against each other.

  Attributes:
    failed: how many seeds of each failed.
    counts: how many seeds each has.
    fisher_p: Fisher's exact test of the failed shares.
    spread: the standard deviation of each group's FID over the seeds that
      did not fail (None with fewer than 3).
    spread_p: the Brown-Forsythe test of the spreads (None: not enough
      seeds).
    sign: -1 where the first is more stable (fewer failures or less spread
      at p < ALPHA, and neither the other way), +1 where less, 0 otherwise.
  """
  failed: tuple[int, int]
  counts: tuple[int, int]
  fisher_p: float
  spread: tuple[float | None, float | None]
  spread_p: float | None
  sign: int

  @property
  def seeds(self) -> int:
    """The fewer seeds of the two, as `Comparison.seeds` (for `outcome`)."""
    return min(self.counts)

  def text(self) -> str:
    spread = ', '.join('n/a' if s is None else f'{s:.1f}'
                       for s in self.spread)
    p = 'n/a' if self.spread_p is None else f'{self.spread_p:.2g}'
    return (f'failed {self.failed[0]} of {self.counts[0]} against '
            f'{self.failed[1]} of {self.counts[1]} (Fisher p = '
            f'{self.fisher_p:.2g}); FID spread (sd) {spread} (Brown-Forsythe '
            f'p = {p})')


def stability(a: Seeds, b: Seeds) -> Stability:
  """`a`'s seeds against `b`'s: failures and the spread of FID."""
  fa, fb = sum(map(failed, a)), sum(map(failed, b))
  fisher_p = float(stats.fisher_exact(
      [[fa, len(a) - fa], [fb, len(b) - fb]]).pvalue)
  kept = [[r.metrics['fid'] for r in g if not failed(r)] for g in (a, b)]
  spread = tuple(float(np.std(k, ddof=1)) if len(k) >= 3 else None
                 for k in kept)
  spread_p = (float(stats.levene(*kept, center='median').pvalue)
              if None not in spread else None)
  signs = []
  if fisher_p < ALPHA:
    signs.append(-1 if fa / len(a) < fb / len(b) else 1)
  if spread_p is not None and spread_p < ALPHA:
    signs.append(-1 if spread[0] < spread[1] else 1)
  sign = (signs[0] if signs and all(s == signs[0] for s in signs) else 0)
  return Stability((fa, fb), (len(a), len(b)), fisher_p, spread, spread_p,
                   sign)


def _pooled(groups: Groups, prefix: str) -> list[runner.Result]:
  return [r for name, seeds in groups.items() if name.startswith(prefix)
          for r in seeds]


def gan_loss(groups: Groups) -> str:
  wgan = _pooled(groups, 'wgan_gp_')
  if not wgan:
    return 'The WGAN-GP runs are needed to decide.'
  parts = []
  rate = definitions.GAN_LOSS_QUALITY_RATE
  at_rate = [r for r in groups.get(f'wgan_gp_{rate}', ()) if not failed(r)]
  for name, label, _ in definitions.GAN_LOSSES[:2]:
    other = _pooled(groups, name + '_')
    if not other:
      continue
    base = [r for r in groups.get(f'{name}_{rate}', ()) if not failed(r)]
    if at_rate and base:
      c = compare_groups(_values(at_rate, 'fid'), _values(base, 'fid'))
      parts.append(f'sample quality against {label} (FID at lr {rate}, '
                   f'lower is better): WGAN-GP {c.a.text(1)} against '
                   f'{c.b.text(1)}, better {outcome([(c, -1)])} '
                   f'({c.text()})')
    s = stability(wgan, other)
    parts.append(f'stability against {label}, over every learning rate: '
                 f'{s.text()}, more stable {outcome([(s, -1)])}')
  return ('Whether WGAN-GP improves on each cross-entropy loss ('
          f'{_seeds_line(groups)}; a run failed if it diverged or its FID '
          f'ended above {FAILED_FID:g}): ' + '; '.join(parts) + '.')


def easier(groups: Groups) -> str:
  vaegan, gan = _pooled(groups, 'vaegan_'), _pooled(groups, 'gan_')
  if not vaegan or not gan:
    return 'The VAE-GAN\'s and the GAN\'s runs are needed to decide.'
  s = stability(vaegan, gan)
  return (f'{_claim(outcome([(s, -1)]))} (over every learning rate and '
          f'seed, fewer failed runs or less spread at p < {ALPHA:g}, and '
          f'neither the other way; a run failed if it diverged or its FID '
          f'ended above {FAILED_FID:g}): the VAE-GAN against the GAN, '
          f'{s.text()}.')


def weights(groups: Groups) -> str:
  fid = _fid(groups)
  coverage = {n: [r.measures['coverage']['distance'] for r in seeds
                  if 'coverage' in r.measures] for n, seeds in groups.items()}
  if 'chosen' not in fid:
    return 'The run at the chosen weights is needed to decide.'
  parts = []
  if coverage.get('gan_strong') and coverage.get('chosen'):
    c = compare_groups(coverage['gan_strong'], coverage['chosen'])
    parts.append(f'the GAN term stronger: the class shares\' distance from '
                 f'10% {c.a.text(3)} against {c.b.text(3)} at the chosen '
                 f'weights, mode collapse {outcome([(c, 1)])} ({c.text()})')
  if 'vae_strong' in fid:
    c = compare_groups(fid['vae_strong'], fid['chosen'])
    parts.append(f'L_llike stronger: FID {c.a.text(1)} against '
                 f'{c.b.text(1)}, sample quality suffers '
                 f'{outcome([(c, 1)])} ({c.text()})')
  for name in ('gan_strong', 'kl_weak', 'kl_strong'):
    if name in fid:
      c = compare_groups(fid[name], fid['chosen'])
      parts.append(f'{groups[name][0].run.label}: FID {c.a.text(1)}, '
                   f'{_direction(c)}')
  return (f'Against the chosen weights (FID {summarise(fid["chosen"]).text(1)}'
          f'; {_seeds_line(groups)}): ' + '; '.join(parts) + '.')


def kl_collapse(groups: Groups) -> str:
  parts, checks = [], []
  for label, _ in definitions.COLLAPSE_KL_WEIGHTS:
    full, stop = groups.get(f'kl_{label}', ()), groups.get(
        f'kl_{label}_stop', ())
    if not full or not stop:
      continue
    kl = summarise(_values(full, 'kl'))
    limit = full[0].config.eval.collapse_kl
    stopped = [r for r in stop if r.timing.get('stopped')]
    steps = [r.timing['step'] for r in stopped]
    text = (f'KL weight {label}: the held-out KL at the end {kl.text(2)} '
            f'nats ({"collapsed" if kl.mean < limit else "not collapsed"}, '
            f'under {limit:g}); the watch stopped {len(stopped)} of '
            f'{len(stop)} seeds')
    if steps:
      text += f', at step {min(steps)} to {max(steps)}'
    if kl.mean < limit and len(stopped) == len(stop):
      c = compare_groups(_values(stop, 'fid'), _values(full, 'fid'))
      checks.append(c)
      text += (f'; FID at the stop {c.a.text(1)} against {c.b.text(1)} at '
               f'the end, {_direction(c)}')
    parts.append(text)
  if not parts:
    return 'The runs with a strong KL weight are needed to decide.'
  if not checks:
    result = 'cannot be tested: no KL weight here collapsed every seed and ' \
        'was stopped'
  else:
    result = ('does not hold' if any(c.sign == 1 for c in checks)
              else 'holds')
  return (f'The claim {result} here (where the KL collapsed, the stopped '
          f'model\'s FID not higher at p < {ALPHA:g}; {_seeds_line(groups)}'
          '): ' + '; '.join(parts) + '.')


def still_falling(fid_by_step: Mapping[int, Sequence[float]]
                  ) -> bool | None:
  """Whether FID was still falling at the last evaluation.

  The rule: the mean FID over seeds at the last evaluation is below the
  mean at the evaluation before by more than the half-width of the last
  one's `CONFIDENCE` interval (by anything, with one seed).

  Args:
    fid_by_step: evaluation step -> the FID of each seed there.

  Returns:
    True or False; None with fewer than two evaluations.
  """
  steps = sorted(s for s, v in fid_by_step.items() if len(v))
  if len(steps) < 2:
    return None
  last, before = summarise(fid_by_step[steps[-1]]), summarise(
      fid_by_step[steps[-2]])
  return before.mean - last.mean > (last.half or 0.0)


VERDICTS: dict[str, Callable[[Groups], str]] = {
    'compare': compare, 'ablation': ablation, 'lr': lr,
    'translation': translation_claim, 'feature_layer': feature_layer,
    'conditional': conditional_claim, 'collapse': collapse,
    'features': features, 'tune': tune, 'pretrain': pretrain,
    'recon': recon, 'gan_loss': gan_loss, 'easier': easier,
    'weights': weights, 'kl_collapse': kl_collapse}
