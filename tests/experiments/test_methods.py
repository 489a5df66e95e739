"""The method registry and the cross-entropy baseline."""

from __future__ import annotations

import time

import numpy as np
import pytest

from experiments import METHODS, ExperimentError, Method, UnknownMethodError, get_method


def _separable(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    direction = rng.normal(size=dim)
    x = rng.normal(size=(n, dim)) + np.outer(2 * y - 1, direction) * 0.3
    return x.astype(np.float32), y


def test_registry_lists_cross_entropy() -> None:
    assert "cross_entropy" in METHODS
    method = get_method("cross_entropy")
    assert isinstance(method, Method)
    assert method.name == "cross_entropy"


def test_unknown_method_names_the_known_ones() -> None:
    with pytest.raises(UnknownMethodError) as info:
        get_method("magic")
    assert "magic" in str(info.value) and "cross_entropy" in str(info.value)
    assert isinstance(info.value, ExperimentError)


def test_cross_entropy_learns_from_noisy_soft_labels() -> None:
    x, y = _separable(1200, 64, seed=0)
    rng = np.random.default_rng(1)
    # Soft labels that lean the right way but are flipped on 20% of items.
    flipped = np.where(rng.random(len(y)) < 0.2, 1 - y, y)
    soft = np.where(flipped == 1, 0.8, 0.2)
    train, test = slice(0, 800), slice(800, None)
    probs = get_method("cross_entropy").fit_predict(x[train], soft[train], x[test], seed=0)
    assert probs.shape == (400,)
    assert np.all((probs >= 0) & (probs <= 1))
    assert np.mean((probs > 0.5) == y[test]) > 0.9


def test_cross_entropy_is_deterministic_per_seed() -> None:
    x, y = _separable(300, 16, seed=3)
    method = get_method("cross_entropy")
    a = method.fit_predict(x, y.astype(float), x, seed=7)
    b = method.fit_predict(x, y.astype(float), x, seed=7)
    np.testing.assert_array_equal(a, b)


def test_cross_entropy_trial_is_fast_at_testbed_size() -> None:
    # The stdlib-docstrings student sees ~2400 x 768 features; budget 2 s per trial.
    x, y = _separable(2400, 768, seed=4)
    start = time.perf_counter()
    get_method("cross_entropy").fit_predict(x, y.astype(float), x[:1800], seed=0)
    assert time.perf_counter() - start < 2.0
