"""The method library: every method learns, the interface holds, the warm-up is smooth."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import ExperimentError, Method, MethodContext, get_method, method_catalog
from experiments.heads import HeadConfig, fit_head
from experiments.methods import METHODS, accepts_context, call_method, teachers_wanted
from experiments.methods.confidence import AuxConfidence, warmup_weight
from experiments.methods.confident_weighting import confidence_weights
from experiments.methods.noisy_channel import channel, confidence_bins, posterior

EXPECTED = {"cross_entropy", "confidence", "confident_weighting", "early_stopping", "noisy_channel",
            "self_training", "teacher_ensemble", "principal_probe"}
FAST = HeadConfig(steps=120)


def _problem(seed: int = 0, n: int = 900, dim: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Separable features whose label direction is also their main axis of variation."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    x = rng.normal(size=(n, dim)) + np.outer(2 * y - 1, direction) * 2.5
    # Weak soft labels: right on ~75% of items, confident either way.
    wrong = rng.random(n) < 0.25
    weak = np.where((y == 1) ^ wrong, 0.8, 0.2) + rng.normal(0, 0.05, n)
    return x.astype(np.float32), y, np.clip(weak, 0.01, 0.99)


def test_every_library_method_is_registered_and_catalogued() -> None:
    assert EXPECTED <= set(METHODS)
    catalog = method_catalog()
    names = [entry["name"] for entry in catalog]
    assert names == sorted(names) and EXPECTED <= set(names)
    for entry in catalog:
        assert entry["summary"] and entry["source"], entry
        assert isinstance(get_method(entry["name"]), Method)
    assert {e["name"]: e["teachers"] for e in catalog}["teacher_ensemble"] > 0


def test_every_method_module_names_its_idea_and_source() -> None:
    import importlib

    for name in EXPECTED:
        module = importlib.import_module(type(get_method(name)).__module__)
        doc = module.__doc__ or ""
        assert len(doc) > 200, name
        assert any(year in doc for year in ("19", "20")), f"{name}: no source with a year"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_method_beats_chance_on_a_separable_problem(name: str) -> None:
    x, y, weak = _problem()
    train, test = slice(0, 600), slice(600, None)
    method = get_method(name)
    if hasattr(method, "config"):
        import dataclasses

        method = dataclasses.replace(method, config=FAST)  # type: ignore[type-var]
    rng = np.random.default_rng(5)
    others = np.clip(weak[train][None, :] + rng.normal(0, 0.1, (teachers_wanted(method), 600)), 0, 1)
    probs = call_method(method, x[train], weak[train], x[test], seed=0,
                        context=MethodContext(teacher_probs=others))
    probs = np.asarray(probs)
    assert probs.shape == (300,) and np.all((probs >= 0) & (probs <= 1))
    assert np.mean((probs > 0.5) == y[test]) > 0.8, name


def test_warmup_is_smooth_monotone_and_reaches_the_coefficient() -> None:
    steps = np.linspace(0, 1, 2001)
    w = np.array([warmup_weight(float(t), aux_coef=0.5, warmup_frac=0.2) for t in steps])
    assert w[0] == 0.0 and w[-1] == pytest.approx(0.5)
    assert np.all(np.diff(w) >= -1e-12)  # monotone
    # Smooth: no step between neighbouring points jumps (the reference jumps 0.05 -> 0.5).
    assert np.max(np.diff(w)) < 0.01
    assert warmup_weight(0.2, aux_coef=0.5, warmup_frac=0.2) == pytest.approx(0.5)
    assert warmup_weight(0.1, aux_coef=0.5, warmup_frac=0.2) == pytest.approx(0.25)
    assert warmup_weight(0.5, aux_coef=0.5, warmup_frac=0.0) == 0.5


def test_confidence_loss_target_moves_towards_own_predictions() -> None:
    import torch

    method = AuxConfidence(aux_coef=0.5, warmup_frac=0.2)
    logits = torch.tensor([3.0, -3.0, 2.0, -2.0])
    targets = torch.tensor([0.0, 1.0, 0.0, 1.0])  # the teacher disagrees everywhere
    start = method.loss(logits, targets, 0.0)
    late = method.loss(logits, targets, 1.0)
    assert torch.all(late < start)  # own confident predictions are rewarded once warmed up


def test_confidence_weights_modes() -> None:
    t = np.array([0.5, 0.6, 0.9, 0.1, 0.99])
    w = confidence_weights(t, mode="weight", keep=1.0, power=1.0)
    assert w[0] < w[1] < w[2] and w[3] == pytest.approx(w[2])
    kept = confidence_weights(t, mode="filter", keep=0.4, power=1.0)
    assert kept[0] == kept[1] == 0 and kept[4] == 1  # the least confident rows go first
    with pytest.raises(ValueError):
        confidence_weights(t, mode="nope", keep=1.0, power=1.0)


def test_noisy_channel_posterior_follows_a_reliable_teacher() -> None:
    weak = np.array([0.05, 0.1, 0.9, 0.95] * 25)
    bins = confidence_bins(weak, 2)
    truth_like = (weak > 0.5).astype(float)
    conf = channel(truth_like, bins, 2)
    q = posterior(np.full(len(weak), 0.5), bins, conf)
    assert np.all(q[weak > 0.5] > 0.9) and np.all(q[weak < 0.5] < 0.1)


def test_context_is_passed_only_to_methods_that_take_it() -> None:
    ce, ensemble = get_method("cross_entropy"), get_method("teacher_ensemble")
    assert not accepts_context(ce) and accepts_context(ensemble)
    assert teachers_wanted(ce) == 0 and teachers_wanted(ensemble) == 4
    x, _, weak = _problem(n=200)
    with pytest.raises(ExperimentError, match="teacher_probs"):
        ensemble.fit_predict(x, weak, x, seed=0)
    # cross_entropy ignores a context it does not understand.
    out = call_method(ce, x, weak, x[:5], seed=0, context=MethodContext(teacher_probs=weak[None, :]))
    assert np.asarray(out).shape == (5,)


def test_fit_head_weights_and_checkpoints() -> None:
    x, y, _ = _problem(n=300)
    seen: list[int] = []
    head = fit_head(x, y.astype(float), seed=0, config=HeadConfig(steps=50), checkpoint_every=20,
                    on_checkpoint=lambda step, h: seen.append(step))
    assert seen == [20, 40, 50]
    assert np.mean((head.predict_proba(x) > 0.5) == y) > 0.9
    # Zero weight on half the rows: those rows' (flipped) labels must not matter.
    flipped = np.where(np.arange(300) < 150, 1 - y, y).astype(float)
    weights = (np.arange(300) >= 150).astype(float)
    weighted = fit_head(x, flipped, seed=0, config=HeadConfig(steps=80), weights=weights)
    assert np.mean((weighted.predict_proba(x) > 0.5) == y) > 0.9
