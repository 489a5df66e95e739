"""Strong prior x weak-label likelihood: EM over the teacher's confusion (a noisy channel).

Idea: treat the true label z as hidden. The strong student gives a prior
P(z | x); the weak teacher is a noisy channel that turns z into a confidence bin b
with an unknown confusion matrix C[z, b] = P(b | z). The posterior

    q(z = 1) ∝ P(z = 1 | x) * C[1, b]

is a better target than the weak label alone when the two views err on different
items. EM alternates: estimate C from the current posteriors, recompute the
posteriors, refit the student on them. The student's prior for an item always comes
from a head trained on the *other* fold (cross-fitting), so an item's own weak label
is not counted twice. Sources: Dawid and Skene 1979 (EM over annotator confusion);
Goldberger and Ben-Reuven 2017, "Training deep neural-networks using a noise
adaptation layer" (ICLR); the product loss (preds^beta * labels^alpha) in
openai/weak-to-strong `loss.py` is the same posterior with a fixed channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from experiments.heads import HeadConfig, fit_logistic
from experiments.methods.registry import register_method


def confidence_bins(targets: np.ndarray, bins: int) -> np.ndarray:
    """Bin index of each weak probability, edges at its quantiles (equal-count bins)."""
    edges = np.quantile(targets, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, targets, side="right")


def channel(posterior: np.ndarray, bin_of: np.ndarray, bins: int, smoothing: float = 1.0) -> np.ndarray:
    """C[z, b] = P(weak bin b | true z), estimated from posteriors q(z = 1), smoothed."""
    counts = np.zeros((2, bins))
    np.add.at(counts[1], bin_of, posterior)
    np.add.at(counts[0], bin_of, 1.0 - posterior)
    counts += smoothing
    out: np.ndarray = counts / counts.sum(axis=1, keepdims=True)
    return out


def posterior(prior: np.ndarray, bin_of: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """q(z = 1) from the strong prior P(z = 1 | x) and the channel's likelihoods."""
    p = np.clip(prior, 1e-6, 1 - 1e-6)
    like1, like0 = conf[1, bin_of], conf[0, bin_of]
    out: np.ndarray = p * like1 / (p * like1 + (1 - p) * like0)
    return out


@register_method("noisy_channel")
@dataclass(frozen=True)
class NoisyChannelEM:
    """Logistic head fit to EM posteriors of a strong prior and a learned weak channel."""

    summary: ClassVar[str] = (
        "EM: strong student's cross-fitted prior times a learned confusion of the teacher's "
        "confidence bins; the student is refit on the posteriors."
    )
    source: ClassVar[str] = (
        "Dawid and Skene 1979; Goldberger and Ben-Reuven 2017 (noise adaptation layer); "
        "product loss in openai/weak-to-strong"
    )

    config: HeadConfig = field(default_factory=HeadConfig)
    bins: int = 5
    iterations: int = 2
    name: str = "noisy_channel"

    def _cross_fitted(self, x: np.ndarray, targets: np.ndarray, folds: np.ndarray, seed: int) -> np.ndarray:
        """Each row's P(z = 1 | x) from a head trained on the other fold."""
        out = np.empty(len(x))
        for k in (0, 1):
            train, held = folds != k, folds == k
            out[held] = fit_logistic(x[train], targets[train], seed=seed + k, config=self.config).predict_proba(x[held])
        return out

    def fit_predict(
        self,
        train_x: np.ndarray,
        train_targets: np.ndarray,
        test_x: np.ndarray,
        *,
        seed: int,
    ) -> np.ndarray:
        """Run EM on the training rows, fit the final head on the posteriors, predict test_x."""
        weak = np.clip(np.asarray(train_targets, dtype=np.float64), 0.0, 1.0)
        if len(train_x) < 4:
            return fit_logistic(train_x, weak, seed=seed, config=self.config).predict_proba(test_x)
        folds = np.random.default_rng(seed).permutation(len(train_x)) % 2
        bin_of = confidence_bins(weak, self.bins)
        q = weak
        for _ in range(max(1, self.iterations)):
            prior = self._cross_fitted(train_x, q, folds, seed)
            conf = channel(prior, bin_of, self.bins)
            q = posterior(prior, bin_of, conf)
        return fit_logistic(train_x, q, seed=seed, config=self.config).predict_proba(test_x)
