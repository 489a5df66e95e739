"""Library methods through the protocol, cached baselines, and the task's audited scorer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from experiments import BASELINE_SEEDS, prepare_task, run_w2s
from tests.experiments.conftest import SMALL_LIMIT


def test_ensemble_method_gets_its_teachers_through_run_w2s(exp_cache: Path) -> None:
    result = run_w2s("stdlib-docstrings-hard", "teacher_ensemble", seeds=1, cache_dir=exp_cache, limit=SMALL_LIMIT)
    assert result.method == "teacher_ensemble" and result.seconds_per_seed > 0
    assert result.baseline_seeds == BASELINE_SEEDS
    data = json.loads(json.dumps(result.to_dict()))
    assert len(data["gap_interval"]) == 2
    assert (data["pgr"] is None) == (data["pgr_interval"] is None) == (data["note"] is not None)
    # The fixed baselines were written once and are reused by the next run.
    files = sorted((exp_cache / "baselines").glob("*.json"))
    assert files
    before = {f: f.stat().st_mtime_ns for f in files}
    again = run_w2s("stdlib-docstrings-hard", "cross_entropy", seeds=1, cache_dir=exp_cache, limit=SMALL_LIMIT)
    assert again.acc_weak == result.acc_weak and again.acc_ceiling == result.acc_ceiling
    assert {f: f.stat().st_mtime_ns for f in files} == before


def test_task_scorer_flags_a_copied_teacher(exp_cache: Path) -> None:
    task = prepare_task("stdlib-docstrings-hard", cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)
    scorer = task.scorer()
    teacher = scorer._weak_hard  # the test may peek; agents never see the teacher's test output
    assert teacher is not None
    result = scorer.score(list(task.test_ids), np.where(teacher, 0.9, 0.1).tolist(), agent="copycat")
    assert result.valid and "copies_teacher" in result.flag_codes
    assert "teacher" not in result.feedback
