"""Bootstrap intervals for accuracies, the weak/ceiling gap and PGR.

Every quantity here is a mean of per-item correctness over seeds. One bootstrap
resample draws test items with replacement (the same items for every model, so the
comparison stays paired) and, independently, seeds with replacement (weak and
ceiling seeds together, the student's seeds on their own). Items and seeds are both
sources of noise the leaderboard must not mistake for progress: item noise dominates
at a few hundred test items, seed noise when a method is unstable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 1000
# PGR is reported only when the gap's lower 95% bound clears this. ENVIRONMENT.md
# measured PGR swinging +-0.2 per seed at an 8-point gap and meaningless under ~2
# points; demanding the *lower bound* (not the point) clear 2 points keeps a lucky
# draw of test items from producing a PGR whose denominator may be ~0.
MIN_GAP = 0.02


@dataclass(frozen=True)
class GapAndPgr:
    """95% percentile intervals of the gap and of PGR (None where undefined)."""

    gap_interval: tuple[float, float]
    pgr_interval: tuple[float, float] | None
    gap_too_small: bool


def item_weights(n: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """(samples, n) counts: how often each item appears in each resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=samples).astype(np.float64)


def seed_weights(s: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """(samples, s) counts: how often each seed appears in each resample."""
    return rng.multinomial(s, np.full(s, 1.0 / s), size=samples).astype(np.float64)


def resampled_accuracy(correct: np.ndarray, items: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Accuracy in each resample: (seeds, n) booleans -> (samples,) floats."""
    c = np.atleast_2d(np.asarray(correct, dtype=np.float64))
    per_seed = c @ items.T / items.shape[1]  # (S, samples)
    out: np.ndarray = (seeds * per_seed.T).sum(axis=1) / c.shape[0]
    return out


def _interval(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def gap_and_pgr(
    weak_correct: np.ndarray,
    ceiling_correct: np.ndarray,
    w2s_correct: np.ndarray | None,
    *,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    min_gap: float = MIN_GAP,
) -> GapAndPgr:
    """Intervals of the gap (ceiling - weak) and of PGR.

    `weak_correct` and `ceiling_correct` are (B, n) booleans (the same B seeds are
    resampled together) or (B1, n) and (B2, n) (resampled independently, e.g. one
    fixed teacher against several ceiling seeds); `w2s_correct` is (S, n) or None
    (then only the gap). The gap is "too small"
    when its lower bound is below `min_gap`; no PGR interval is given then, nor when
    fewer than half the resamples have a positive gap.
    """
    weak = np.atleast_2d(weak_correct)
    ceiling = np.atleast_2d(ceiling_correct)
    if weak.shape[1] != ceiling.shape[1]:
        raise ValueError(f"weak {weak.shape} and ceiling {ceiling.shape} cover different items")
    rng = np.random.default_rng(seed)
    n = weak.shape[1]
    items = item_weights(n, samples, rng)
    weak_seeds = seed_weights(weak.shape[0], samples, rng)
    ceiling_seeds = weak_seeds if ceiling.shape == weak.shape else seed_weights(ceiling.shape[0], samples, rng)
    w = resampled_accuracy(weak, items, weak_seeds)
    c = resampled_accuracy(ceiling, items, ceiling_seeds)
    gap_iv = _interval(c - w)
    too_small = gap_iv[0] < min_gap
    if w2s_correct is None or too_small:
        return GapAndPgr(gap_iv, None, too_small)
    student = np.atleast_2d(w2s_correct)
    if student.shape[1] != n:
        raise ValueError(f"w2s correctness covers {student.shape[1]} items, baselines {n}")
    s = resampled_accuracy(student, items, seed_weights(student.shape[0], samples, rng))
    ok = c - w > 0
    if ok.sum() < samples / 2:
        return GapAndPgr(gap_iv, None, True)
    return GapAndPgr(gap_iv, _interval((s[ok] - w[ok]) / (c[ok] - w[ok])), False)


def accuracy_interval(
    correct: np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float]:
    """95% interval of the mean of (S, n) or (n,) correctness, items and seeds resampled."""
    c = np.atleast_2d(correct)
    rng = np.random.default_rng(seed)
    items = item_weights(c.shape[1], samples, rng)
    return _interval(resampled_accuracy(c, items, seed_weights(c.shape[0], samples, rng)))


@dataclass(frozen=True)
class RunEvidence:
    """One scored run on one task, per test item (public and private together): whether
    the run's predictions were right, whether that task's weak teacher was, and the
    ceiling's seeds. Only the harness builds these (`Scorer.evidence`): they hold labels."""

    correct: np.ndarray  # (n,) bool
    weak_correct: np.ndarray  # (n,) bool
    ceiling_correct: np.ndarray  # (seeds, n) bool

    def __post_init__(self) -> None:
        n = len(self.correct)
        if len(self.weak_correct) != n or np.atleast_2d(self.ceiling_correct).shape[1] != n:
            raise ValueError("run evidence covers different items")

    def pgr(self) -> float | None:
        """The point PGR over the whole test split (None without a positive gap)."""
        weak, ceiling = float(self.weak_correct.mean()), float(np.atleast_2d(self.ceiling_correct).mean())
        return (float(self.correct.mean()) - weak) / (ceiling - weak) if ceiling > weak else None

    def chance_pgr(self) -> float | None:
        """The PGR of a coin flip (accuracy 0.5) on this task: where a student lands that
        learnt nothing, e.g. from shuffled weak labels (None without a positive gap)."""
        weak, ceiling = float(self.weak_correct.mean()), float(np.atleast_2d(self.ceiling_correct).mean())
        return (0.5 - weak) / (ceiling - weak) if ceiling > weak else None

    def resampled_pgr(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """PGR in each item resample ((samples, n) counts), the ceiling's seeds resampled too;
        NaN where a resample's gap is not positive."""
        n = len(self.correct)
        acc = items @ self.correct.astype(np.float64) / n
        weak = items @ self.weak_correct.astype(np.float64) / n
        ceiling = resampled_accuracy(self.ceiling_correct, items,
                                     seed_weights(np.atleast_2d(self.ceiling_correct).shape[0], len(items), rng))
        gap = ceiling - weak
        out: np.ndarray = np.where(gap > 0, (acc - weak) / np.where(gap > 0, gap, 1.0), np.nan)
        return out
