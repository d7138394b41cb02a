"""Inception Score (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)).

High when each sample is confidently one class (p(y|x) peaked) and the
samples spread over the classes (p(y) flat): 1 at worst, the number of
classes at best. The usual protocol splits the samples into 10 parts and
reports the mean and standard deviation of the parts' scores. For the FID
Inception network the classes are its 1008 ImageNet outputs; for digits,
the digits classifier's 10.
"""

import numpy as np

DEFAULT_SPLITS = 10


def _log_softmax(logits: np.ndarray) -> np.ndarray:
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(logits: np.ndarray, splits: int = DEFAULT_SPLITS
                    ) -> tuple[float, float]:
  """The Inception Score of samples given their class logits.

  Args:
    logits: [N, K] unnormalised class log-probabilities of N samples.
    splits: parts the samples are split into (fewer if N is smaller).

  Returns:
    (mean, standard deviation) of the parts' scores.
  """
  log_p = _log_softmax(logits)
  splits = max(1, min(splits, len(log_p)))
  scores = []
  for part in np.array_split(log_p, splits):
    p = np.exp(part)
    log_marginal = np.log(np.maximum(p.mean(axis=0), 1e-30))
    kl = np.sum(p * (part - log_marginal[None]), axis=1)
    scores.append(float(np.exp(kl.mean())))
  return float(np.mean(scores)), float(np.std(scores))
