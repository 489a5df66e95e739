"""The weak-to-strong protocol and PGR.

Per seed: the weak teacher (a linear head on weak features) learns from ground truth
on `train_label` and labels `train_unlabel` with soft probabilities; the method trains
the student on strong features of `train_unlabel` with those labels only; the ceiling
is the same linear head on strong features trained on `train_unlabel`'s ground truth.
All three are scored on the `test` split; PGR compares their mean accuracies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.errors import ExperimentError
from experiments.features import ProgressFn
from experiments.heads import LogisticHead, fit_logistic
from experiments.methods import Method, get_method
from experiments.pair_features import weak_strong_features
from experiments.testbeds import Splits, load_testbed

# Below a 2-point gap the test-set noise alone swings PGR by more than its whole range.
MIN_GAP = 0.02
BOOTSTRAP_SAMPLES = 1000


def pgr(acc_w2s: float, acc_weak: float, acc_ceiling: float) -> float:
    """Performance gap recovered: (w2s - weak) / (ceiling - weak).

    Raises ValueError when the ceiling does not beat the weak model (gap <= 0).
    """
    gap = acc_ceiling - acc_weak
    if not gap > 0:
        raise ValueError(f"PGR is undefined: ceiling {acc_ceiling:.4f} does not beat weak {acc_weak:.4f}")
    return (acc_w2s - acc_weak) / gap


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of items where P(label = 1) > 0.5 agrees with the label."""
    return float(np.mean((np.asarray(probs) > 0.5) == (np.asarray(labels) == 1)))


def train_teacher(weak_x: np.ndarray, labels: np.ndarray, splits: Splits, *, seed: int) -> LogisticHead:
    """The weak teacher: a linear head on weak features, ground truth of train_label."""
    return fit_logistic(weak_x[splits.train_label], labels[splits.train_label], seed=seed)


def train_ceiling(strong_x: np.ndarray, labels: np.ndarray, splits: Splits, *, seed: int) -> LogisticHead:
    """The ceiling: a linear head on strong features, ground truth of train_unlabel."""
    return fit_logistic(strong_x[splits.train_unlabel], labels[splits.train_unlabel], seed=seed)


def checked_predictions(method: Method, probs: Any, n: int) -> np.ndarray:
    """A method's output as float64 probabilities, or an error naming what is wrong."""
    out = np.asarray(probs, dtype=np.float64).reshape(-1)
    if out.shape[0] != n:
        raise ExperimentError(f"method {method.name!r} returned {out.shape[0]} predictions for {n} test rows")
    if not np.all(np.isfinite(out)) or out.min() < 0 or out.max() > 1:
        raise ExperimentError(f"method {method.name!r} returned values that are not probabilities in [0, 1]")
    return out


@dataclass(frozen=True)
class SeedResult:
    """Accuracies of one seed (pgr is None when this seed's gap is below MIN_GAP)."""

    seed: int
    acc_weak: float
    acc_ceiling: float
    acc_w2s: float
    pgr: float | None


@dataclass(frozen=True)
class W2SResult:
    """Mean accuracies over seeds, the gap, and PGR with a 95% bootstrap interval.

    `pgr` and `pgr_interval` are None, with `note` saying why, when the mean gap is
    below MIN_GAP. The interval resamples test items (all seeds together).
    """

    testbed: str
    method: str
    seeds: int
    acc_weak: float
    acc_ceiling: float
    gap: float
    acc_w2s: float
    pgr: float | None
    pgr_interval: tuple[float, float] | None
    note: str | None
    n_train_label: int
    n_train_unlabel: int
    n_test: int
    per_seed: tuple[SeedResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (per_seed as a list of dicts)."""
        out = asdict(self)
        out["per_seed"] = [asdict(s) for s in self.per_seed]
        out["pgr_interval"] = list(self.pgr_interval) if self.pgr_interval is not None else None
        return out


def pgr_bootstrap_interval(
    weak_correct: np.ndarray, ceiling_correct: np.ndarray, w2s_correct: np.ndarray, *, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile interval of PGR when test items are resampled.

    Inputs are (seeds, n_test) booleans. Resamples whose gap is not positive are
    dropped; None when fewer than half remain (PGR is then not meaningful).
    """
    rng = np.random.default_rng(seed)
    n = weak_correct.shape[1]
    idx = rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))
    w = weak_correct[:, idx].mean(axis=(0, 2))
    c = ceiling_correct[:, idx].mean(axis=(0, 2))
    s = w2s_correct[:, idx].mean(axis=(0, 2))
    ok = c - w > 0
    if ok.sum() < BOOTSTRAP_SAMPLES / 2:
        return None
    values = (s[ok] - w[ok]) / (c[ok] - w[ok])
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def run_w2s(
    testbed_name: str,
    method_name: str,
    *,
    seeds: int,
    cache_dir: Path | str | None = None,
    limit: int | None = None,
    on_progress: ProgressFn | None = None,
) -> W2SResult:
    """Run the W2S protocol for `seeds` seeds (0..seeds-1) and summarise.

    `cache_dir` holds the feature cache (default: `$AAR_CACHE_DIR` or
    ~/.cache/aar/features); `limit` uses the testbed's first items only;
    `on_progress(done, total)` reports feature extraction.
    """
    if seeds < 1:
        raise ExperimentError(f"seeds must be at least 1, got {seeds}")
    method = get_method(method_name)  # fail on a bad name before any slow work
    testbed = load_testbed(testbed_name, limit=limit)
    splits, y = testbed.splits, testbed.labels
    for part in ("train_label", "train_unlabel", "test"):
        if len(getattr(splits, part)) == 0:
            raise ExperimentError(f"testbed {testbed_name!r} (limit={limit}) has no {part} items")
    feats = weak_strong_features(testbed, cache_dir=cache_dir, on_progress=on_progress)
    y_test = y[splits.test]
    per_seed: list[SeedResult] = []
    corrects: list[list[np.ndarray]] = [[], [], []]
    for seed in range(seeds):
        teacher = train_teacher(feats.weak, y, splits, seed=seed)
        weak_soft = teacher.predict_proba(feats.weak[splits.train_unlabel])
        student = checked_predictions(method, method.fit_predict(
            feats.strong[splits.train_unlabel], weak_soft, feats.strong[splits.test], seed=seed,
        ), len(splits.test))
        ceiling = train_ceiling(feats.strong, y, splits, seed=seed)
        probs = (
            teacher.predict_proba(feats.weak[splits.test]),
            ceiling.predict_proba(feats.strong[splits.test]),
            student,
        )
        for store, p in zip(corrects, probs):
            store.append((p > 0.5) == (y_test == 1))
        aw, ac, a2 = (float(np.mean(c[-1])) for c in corrects)
        per_seed.append(SeedResult(seed, aw, ac, a2, pgr(a2, aw, ac) if ac - aw >= MIN_GAP else None))
    acc_weak, acc_ceiling, acc_w2s = (float(np.mean([np.mean(c) for c in store])) for store in corrects)
    gap = acc_ceiling - acc_weak
    enough = gap >= MIN_GAP
    return W2SResult(
        testbed=testbed_name, method=method.name, seeds=seeds,
        acc_weak=acc_weak, acc_ceiling=acc_ceiling, gap=gap, acc_w2s=acc_w2s,
        pgr=pgr(acc_w2s, acc_weak, acc_ceiling) if enough else None,
        pgr_interval=pgr_bootstrap_interval(*(np.stack(c) for c in corrects)) if enough else None,
        note=None if enough else f"gap too small: {100 * gap:.1f} points < {100 * MIN_GAP:.0f}",
        n_train_label=len(splits.train_label), n_train_unlabel=len(splits.train_unlabel),
        n_test=len(splits.test), per_seed=tuple(per_seed),
    )

