"""Reproduction checks: re-run a submitted method on other weak labels and judge the result.

When an agent submits the code of its method, the harness can run that code again in
a fresh sandbox on task files it has never seen:

- "other_teacher": the same task with another weak teacher (another seed, trained on
  a bootstrap resample of the teacher's ground-truth split). A real method keeps its
  PGR within noise: "reproduced".
- "shuffled_weak": the same task with the weak labels randomly permuted across the
  training rows, so they carry no information about the items. A method that learns
  from the teacher collapses (its accuracy falls towards chance, its PGR far below 0);
  one whose PGR survives is getting its signal from somewhere else:
  "ignores the teacher".

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
from experiments.errors import ExperimentError
from experiments.task import W2STask, prepare_task

Variant = Literal["other_teacher", "shuffled_weak"]
VARIANTS: tuple[Variant, ...] = ("other_teacher", "shuffled_weak")
Verdict = Literal["reproduced", "not reproduced", "ignores the teacher"]

# PGR swings about +-0.2 per seed at an 8-point gap (ENVIRONMENT.md), so a re-run
# within 0.2 below the original counts as the same result.
DEFAULT_TOLERANCE = 0.2
# With shuffled labels an honest student falls to roughly chance, i.e. PGR near
# -(acc_weak - 0.5) / gap (about -2 on stdlib-docstrings); keeping half or more of
# the original PGR is far outside that.
DEFAULT_SURVIVAL = 0.5


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
        task = prepare_task(testbed_name, cache_dir=cache_dir, teacher_seed=teacher_seed,
                            baseline_seeds=baseline_seeds, limit=limit)
        perm = np.random.default_rng([seed, 7919]).permutation(len(task.train_weak))
        return dataclasses.replace(task, train_weak=task.train_weak[perm].copy())
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
    """The verdict on a re-run, the reason in words, and the numbers it rests on."""

    verdict: Verdict
    reason: str
    original_pgr: float | None
    rerun_pgr: float | None
    shuffled_pgr: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for storage."""
        return dataclasses.asdict(self)


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def judge_reproduction(
    original_pgr: float | None,
    rerun_pgrs: Sequence[float | None],
    shuffled_pgrs: Sequence[float | None] = (),
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    survival: float = DEFAULT_SURVIVAL,
) -> ReproductionJudgement:
    """Judge re-run scores against the original (a pure function).

    "ignores the teacher" when, with the original clearly above 0 (> tolerance), the
    mean shuffled-label PGR keeps at least `survival` of it; else "reproduced" when
    the mean other-teacher PGR is no more than `tolerance` below the original; else
    "not reproduced". None entries (no PGR: gap too small, failed run) are skipped.
    """
    rerun, shuffled = _mean(rerun_pgrs), _mean(shuffled_pgrs)

    def verdict(v: Verdict, reason: str) -> ReproductionJudgement:
        return ReproductionJudgement(v, reason, original_pgr, rerun, shuffled)

    if original_pgr is None or not np.isfinite(original_pgr):
        return verdict("not reproduced", "the original submission has no PGR to reproduce")
    if shuffled is not None and original_pgr > tolerance and shuffled >= survival * original_pgr:
        return verdict("ignores the teacher",
                       f"with shuffled weak labels PGR stayed at {shuffled:.2f} (original {original_pgr:.2f}, "
                       f"survival threshold {survival * original_pgr:.2f}): the method does not need the teacher")
    if rerun is None:
        return verdict("not reproduced", "no re-run with another teacher produced a PGR")
    if rerun >= original_pgr - tolerance:
        return verdict("reproduced", f"re-run PGR {rerun:.2f} vs original {original_pgr:.2f} "
                                     f"(tolerance {tolerance:.2f})")
    return verdict("not reproduced", f"re-run PGR {rerun:.2f} is more than {tolerance:.2f} below the "
                                     f"original {original_pgr:.2f}")
