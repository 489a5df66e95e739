"""Auxiliary confidence loss: mix the weak labels with the student's own hardened guesses.

Idea and source: Burns et al., "Weak-to-Strong Generalization" (OpenAI, 2023,
arXiv:2312.09390), section 4.3.2, and `logconf_loss_fn` in openai/weak-to-strong
(`weak_to_strong/loss.py`). The target is

    (1 - a(t)) * weak_label + a(t) * hard(student)

where hard(student) thresholds the student's own probabilities inside the batch so
that the share of predicted positives matches the weak labels' share. It lets the
strong student stay confident where it disagrees with the teacher instead of
imitating the teacher's mistakes.

The warm-up, and the bug in the reference code: there `coef = 1.0 if step_frac >
warmup_frac else step_frac`, so during warm-up the weight grows as step_frac itself
(0 -> warmup_frac, i.e. 0 -> 0.1 of its target) and then jumps to its full value
in one step: a discontinuous 10x jump (aux weight 0.05 -> 0.5 with the defaults),
because `step_frac` was never divided by `warmup_frac`. Here the weight follows a
smooth, monotone half-cosine ramp from 0 to `aux_coef` over the first
`warmup_frac` of training and stays there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from experiments.heads import HeadConfig, fit_head
from experiments.methods.registry import register_method


def warmup_weight(progress: float, *, aux_coef: float, warmup_frac: float) -> float:
    """The auxiliary weight at `progress` in [0, 1] of training: a half-cosine ramp.

    Continuous with zero slope at both ends, monotone non-decreasing, 0 at the start
    and `aux_coef` from `warmup_frac` on.
    """
    if warmup_frac <= 0:
        return aux_coef
    u = min(1.0, max(0.0, progress / warmup_frac))
    return aux_coef * 0.5 * (1.0 - math.cos(math.pi * u))


def hardened(probs: torch.Tensor, positive_share: float) -> torch.Tensor:
    """1 for the `positive_share` most positive rows of the batch, else 0.

    Thresholding at a quantile rather than at 0.5 keeps the auxiliary target from
    collapsing onto one class when the student is uncertain (as the reference does).
    """
    share = min(1.0, max(0.0, positive_share))
    threshold = torch.quantile(probs, 1.0 - share)
    return (probs >= threshold).to(probs.dtype)


@register_method("confidence")
@dataclass(frozen=True)
class AuxConfidence:
    """Logistic head trained on weak labels mixed with its own hardened predictions."""

    summary: ClassVar[str] = (
        "Auxiliary confidence loss: weak labels mixed with the student's own hardened "
        "predictions, smooth warm-up of the mixing weight."
    )
    source: ClassVar[str] = "Burns et al. 2023, arXiv:2312.09390, sec. 4.3.2; openai/weak-to-strong loss.py"

    config: HeadConfig = field(default_factory=HeadConfig)
    # 0.5 and a warm-up over the first part of training are the reference defaults;
    # 0.2 rather than 0.1 because our head trains for ~30 passes instead of 2.
    aux_coef: float = 0.5
    warmup_frac: float = 0.2
    name: str = "confidence"

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, progress: float) -> torch.Tensor:
        """Per-row BCE against the mixed target at this point of training."""
        coef = warmup_weight(progress, aux_coef=self.aux_coef, warmup_frac=self.warmup_frac)
        if coef == 0.0:
            return F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        own = hardened(torch.sigmoid(logits.detach()), float(targets.mean()))
        mixed = (1.0 - coef) * targets + coef * own
        return F.binary_cross_entropy_with_logits(logits, mixed, reduction="none")

    def fit_predict(
        self,
        train_x: np.ndarray,
        train_targets: np.ndarray,
        test_x: np.ndarray,
        *,
        seed: int,
    ) -> np.ndarray:
        """Fit with the confidence loss; return P(label = 1) for test_x."""
        head = fit_head(train_x, np.clip(train_targets, 0.0, 1.0), seed=seed, config=self.config,
                        loss=self.loss)
        return head.predict_proba(test_x)
