"""Reproduction checks: re-run a submitted method on other weak labels and judge the result.

When an agent submits the code of its method, the harness can run that code again in
a fresh sandbox on task files it has never seen:

- "other_teacher": the same task with another weak teacher (another seed, trained on
  a bootstrap resample of the teacher's ground-truth split). A real method keeps its
  PGR within noise: "reproduced".
- "shuffled_weak": weak labels that carry no information about the items: a teacher
  of the same kind trained on shuffled ground truth, carrying another real teacher's
  values rank for rank (``prepare_task``'s ``blind_teacher``). So they have a real
  teacher's marginal and are no permutation of labels the agent saw: code that kept a
  copy of its live labels cannot single this control out. A method that learns from the
  teacher collapses (its accuracy falls towards chance, its PGR far below 0); one whose
  PGR survives is getting its signal from somewhere else: "ignores the teacher".

Verdicts rest on a noise model (`judge_reproduction`): several other-teacher re-runs,
all runs scored per item on the whole test split, and a paired bootstrap over items,
ceiling seeds and teachers. A verdict is given only when its interval says so;
otherwise it is "inconclusive".

This module only builds the variant tasks (with their own scorers), writes their
agent files and judges the numbers; orchestrating sandboxes is the agents layer's job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from experiments.baselines import BASELINE_SEEDS
from experiments.bootstrap import RunEvidence, item_weights
from experiments.errors import ExperimentError
from experiments.task import W2STask, prepare_task

Variant = Literal["other_teacher", "shuffled_weak"]
VARIANTS: tuple[Variant, ...] = ("other_teacher", "shuffled_weak")
Verdict = Literal["reproduced", "not reproduced", "ignores the teacher", "inconclusive"]

# How far below the original a re-run's PGR may sit and still be "the same result".
# A verdict needs the 95% interval of (re-run - original) to lie wholly on one side of
# -DEFAULT_TOLERANCE; one re-run on one other teacher swings +-0.2-0.4 at an 8-point gap
# (ENVIRONMENT.md; a 32-agent campaign judged 25% of honest single re-runs "not
# reproduced"), which is why there are several re-runs and an interval, not a point.
DEFAULT_TOLERANCE = 0.2
# With shuffled labels an honest student falls to roughly chance, i.e. PGR near
# (0.5 - acc_weak) / gap (about -2 on stdlib-docstrings-easy, -0.3 on
# stdlib-docstrings-hard); keeping half or more of what the original gained over
# chance is far outside that. Measured from chance, not from PGR 0: on the hard
# testbed a fixed answer at PGR 0.13 is 0.43 above chance, and kept all of it.
DEFAULT_SURVIVAL = 0.5
DEFAULT_RERUNS = 3  # other-teacher re-runs per check (each another teacher)
VERDICT_SAMPLES = 2000


def prepare_variant_task(
    testbed_name: str,
    variant: Variant,
    *,
    seed: int,
    teacher_seed: int = 0,
    cache_dir: Path | str | None = None,
    limit: int | None = None,
    baseline_seeds: int = BASELINE_SEEDS,
) -> W2STask:
    """The task for one re-run: same test items and ids, other weak labels, its own scorer.

    `teacher_seed` is the original task's; `seed` picks the other teacher or the
    permutation. For "other_teacher" the scorer's weak baseline is the new teacher's,
    so the re-run's PGR is measured against the teacher it actually learned from.
    """
    if variant == "other_teacher":
        return prepare_task(testbed_name, cache_dir=cache_dir, teacher_seed=teacher_seed + 1 + seed,
                            teacher_resample=1000 + seed, baseline_seeds=baseline_seeds, limit=limit)
    if variant == "shuffled_weak":
        return prepare_task(testbed_name, cache_dir=cache_dir, teacher_seed=teacher_seed + 1 + seed,
                            teacher_resample=1000 + seed, blind_teacher=seed, baseline_seeds=baseline_seeds,
                            limit=limit)
    raise ExperimentError(f"unknown re-run variant {variant!r}; known: {', '.join(VARIANTS)}")


def write_variant_files(
    dest_dir: Path | str,
    testbed_name: str,
    variant: Variant,
    *,
    seed: int,
    teacher_seed: int = 0,
    cache_dir: Path | str | None = None,
    limit: int | None = None,
    baseline_seeds: int = BASELINE_SEEDS,
) -> tuple[W2STask, dict[str, Path]]:
    """Write a variant's agent files (same names and format as the original task's).

    Returns the variant task, whose `scorer()` scores the re-run's predictions, and
    the written paths. Nothing in the files says which variant it is.
    """
    task = prepare_variant_task(testbed_name, variant, seed=seed, teacher_seed=teacher_seed,
                                cache_dir=cache_dir, limit=limit, baseline_seeds=baseline_seeds)
    return task, task.write_agent_files(dest_dir)


@dataclass(frozen=True)
class ReproductionJudgement:
    """The verdict on a re-run, the reason in words, and the numbers it rests on: point
    PGRs (original, mean of the other-teacher re-runs, mean of the shuffled-label runs, all
    over the whole test split) and the 95% intervals the verdict was read from."""

    verdict: Verdict
    reason: str
    original_pgr: float | None
    rerun_pgr: float | None
    shuffled_pgr: float | None
    reruns: int = 0
    difference_interval: tuple[float, float] | None = None  # re-run minus original
    shuffled_interval: tuple[float, float] | None = None  # shuffled minus survival x original

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for storage."""
        return dataclasses.asdict(self)


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    finite = values[np.isfinite(values)]
    if len(finite) < len(values) / 2:  # most resamples without a gap: no interval
        return None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)


def _mean_over_runs(pgrs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(runs, samples) PGRs -> (samples,): the mean of a resample of the runs (teachers)."""
    runs, samples = pgrs.shape
    pick = rng.integers(0, runs, size=(samples, runs))
    return pgrs[pick, np.arange(samples)[:, None]].mean(axis=1)


def judge_reproduction(
    original: RunEvidence,
    reruns: Sequence[RunEvidence | None],
    shuffled: Sequence[RunEvidence | None] = (),
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    survival: float = DEFAULT_SURVIVAL,
    samples: int = VERDICT_SAMPLES,
    seed: int = 0,
) -> ReproductionJudgement:
    """Judge re-runs against the original with a noise model (a pure function).

    One bootstrap resamples the test items (the same items for every run, so the
    comparison is paired), the ceiling's seeds, and the re-runs themselves (each is
    another teacher: the teacher's own noise). From it:

    - "ignores the teacher" when the original is clearly above chance (the PGR of a coin
      flip, `RunEvidence.chance_pgr`) and the shuffled-label runs clearly keep at least
      `survival` of that gain (the whole interval of (shuffled - chance) minus survival x
      (original - chance) above 0);
    - "not reproduced" when the interval of (mean re-run - original) lies wholly below
      -`tolerance`, or no re-run produced predictions;
    - "reproduced" when that interval lies wholly above -`tolerance`;
    - "inconclusive" otherwise: the runs cannot tell; more re-runs (or a wider gap) would.
      Also with a single re-run: one teacher says nothing of the spread between teachers.
    None entries (a failed run) are skipped.
    """
    rng = np.random.default_rng(seed)
    n = len(original.correct)
    items = item_weights(n, samples, rng)
    o = original.resampled_pgr(items, rng)
    point = original.pgr()
    runs = [r for r in reruns if r is not None]
    shuffles = [r for r in shuffled if r is not None]
    rerun_point = _mean_points(runs)
    shuffled_point = _mean_points(shuffles)

    def verdict(v: Verdict, reason: str, diff: tuple[float, float] | None = None,
                shuf: tuple[float, float] | None = None) -> ReproductionJudgement:
        return ReproductionJudgement(v, reason, point, rerun_point, shuffled_point, len(runs), diff, shuf)

    original_iv = _interval(o)
    if point is None or original_iv is None:
        return verdict("inconclusive", "the task's gap is too small to measure the original's PGR")
    chance = original.chance_pgr() or 0.0  # not None: the original's PGR exists
    gain_iv = _interval(o - chance)
    above_chance = gain_iv is not None and gain_iv[0] > 0
    shuf_iv = None
    if shuffles:
        s = _mean_over_runs(np.stack([r.resampled_pgr(items, rng) for r in shuffles]), rng)
        shuf_iv = _interval((s - chance) - survival * (o - chance))
        if above_chance and shuf_iv is not None and shuf_iv[0] > 0:
            return verdict("ignores the teacher",
                           f"with shuffled weak labels PGR stayed at {shuffled_point:.2f} (original {point:.2f}, a "
                           f"coin flip {chance:.2f}; the shuffled run's gain over chance minus {survival:g} x the "
                           f"original's: 95% interval [{shuf_iv[0]:.2f}, {shuf_iv[1]:.2f}], above 0): the method "
                           "does not need the teacher", shuf=shuf_iv)
    if not runs:
        return verdict("not reproduced", "no re-run with another teacher produced predictions", shuf=shuf_iv)
    if len(runs) < 2:
        return verdict("inconclusive", f"only one re-run produced predictions (PGR {_fmt(rerun_point)}); one teacher "
                       "cannot show how much the teacher alone moves PGR", shuf=shuf_iv)
    r = _mean_over_runs(np.stack([run.resampled_pgr(items, rng) for run in runs]), rng)
    diff = _interval(r - o)
    numbers = (f"mean re-run PGR {rerun_point:.2f} over {len(runs)} other teacher(s) vs original {point:.2f}"
               if rerun_point is not None else f"original {point:.2f}")
    if diff is None:
        return verdict("inconclusive", f"{numbers}; the re-runs' gaps are too small to compare", shuf=shuf_iv)
    span = f"re-run minus original: 95% interval [{diff[0]:.2f}, {diff[1]:.2f}]"
    if shuf_iv is not None and above_chance and shuf_iv[1] >= 0:
        return verdict("inconclusive", f"{numbers}; {span}; but with shuffled weak labels PGR "
                       f"{shuffled_point:.2f} may keep {survival:g} of the original (interval of the excess "
                       f"[{shuf_iv[0]:.2f}, {shuf_iv[1]:.2f}])", diff, shuf_iv)
    if diff[1] < -tolerance:
        return verdict("not reproduced", f"{numbers}; {span}, wholly more than {tolerance:g} below", diff, shuf_iv)
    if diff[0] >= -tolerance:
        return verdict("reproduced", f"{numbers}; {span}, within {tolerance:g} below or above", diff, shuf_iv)
    return verdict("inconclusive", f"{numbers}; {span} straddles -{tolerance:g}: more re-runs would tell",
                   diff, shuf_iv)


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def _mean_points(runs: Sequence[RunEvidence]) -> float | None:
    points = [p for p in (r.pgr() for r in runs) if p is not None]
    return float(np.mean(points)) if points else None
