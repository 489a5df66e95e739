"""Self-training: the student relabels its own training data, iterated.

Idea: start from the naive student, then repeat: label the training rows with the
student's hardened predictions (thresholded so the positive share matches the weak
labels'), mix them with the weak labels, and refit. Where the strong features
disagree with the teacher, the student's own view gains weight each round. An
offline, iterated version of the auxiliary confidence loss of Burns et al. 2023
(arXiv:2312.09390), which mixes in the student's hardened guesses online. Sources:
Yarowsky 1995 (self-training); Lee 2013, "Pseudo-Label"; Xie et al. 2020,
"Self-training with Noisy Student" (CVPR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from experiments.heads import HeadConfig, LogisticHead, fit_logistic
from experiments.methods.registry import register_method


def harden(probs: np.ndarray, positive_share: float) -> np.ndarray:
    """1.0 for the `positive_share` most positive rows, else 0.0."""
    share = min(1.0, max(0.0, positive_share))
    cut = np.quantile(probs, 1.0 - share)
    return (probs >= cut).astype(np.float64)


@register_method("self_training")
@dataclass(frozen=True)
class SelfTraining:
    """Logistic head refit for a few rounds on weak labels mixed with its own pseudo-labels."""

    summary: ClassVar[str] = (
        "Iterated pseudo-labelling: each round refits on (1-w)*weak + w*hardened own predictions."
    )
    source: ClassVar[str] = "Yarowsky 1995; Lee 2013 (Pseudo-Label); Xie et al. 2020 (Noisy Student)"

    config: HeadConfig = field(default_factory=HeadConfig)
    rounds: int = 3
    own_weight: float = 0.5  # w: how much each round trusts the student's own labels
    name: str = "self_training"

    def fit_predict(
        self,
        train_x: np.ndarray,
        train_targets: np.ndarray,
        test_x: np.ndarray,
        *,
        seed: int,
    ) -> np.ndarray:
        """Naive student, then `rounds` refits on mixed targets; predict test_x."""
        weak = np.clip(np.asarray(train_targets, dtype=np.float64), 0.0, 1.0)
        share = float(weak.mean())
        head: LogisticHead = fit_logistic(train_x, weak, seed=seed, config=self.config)
        for r in range(self.rounds):
            own = harden(head.predict_proba(train_x), share)
            targets = (1.0 - self.own_weight) * weak + self.own_weight * own
            head = fit_logistic(train_x, targets, seed=seed + r + 1, config=self.config)
        return head.predict_proba(test_x)
