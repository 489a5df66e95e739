"""An ensemble of weak teachers: average several teachers' soft labels, then train naively.

Idea: one weak teacher's errors are partly noise from its own training (seed, sample);
averaging teachers trained on bootstrap resamples of the teacher's ground-truth split
cancels that part and leaves the systematic weakness. The protocol trains the extra
teachers (`teachers` of them) and passes their P(label = 1) in
`MethodContext.teacher_probs`. Caveat for reading its PGR: the reference acc_weak is
the single teacher's, so part of any gain is a better supervisor, not better
weak-to-strong learning. Sources: Breiman 1996, "Bagging Predictors"; multiple weak
supervisors in W2S, e.g. Liu and Alahi 2024, "Co-Supervised Learning: Improving
Weak-to-Strong Generalization with Hierarchical Mixture of Experts" (arXiv:2402.15505).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from experiments.errors import ExperimentError
from experiments.heads import HeadConfig, fit_logistic
from experiments.methods.base import MethodContext
from experiments.methods.registry import register_method


@register_method("teacher_ensemble")
@dataclass(frozen=True)
class TeacherEnsemble:
    """Logistic head on the mean soft label of the given teacher and `teachers` more."""

    summary: ClassVar[str] = (
        "Averages the soft labels of the teacher and 4 more teachers trained on bootstrap "
        "resamples of its data, then trains with cross-entropy."
    )
    source: ClassVar[str] = "Breiman 1996 (bagging); Liu and Alahi 2024, arXiv:2402.15505"
    teachers: ClassVar[int] = 4

    config: HeadConfig = field(default_factory=HeadConfig)
    name: str = "teacher_ensemble"

    def fit_predict(
        self,
        train_x: np.ndarray,
        train_targets: np.ndarray,
        test_x: np.ndarray,
        *,
        seed: int,
        context: MethodContext | None = None,
    ) -> np.ndarray:
        """Average the teachers' soft labels, fit with BCE, predict test_x."""
        extra = None if context is None else context.teacher_probs
        if extra is None or len(extra) == 0:
            raise ExperimentError(
                "teacher_ensemble needs the other teachers' labels (MethodContext.teacher_probs); "
                "run it through run_w2s, which trains them"
            )
        extra = np.asarray(extra, dtype=np.float64)
        if extra.ndim != 2 or extra.shape[1] != len(train_x):
            raise ExperimentError(f"teacher_probs has shape {extra.shape}, expected (k, {len(train_x)})")
        stacked = np.vstack([np.asarray(train_targets, dtype=np.float64)[None, :], extra])
        mean = np.clip(stacked.mean(axis=0), 0.0, 1.0)
        return fit_logistic(train_x, mean, seed=seed, config=self.config).predict_proba(test_x)
