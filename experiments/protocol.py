"""The weak-to-strong protocol and PGR.

Per seed: the weak teacher (a linear head on weak features) learns from ground truth
on `train_label` and labels `train_unlabel` with soft probabilities; the method trains
the student on strong features of `train_unlabel` with those labels only; the ceiling
is the same linear head on strong features trained on `train_unlabel`'s ground truth.
All three are scored on the `test` split. The weak and ceiling accuracies are fixed
baselines over at least `BASELINE_SEEDS` seeds, cached on disk (`experiments.baselines`);
PGR compares mean accuracies and carries a bootstrap interval over test items and
seeds (`experiments.bootstrap`). When the gap's lower 95% bound is below MIN_GAP the
result says "gap too small" instead of a PGR.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from experiments.baselines import BASELINE_SEEDS, fixed_baselines, train_ceiling, train_teacher
from experiments.bootstrap import BOOTSTRAP_SAMPLES, MIN_GAP, gap_and_pgr
from experiments.errors import ExperimentError
from experiments.features import ProgressFn
from experiments.methods import Method, MethodContext, call_method, get_method, teachers_wanted
from experiments.pair_features import weak_strong_features
from experiments.testbeds import load_testbed

WeakLabels = Literal["teacher", "shuffled"]  # what the student learns from ("shuffled": a control)

__all__ = [
    "BASELINE_SEEDS", "BOOTSTRAP_SAMPLES", "MIN_GAP", "SeedResult", "W2SResult", "accuracy",
    "checked_predictions", "pgr", "pgr_bootstrap_interval", "run_w2s", "train_ceiling", "train_teacher",
]


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
    """Mean accuracies, the gap and PGR, each with a 95% bootstrap interval.

    acc_weak and acc_ceiling are the fixed baselines (`baseline_seeds` seeds); acc_w2s
    averages the method's `seeds` seeds. `pgr` and `pgr_interval` are None, with `note`
    saying why, when the gap's lower 95% bound is below MIN_GAP ("gap too small").
    Intervals resample test items and seeds. `seconds_per_seed` times the method only.
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
    baseline_seeds: int = BASELINE_SEEDS
    gap_interval: tuple[float, float] | None = None
    seconds_per_seed: float = 0.0
    weak_labels: WeakLabels = "teacher"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (per_seed as a list of dicts, intervals as lists)."""
        out = asdict(self)
        out["per_seed"] = [asdict(s) for s in self.per_seed]
        for key in ("pgr_interval", "gap_interval"):
            value = getattr(self, key)
            out[key] = list(value) if value is not None else None
        return out


def pgr_bootstrap_interval(
    weak_correct: np.ndarray, ceiling_correct: np.ndarray, w2s_correct: np.ndarray, *, seed: int = 0
) -> tuple[float, float] | None:
    """95% interval of PGR, resampling test items and seeds; None without a clear gap.

    Inputs are (seeds, n_test) booleans (weak and ceiling with the same seeds).
    """
    return gap_and_pgr(weak_correct, ceiling_correct, w2s_correct, seed=seed, min_gap=0.0).pgr_interval


def extra_teacher_probs(weak_x: np.ndarray, labels: np.ndarray, splits: Any, *, seed: int, k: int) -> np.ndarray:
    """(k, n_train_unlabel) soft labels of k teachers on bootstrap resamples of train_label."""
    rows = weak_x[splits.train_unlabel]
    return np.stack([train_teacher(weak_x, labels, splits, seed=seed, resample=j + 1).predict_proba(rows)
                     for j in range(k)])


def run_w2s(
    testbed_name: str,
    method_name: str,
    *,
    seeds: int,
    cache_dir: Path | str | None = None,
    limit: int | None = None,
    on_progress: ProgressFn | None = None,
    baseline_seeds: int = BASELINE_SEEDS,
    weak_labels: WeakLabels = "teacher",
) -> W2SResult:
    """Run the W2S protocol for `seeds` seeds (0..seeds-1) and summarise.

    `weak_labels="shuffled"` is a control: each seed's weak labels are permuted across
    the training rows (the same permutation for every teacher), so they say nothing
    about the items; a method that still recovers PGR gets its signal elsewhere.

    `cache_dir` holds the feature cache and, under `baselines/`, the fixed baselines
    (default: `$AAR_CACHE_DIR` or ~/.cache/aar/features); `limit` uses the testbed's
    first items only; `on_progress(done, total)` reports feature extraction. The
    baselines use max(baseline_seeds, seeds) seeds.
    """
    if seeds < 1:
        raise ExperimentError(f"seeds must be at least 1, got {seeds}")
    method = get_method(method_name)  # fail on a bad name before any slow work
    if weak_labels not in ("teacher", "shuffled"):
        raise ExperimentError(f"weak_labels must be 'teacher' or 'shuffled', got {weak_labels!r}")
    testbed = load_testbed(testbed_name, limit=limit)
    splits, y = testbed.splits, testbed.labels
    for part in ("train_label", "train_unlabel", "test"):
        if len(getattr(splits, part)) == 0:
            raise ExperimentError(f"testbed {testbed_name!r} (limit={limit}) has no {part} items")
    feats = weak_strong_features(testbed, cache_dir=cache_dir, on_progress=on_progress)
    n_base = max(baseline_seeds, seeds)
    base = fixed_baselines(testbed, feats.weak, feats.strong, seeds=n_base, cache_dir=cache_dir)
    y_test = y[splits.test] == 1
    per_seed: list[SeedResult] = []
    w2s_correct: list[np.ndarray] = []
    elapsed = 0.0
    for seed in range(seeds):
        teacher = train_teacher(feats.weak, y, splits, seed=seed)
        weak_soft = teacher.predict_proba(feats.weak[splits.train_unlabel])
        k = teachers_wanted(method)
        extra = extra_teacher_probs(feats.weak, y, splits, seed=seed, k=k) if k else None
        if weak_labels == "shuffled":
            perm = np.random.default_rng([seed, 104729]).permutation(len(weak_soft))
            weak_soft = weak_soft[perm]
            extra = extra[:, perm] if extra is not None else None
        context = MethodContext(teacher_probs=extra) if extra is not None else None
        start = time.perf_counter()
        raw = call_method(method, feats.strong[splits.train_unlabel], weak_soft, feats.strong[splits.test],
                          seed=seed, context=context)
        elapsed += time.perf_counter() - start
        student = checked_predictions(method, raw, len(splits.test))
        w2s_correct.append((student > 0.5) == y_test)
        aw, ac = base.seed_accs(seed)
        a2 = float(np.mean(w2s_correct[-1]))
        per_seed.append(SeedResult(seed, aw, ac, a2, pgr(a2, aw, ac) if ac - aw >= MIN_GAP else None))
    acc_weak, acc_ceiling = base.acc_weak, base.acc_ceiling
    acc_w2s = float(np.mean([c.mean() for c in w2s_correct]))
    gap = acc_ceiling - acc_weak
    summary = gap_and_pgr(base.weak_correct, base.ceiling_correct, np.stack(w2s_correct))
    lo, hi = summary.gap_interval
    clear = not summary.gap_too_small and gap > 0
    return W2SResult(
        testbed=testbed_name, method=method.name, seeds=seeds,
        acc_weak=acc_weak, acc_ceiling=acc_ceiling, gap=gap, acc_w2s=acc_w2s,
        pgr=pgr(acc_w2s, acc_weak, acc_ceiling) if clear else None,
        pgr_interval=summary.pgr_interval if clear else None,
        note=None if clear else (f"gap too small: {100 * gap:.1f} points, 95% interval "
                                 f"[{100 * lo:.1f}, {100 * hi:.1f}] reaches below {100 * MIN_GAP:.0f}"),
        n_train_label=len(splits.train_label), n_train_unlabel=len(splits.train_unlabel),
        n_test=len(splits.test), per_seed=tuple(per_seed),
        baseline_seeds=n_base, gap_interval=summary.gap_interval, seconds_per_seed=elapsed / seeds,
        weak_labels=weak_labels,
    )
