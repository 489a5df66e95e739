"""Naive cross-entropy on weak labels: the W2S baseline.

Idea: train the strong model's linear head to match the weak teacher's soft labels
with binary cross-entropy and nothing else, as the "naive finetuning" baseline of
Burns et al., "Weak-to-Strong Generalization: Eliciting Strong Capabilities With Weak
Supervision" (OpenAI, 2023, arXiv:2312.09390). Whatever PGR it reaches comes from the
strong features' inductive bias plus L2 regularisation, not from the method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from experiments.heads import HeadConfig, fit_logistic
from experiments.methods.registry import register_method


@register_method("cross_entropy")
@dataclass(frozen=True)
class CrossEntropy:
    """Logistic head on standardised strong features, BCE against weak soft labels."""

    summary: ClassVar[str] = "Naive baseline: binary cross-entropy against the weak soft labels."
    source: ClassVar[str] = "Burns et al. 2023, arXiv:2312.09390 (naive finetuning baseline)"

    config: HeadConfig = field(default_factory=HeadConfig)
    name: str = "cross_entropy"

    def fit_predict(
        self,
        train_x: np.ndarray,
        train_targets: np.ndarray,
        test_x: np.ndarray,
        *,
        seed: int,
    ) -> np.ndarray:
        """Fit on weak soft labels; return P(label = 1) for test_x."""
        head = fit_logistic(train_x, np.clip(train_targets, 0.0, 1.0), seed=seed, config=self.config)
        return head.predict_proba(test_x)
