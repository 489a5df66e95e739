"""The contract every W2S method meets, and the optional context some methods need."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class MethodContext:
    """Extra weak supervision the protocol can hand to a method that asks for it.

    `teacher_probs` is (k, n_train): the P(label = 1) that k further weak teachers
    (other seeds, bootstrap resamples of the teacher's ground-truth split) give the
    training rows. Still weak supervision only: no ground truth ever passes here.
    """

    teacher_probs: np.ndarray | None = None


@runtime_checkable
class Method(Protocol):
    """Trains a strong student from weak soft labels and predicts the test inputs.

    `train_x` are strong features of the weakly labelled split, `train_targets` the
    weak teacher's P(label = 1) for them (floats in [0, 1]); the result is the
    student's P(label = 1) for each row of `test_x`. A method never sees ground truth.
    A method that needs more weak supervision accepts a keyword `context`
    (a `MethodContext`) and sets a `teachers` attribute to the number of extra
    teachers it wants; `call_method` passes the context only to such methods.
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


def teachers_wanted(method: Method) -> int:
    """How many extra weak teachers `method` wants in its context (0: none)."""
    return int(getattr(method, "teachers", 0) or 0)


def accepts_context(method: Method) -> bool:
    """Whether `method.fit_predict` takes a `context` keyword."""
    try:
        params = inspect.signature(method.fit_predict).parameters
    except (TypeError, ValueError):
        return False
    return "context" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def call_method(
    method: Method,
    train_x: np.ndarray,
    train_targets: np.ndarray,
    test_x: np.ndarray,
    *,
    seed: int,
    context: MethodContext | None = None,
) -> Any:
    """Run `method`, passing `context` only when its fit_predict accepts one.

    Methods written to the original four-argument interface keep working unchanged.
    """
    if context is not None and accepts_context(method):
        fit: Any = method.fit_predict
        return fit(train_x, train_targets, test_x, seed=seed, context=context)
    return method.fit_predict(train_x, train_targets, test_x, seed=seed)
