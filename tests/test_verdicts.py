"""The reports' verdicts: each follows its own numbers, and decides only
where the difference is larger than the seeds' spread."""

import ml_collections
import numpy as np
import pytest
from scipy import stats

from experiments import definitions
from experiments import runner
from experiments import verdicts


def _result(run, seed, metrics, losses=None, measures=None):
  config = ml_collections.ConfigDict({
      'loss': {'blend_lambda': run.overrides.get('loss.blend_lambda', 0.0)},
      'optim': {'name': run.overrides.get('optim.name', 'adam')}})
  return runner.Result(run, seed, f'/runs/{run.name}/seed_{seed}', config,
                       metrics, {'sessions': []},
                       [{'step': 100, **(losses or {})}], [], measures or {})


def _groups(experiment, values, key='fid', spread=(-1.0, 0.0, 1.0)):
  """Each run's seeds with `key` at its value plus each of `spread`."""
  return {run.name: [_result(run, seed, {key: values[run.name] + d})
                     for seed, d in enumerate(spread)]
          for run in experiment.runs if run.name in values}


def test_summaries_are_student_t_intervals():
  s = verdicts.summarise([1.0, 2.0, 3.0, 6.0])
  half = stats.t.ppf(0.975, 3) * np.std([1, 2, 3, 6], ddof=1) / 2
  assert (s.n, s.mean) == (4, 3.0) and s.half == pytest.approx(half)
  assert s.text(2) == f'3.00 ± {half:.2f}'
  assert verdicts.summarise([5.0]) == verdicts.Summary(1, 5.0, None)
  assert verdicts.summarise([5.0]).text(1) == '5.0'
  assert verdicts.summarise([None]) is None


def test_compare_groups_decides_only_beyond_the_spread():
  apart = verdicts.compare_groups([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
  expected = stats.ttest_ind([1.0, 1.1, 0.9], [2.0, 2.1, 1.9],
                             equal_var=False).pvalue
  assert apart.sign == -1 and apart.p == pytest.approx(expected)
  assert verdicts.compare_groups([2.0, 2.1, 1.9], [1.0, 1.1, 0.9]).sign == 1
  # Means 0.2 apart, spreads of 1: not resolved.
  close = verdicts.compare_groups([0.0, 1.0, 2.0], [0.2, 1.2, 2.2])
  assert close.sign == 0 and close.p > verdicts.ALPHA
  one = verdicts.compare_groups([1.0], [5.0])
  assert one.sign == 0 and one.p is None and one.seeds == 1
  assert verdicts.outcome([(one, -1)]) == 'is not resolved with 1 seed'
  assert verdicts.outcome([(close, -1), (apart, -1)]) == (
      'is not resolved with 3 seeds')
  assert verdicts.outcome([(apart, 1), (close, 1)]) == 'does not hold'
  # Against a fixed number: a one-sample test.
  above = verdicts.compare_groups([0.95, 0.96, 0.97], 0.9)
  assert above.sign == 1 and above.one_sample and above.seeds == 3


def test_compare_needs_the_vaegan_below_both_beyond_the_spread():
  fid = {'vae': 200.0, 'gan': 40.0, 'vaegan': 30.0}
  text = verdicts.compare(_groups(definitions.COMPARE, fid))
  assert text.startswith('The claim holds here') and '30.0 ± ' in text
  text = verdicts.compare(_groups(definitions.COMPARE, {**fid, 'gan': 20.0}))
  assert text.startswith('The claim does not hold here')
  # 30 against 30.5 with seeds ±1 apart: not resolved, and said so.
  text = verdicts.compare(_groups(definitions.COMPARE, {**fid, 'gan': 30.5}))
  assert text.startswith('The claim is not resolved with 3 seeds here')
  assert 'against the GAN\'s: not resolved (p = ' in text
  one = _groups(definitions.COMPARE, fid, spread=(0.0,))
  assert verdicts.compare(one).startswith(
      'The claim is not resolved with 1 seed here')


def test_compare_sets_each_vae_against_the_gan_on_seed_001s_rows():
  def groups(distance, jump):
    return {run.name: [_result(run, seed, {'fid': 30.0 + seed}, measures={
        'coverage': {'distance': distance[run.name] + d / 100},
        'smoothness': {'prior': jump[run.name] + d / 10}})
                       for seed, d in enumerate((-1, 0, 1))]
            for run in definitions.COMPARE.runs}
  distance = {'vae': 0.05, 'vae_bce': 0.30, 'gan': 0.20, 'vaegan': 0.1}
  jump = {'vae': 1.5, 'vae_bce': 1.6, 'gan': 1.55, 'vaegan': 2.0}
  text = verdicts.compare(groups(distance, jump))
  assert 'Seed 001\'s table gives the VAE "Better coverage"' in text
  assert ('mode coverage (the class shares\' distance from 10% each), the '
          'VAE (Gaussian) 0.050 ± 0.025 against the GAN 0.200 ± 0.025: the '
          'VAE\'s better holds') in text
  assert 'the VAE (BCE) 0.300 ± 0.025 against the GAN 0.200 ± 0.025: the ' \
      'VAE\'s better does not hold' in text
  assert ('smoothness (the median jump along lines between prior codes), '
          'the VAE (Gaussian) 1.500 ± 0.248 against the GAN 1.550 ± 0.248: '
          'the VAE\'s better is not resolved with 3 seeds') in text
  # Runs without the measures: the FID verdict alone.
  assert 'Seed 001' not in verdicts.compare(
      _groups(definitions.COMPARE, {r.name: 30.0 for r in
                                    definitions.COMPARE.runs}))


def _two_key_groups(experiment, values, spread=(-1.0, 0.0, 1.0)):
  """Each run's seeds with FID and recon MSE at `values[name]` (fid, mse),
  plus each of `spread` (a hundredth of it for the MSE)."""
  return {run.name: [_result(run, seed, {
      'fid': values[run.name][0] + d, 'recon_mse': values[run.name][1]
      + d / 1000}) for seed, d in enumerate(spread)]
          for run in experiment.runs if run.name in values}


def test_ablation_holds_for_a_trade_off_and_fails_where_a_lambda_dominates():
  # FID falls and reconstruction MSE rises as λ grows: a trade-off.
  values = {'lambda_0.0': (200.0, 0.010), 'lambda_0.25': (90.0, 0.020),
            'lambda_0.5': (60.0, 0.030), 'lambda_0.75': (50.0, 0.040),
            'lambda_1.0': (40.0, 0.5)}
  text = verdicts.ablation(_two_key_groups(definitions.ABLATION, values))
  assert text.startswith('The claim holds here'), text
  assert 'No λ is better than another on both.' in text
  # λ = 0.25 better on both than λ = 0.5: no trade-off between them.
  values['lambda_0.25'] = (50.0, 0.020)
  values['lambda_0.5'] = (70.0, 0.030)
  text = verdicts.ablation(_two_key_groups(definitions.ABLATION, values))
  assert text.startswith('The claim does not hold here'), text
  assert 'λ better on both than another: 0.25 over 0.5' in text
  # The ends alone the wrong way round.
  values['lambda_0.5'] = (60.0, 0.030)
  values['lambda_0.25'] = (90.0, 0.020)
  values['lambda_1.0'] = (250.0, 0.5)
  text = verdicts.ablation(_two_key_groups(definitions.ABLATION, values))
  assert text.startswith('The claim does not hold here'), text
  # Within the spread: not resolved.
  values['lambda_1.0'] = (200.5, 0.5)
  text = verdicts.ablation(_two_key_groups(definitions.ABLATION, values))
  assert text.startswith('The claim is not resolved with 3 seeds'), text


def test_feature_layer_wants_pixels_from_the_first_and_semantics_from_the_third():
  def groups(mse, rfid):
    return {run.name: [_result(run, seed, {
        'fid': 30.0 + d, 'recon_mse': mse[run.name] + d / 1000,
        'rfid': rfid[run.name] + d}) for seed, d in enumerate((-1, 0, 1))]
            for run in definitions.FEATURE_LAYER.runs}

  mse = {'layer_1': 0.01, 'layer_2': 0.02, 'layer_3': 0.03}
  rfid = {'layer_1': 20.0, 'layer_2': 15.0, 'layer_3': 10.0}
  text = verdicts.feature_layer(groups(mse, rfid))
  assert text.startswith('The claim holds'), text
  assert 'FID, which no seed ranks: Dis_1 30.0' in text
  rfid['layer_3'] = 30.0
  text = verdicts.feature_layer(groups(mse, rfid))
  assert text.startswith('The claim does not hold'), text
  assert 'rFID Dis_3 30.0 ± 2.5 against Dis_1 20.0 ± 2.5 (higher' in text
  rfid['layer_3'] = 10.0
  mse['layer_1'] = 0.0305
  assert verdicts.feature_layer(groups(mse, rfid)).startswith(
      'The claim is not resolved with 3 seeds')


def test_collapse_counts_the_remedies_that_raise_recall_and_lower_fid():
  numbers = {'none': (30.0, 0.7), 'minibatch_std': (25.0, 0.8),
             'replay': (35.0, 0.8), 'both': (20.0, 0.6)}

  def groups():
    return {run.name: [_result(run, s, {'fid': numbers[run.name][0] + d,
                                        'recall': numbers[run.name][1]
                                                  + d / 100})
                       for s, d in enumerate((-1.0, 0.0, 1.0))]
            for run in definitions.COLLAPSE.runs}

  text = verdicts.collapse(groups())
  assert text.startswith('The claim does not hold here for every remedy: '
                         'it holds for 1 of the 3')
  for name in ('replay', 'both'):
    numbers[name] = (29.0, 0.71)  # within the spread of 'none'
  text = verdicts.collapse(groups())
  assert text.startswith('The claim is not resolved here for every remedy: '
                         'it holds for 1 of the 3')
  for name in ('replay', 'both'):
    numbers[name] = (20.0, 0.9)
  assert verdicts.collapse(groups()).startswith(
      'The claim holds here for every remedy')


def _lr_groups(losses):
  return {run.name: [_result(run, s, {'fid': 50.0 + d},
                             {k: v * (1 + d / 50) for k, v in
                              losses[run.name].items()})
                     for s, d in enumerate((-1.0, 0.0, 1.0))]
          for run in definitions.LR.runs}


def test_lr_is_stable_when_no_loss_changes_by_half_across_rates():
  losses = {r.name: {'loss/gan_g': 2.0, 'loss/kl': 20.0, 'loss/gan_d': 0.2}
            for r in definitions.LR.runs}
  losses['adam_6e-4'] = {**losses['adam_6e-4'], 'loss/kl': 29.0}
  text = verdicts.lr(_lr_groups(losses))
  assert '"stable to the learning rate" holds' in text, text
  assert 'Adam loss/kl (1.5e-4 against 6e-4), a factor 1.45' in text
  assert '"no difference between Adam and RMSprop" holds' in text
  losses['rmsprop_1.5e-4'] = {**losses['rmsprop_1.5e-4'], 'loss/gan_d': 0.1}
  text = verdicts.lr(_lr_groups(losses))
  assert '"stable to the learning rate" does not hold' in text
  assert 'RMSprop loss/gan_d (1.5e-4 against 3e-4), a factor 2.00' in text
  # Adam and RMSprop apart by 2 at 1.5e-4, beyond the spread.
  assert '"no difference between Adam and RMSprop" does not hold' in text
  assert 'loss/gan_d at 1.5e-4, Adam against RMSprop, a factor 2.00' in text


def test_conditional_tests_every_seeds_worst_class_against_the_threshold():
  run = definitions.CONDITIONAL.runs[0]

  def groups(worst):
    out = []
    for seed, d in enumerate((-0.01, 0.0, 0.01)):
      accuracy = np.full(10, 0.97)
      accuracy[3] = worst + d
      out.append(_result(run, seed, {}, measures={
          'class_accuracy': accuracy.tolist()}))
    return {run.name: out}

  text = verdicts.conditional_claim(groups(0.5))
  assert text.startswith('The claim does not hold') and 'class 3 the ' in text
  assert verdicts.conditional_claim(groups(0.95)).startswith(
      'The claim holds')
  assert verdicts.conditional_claim(groups(0.905)).startswith(
      'The claim is not resolved with 3 seeds')


def test_translation_holds_when_the_vaegan_is_less_affected_by_both_shifts():
  def groups(vaegan_mse, vaegan_sharpness):
    out = {}
    for run in definitions.TRANSLATION.runs:
      mse, sharp = ((vaegan_mse, vaegan_sharpness) if run.name == 'vaegan'
                    else (2.0, 0.6))
      out[run.name] = [_result(run, s, {}, measures={'translation': {
          'unshifted': {'mse': 0.01, 'sharpness': 1.0},
          'seen': {'fraction': 0.1, 'mse': 0.01 * (mse + d),
                   'sharpness': sharp + d / 10},
          'unseen': {'fraction': 0.2, 'mse': 0.02 * (mse + d),
                     'sharpness': sharp / 2 + d / 10}}})
                       for s, d in enumerate((-0.01, 0.0, 0.01))]
    return out

  text = verdicts.translation_claim(groups(1.2, 0.9))
  assert text.startswith('The claim holds'), text
  assert 'the MSE grows by a factor 1.20 ± 0.02 for the VAE-GAN' in text
  # Sharper, but its MSE grows more: affected more by that measure.
  text = verdicts.translation_claim(groups(3.0, 0.9))
  assert text.startswith('The claim does not hold'), text
  assert verdicts.translation_claim(groups(1.2, 0.5)).startswith(
      'The claim does not hold')
  assert verdicts.translation_claim(groups(1.99, 0.601)).startswith(
      'The claim is not resolved with 3 seeds')


def test_features_names_the_runs_meeting_the_target_and_each_features_effect():
  experiment = definitions.FEATURES
  def groups(fid, precision, recall):
    return {run.name: [_result(run, seed, {
        'fid': fid[run.name] + d, 'precision': precision + d / 100,
        'recall': recall + d / 100}) for seed, d in enumerate((-1, 0, 1))]
        for run in experiment.runs if run.name in fid}
  fid = {'none': 30.0, 'ema': 25.0, 'augment': 30.2, 'r1': 40.0,
         'ema_mbstd': 19.0, 'all': 21.0}
  text = verdicts.features(groups(fid, 0.85, 0.82))
  assert 'is met by EMA + minibatch std (3 seeds: FID 19.0' in text
  assert 'EMA + minibatch std + augmentation + R1 (' not in text  # FID 21
  assert 'EMA alone: FID 25.0 ± 2.5, lower' in text
  assert 'augmentation alone: FID 30.2 ± 2.5, not resolved' in text
  assert 'R1 alone: FID 40.0 ± 2.5, higher' in text
  # Precision under 0.80: no run meets the target, whatever its FID.
  assert 'is met by no run' in verdicts.features(groups(fid, 0.79, 0.9))
  assert 'is needed' in verdicts.features(
      {k: v for k, v in groups(fid, 0.9, 0.9).items() if k != 'none'})


def test_tune_chooses_each_models_lowest_fid_once_its_trials_are_done():
  experiment = definitions.TUNE
  fid = {run.name: 50.0 for run in experiment.runs}
  fid.update({'vaegan_triple': 20.0, 'vae_lr': 80.0, 'vae_third': 45.0,
              'gan_default': 30.0, 'gan_third': 30.5})
  groups = _groups(experiment, fid, spread=(0.0,))
  text = verdicts.tune(groups)
  assert 'VAE-GAN: **gamma 0.09** (FID 20.0; the others gamma 0.01 50.0, ' in (
      text)
  assert 'VAE (Gaussian pixels): **kl_weight 0.333** (FID 45.0;' in text
  assert 'GAN: **r1_weight 0.1** (FID 30.0;' in text
  assert 'VAE (Bernoulli pixels: BCE): **kl_weight 0.333** (FID 50.0;' in (
      text)  # all tied at 50: the first
  # A model whose trials have not all finished gets no choice.
  del groups['gan_lr']
  assert 'GAN: 3 of 4 trials finished, nothing chosen yet' in (
      verdicts.tune(groups))


def test_pretrain_wants_the_pretrained_gan_below_the_one_from_scratch():
  fid = {'gan': 40.0, 'vae_then_gan': 30.0, 'vaegan': 20.0}
  text = verdicts.pretrain(_groups(definitions.PRETRAIN, fid))
  assert text.startswith('The claim holds here') and 'FID 30.0 ± ' in text
  assert 'Against the VAE-GAN (20.0 ± 2.5), the pre-trained GAN\'s FID is ' \
      'higher' in text
  text = verdicts.pretrain(_groups(definitions.PRETRAIN,
                                   {**fid, 'vae_then_gan': 50.0}))
  assert text.startswith('The claim does not hold here')
  assert 'needed' in verdicts.pretrain(_groups(definitions.PRETRAIN,
                                               {'gan': 1.0}))


def test_recon_says_which_distance_is_lower_or_neither():
  text = verdicts.recon(_groups(definitions.RECON, {'l1': 20.0, 'l2': 30.0}))
  assert text.startswith('L1 gives the lower FID')
  text = verdicts.recon(_groups(definitions.RECON, {'l1': 30.0, 'l2': 20.0}))
  assert text.startswith('L2 gives the lower FID')
  text = verdicts.recon(_groups(definitions.RECON, {'l1': 30.0, 'l2': 30.2}))
  assert text.startswith('neither gives a lower FID with 3 seeds')


def _stability_groups(experiment, fids, errors=()):
  """Each run's seeds with the FIDs given for its model (by prefix)."""
  groups = {}
  for run in experiment.runs:
    prefix = next(p for p in fids if run.name.startswith(p))
    groups[run.name] = []
    for seed, fid in enumerate(fids[prefix][run.name.rsplit('_', 1)[1]]):
      result = _result(run, seed, {'fid': fid})
      if (run.name, seed) in errors:
        result.timing['error'] = 'non-finite losses at step 300'
      groups[run.name].append(result)
  return groups


def test_a_failed_seed_diverged_or_ended_above_the_threshold():
  run = definitions.EASIER.runs[0]
  assert not verdicts.failed(_result(run, 0, {'fid': 20.0}))
  assert verdicts.failed(_result(run, 0, {'fid': verdicts.FAILED_FID + 1}))
  assert verdicts.failed(_result(run, 0, {'fid': float('nan')}))
  diverged = _result(run, 0, {'fid': 20.0})
  diverged.timing['error'] = 'non-finite'
  assert verdicts.failed(diverged)


def test_easier_holds_with_fewer_failures_or_less_spread_and_neither_against():
  rates = [label for label, _ in definitions.STABILITY_RATES]
  steady = {r: [20.0, 21.0, 22.0] for r in rates}
  wild = {'3e-4': [20.0, 40.0, 60.0], '6e-4': [90.0, 95.0, 99.0],
          '1.2e-3': [150.0, 120.0, 200.0]}
  text = verdicts.easier(_stability_groups(
      definitions.EASIER, {'vaegan': steady, 'gan': wild}))
  assert text.startswith('The claim holds here'), text
  assert 'failed 0 of 9 against 6 of 9 (Fisher p = 0.009)' in text
  text = verdicts.easier(_stability_groups(
      definitions.EASIER, {'vaegan': wild, 'gan': steady}))
  assert text.startswith('The claim does not hold here'), text
  # The same numbers, but every GAN seed at lr 3e-4 and 6e-4 diverged.
  same = verdicts.easier(_stability_groups(
      definitions.EASIER, {'vaegan': steady, 'gan': steady}))
  assert same.startswith('The claim is not resolved with 9 seeds')
  errors = {(f'gan_{r}', k) for r in ('3e-4', '6e-4') for k in range(3)}
  text = verdicts.easier(_stability_groups(
      definitions.EASIER, {'vaegan': steady, 'gan': steady}, errors))
  assert 'failed 0 of 9 against 6 of 9' in text


def test_gan_loss_reads_quality_at_the_chosen_rate_and_stability_over_all():
  rates = [label for label, _ in definitions.STABILITY_RATES]
  steady = {r: [20.0, 21.0, 22.0] for r in rates}
  worse = {r: [40.0, 41.0, 42.0] for r in rates}
  text = verdicts.gan_loss(_stability_groups(definitions.GAN_LOSS, {
      'wgan_gp': steady, 'non_saturating': worse, 'minimax': worse}))
  assert ('sample quality against non-saturating (FID at lr 6e-4, lower is '
          'better): WGAN-GP 21.0 ± 2.5 against 41.0 ± 2.5, better holds'
          ) in text
  assert 'stability against minimax, over every learning rate: failed 0 ' \
      'of 9 against 0 of 9' in text
  assert 'more stable is not resolved with 9 seeds' in text


def test_weights_tests_collapse_with_the_gan_strong_and_fid_with_the_vae():
  def groups(fid, distance):
    return {run.name: [_result(run, seed, {'fid': fid[run.name] + d},
                               measures={'coverage': {
                                   'distance': distance[run.name] + d / 100}})
                       for seed, d in enumerate((-1, 0, 1))]
            for run in definitions.WEIGHTS.runs}
  fid = {'chosen': 20.0, 'gan_strong': 22.0, 'vae_strong': 60.0,
         'kl_weak': 20.5, 'kl_strong': 30.0}
  distance = {n: 0.1 for n in fid}
  distance['gan_strong'] = 0.4
  text = verdicts.weights(groups(fid, distance))
  assert 'the GAN term stronger: the class shares\' distance from 10% ' \
      '0.400 ± 0.025 against 0.100 ± 0.025 at the chosen weights, mode ' \
      'collapse holds' in text
  assert 'L_llike stronger: FID 60.0 ± 2.5 against 20.0 ± 2.5, sample ' \
      'quality suffers holds' in text
  distance['gan_strong'] = 0.05
  fid['vae_strong'] = 10.0
  text = verdicts.weights(groups(fid, distance))
  assert 'mode collapse does not hold' in text
  assert 'sample quality suffers does not hold' in text


def test_kl_collapse_compares_the_stopped_models_with_the_full_ones():
  def result(run, seed, fid, kl, stopped_at=None):
    r = _result(run, seed, {'fid': fid, 'kl': kl})
    r.config.eval = ml_collections.ConfigDict({'collapse_kl': 0.5})
    if stopped_at:
      r.timing.update(step=stopped_at, stopped='posterior collapse')
    return r
  runs = {r.name: r for r in definitions.KL_COLLAPSE.runs}
  def groups(stop_fid, kl=0.01):
    return {
        'kl_30': [result(runs['kl_30'], k, 40 + k, kl) for k in range(3)],
        'kl_30_stop': [result(runs['kl_30_stop'], k, stop_fid + k, kl, 400)
                       for k in range(3)]}
  text = verdicts.kl_collapse(groups(40.0))
  assert text.startswith('The claim holds here'), text
  assert 'the watch stopped 3 of 3 seeds, at step 400 to 400' in text
  assert verdicts.kl_collapse(groups(60.0)).startswith(
      'The claim does not hold here')
  # No collapse: nothing to stop, and the verdict says it cannot test.
  assert 'cannot be tested' in verdicts.kl_collapse(groups(40.0, kl=3.0))


def test_fid_still_falls_where_the_last_drop_beats_the_interval():
  assert verdicts.still_falling({200: [50, 52, 54], 400: [40, 41, 42]})
  # A drop of 1 inside an interval of about ±2.5: no longer falling.
  assert not verdicts.still_falling({200: [50, 51, 52], 400: [49, 50, 51]})
  assert not verdicts.still_falling({200: [40.0], 400: [41.0]})
  assert verdicts.still_falling({200: [40.0], 400: [39.0]})
  assert verdicts.still_falling({400: [40.0]}) is None


@pytest.mark.parametrize('name', sorted(definitions.EXPERIMENTS))
def test_every_experiment_has_a_verdict(name):
  assert name in verdicts.VERDICTS
