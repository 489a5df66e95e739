"""The contract every W2S method meets."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Method(Protocol):
    """Trains a strong student from weak soft labels and predicts the test inputs.

    `train_x` are strong features of the weakly labelled split, `train_targets` the
    weak teacher's P(label = 1) for them (floats in [0, 1]); the result is the
    student's P(label = 1) for each row of `test_x`. A method never sees ground truth.
    """

    @property
    def name(self) -> str:
        """The registry name, used in results and on the leaderboard."""
        ...

    def fit_predict(
        self,
        train_x: np.ndarray,
        train_targets: np.ndarray,
        test_x: np.ndarray,
        *,
        seed: int,
    ) -> np.ndarray:
        """Fit on (train_x, train_targets) with `seed`; return probabilities for test_x."""
        ...
