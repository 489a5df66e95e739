"""Confident-label weighting: trust the weak teacher where it is sure, less where it is not.

Idea: a weak teacher's errors concentrate on items it is unsure about, so training
rows are weighted by the teacher's confidence |2p - 1| (mode "weight"), or only the
most confident share of rows is kept (mode "filter"). Source: the standard
sample-selection / reweighting treatment of noisy labels, applied to weak-to-strong by
Guo et al. 2024, "Improving Weak-to-Strong Generalization with Reliability-Aware
Alignment" (arXiv:2406.19032); EleutherAI/w2s's confidence-window loss is the mirror
image (it drops rows where the *student* is already confident). Risk: confident
teacher errors are kept, and the hard, informative middle of the data is discounted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from experiments.heads import HeadConfig, fit_head
from experiments.methods.registry import register_method


def confidence_weights(targets: np.ndarray, *, mode: str, keep: float, power: float) -> np.ndarray:
    """Row weights from the teacher's confidence |2p - 1|.

    "weight": confidence ** power (a small floor keeps every row in play);
    "filter": 1 for the `keep` most confident share, 0 for the rest.
    """
    conf = np.abs(2.0 * np.asarray(targets, dtype=np.float64) - 1.0)
    if mode == "weight":
        out: np.ndarray = np.maximum(conf, 1e-3) ** power
        return out
    if mode == "filter":
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"keep must be in (0, 1], got {keep}")
        cut = np.quantile(conf, 1.0 - keep)
        return (conf >= cut).astype(np.float64)
    raise ValueError(f"unknown mode {mode!r}; use 'weight' or 'filter'")


@register_method("confident_weighting")
@dataclass(frozen=True)
class ConfidentWeighting:
    """Logistic head on weak labels, rows weighted (or filtered) by teacher confidence."""

    summary: ClassVar[str] = (
        "Weights each weak label by the teacher's confidence |2p-1| (or keeps only the most "
        "confident share)."
    )
    source: ClassVar[str] = "Noisy-label sample selection; Guo et al. 2024, arXiv:2406.19032"

    config: HeadConfig = field(default_factory=HeadConfig)
    mode: Literal["weight", "filter"] = "weight"
    keep: float = 0.6  # for "filter": share of rows kept
    power: float = 1.0  # for "weight": sharpness of the weighting
    name: str = "confident_weighting"

    def fit_predict(
        self,
        train_x: np.ndarray,
        train_targets: np.ndarray,
        test_x: np.ndarray,
        *,
        seed: int,
    ) -> np.ndarray:
        """Fit on confidence-weighted weak labels; return P(label = 1) for test_x."""
        targets = np.clip(train_targets, 0.0, 1.0)
        weights = confidence_weights(targets, mode=self.mode, keep=self.keep, power=self.power)
        head = fit_head(train_x, targets, seed=seed, config=self.config, weights=weights)
        return head.predict_proba(test_x)
