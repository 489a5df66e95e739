"""Scorer validation and arithmetic on a tiny synthetic task."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from experiments import Scorer, TaskBaselines

IDS = [f"t{i:05d}" for i in range(20)]
LABELS = np.array([i % 2 for i in range(20)])
PUBLIC = np.array([i < 10 for i in range(20)])
BASELINES = TaskBaselines(public_acc_weak=0.6, public_acc_ceiling=0.9,
                          private_acc_weak=0.6, private_acc_ceiling=0.9)


@pytest.fixture
def scorer() -> Scorer:
    return Scorer(IDS, LABELS, PUBLIC, BASELINES)


def _probs(correct: int) -> list[float]:
    """Predictions right on the first `correct` items of each part, wrong on the rest."""
    out = []
    for i, y in enumerate(LABELS):
        right = (i % 10) < correct
        out.append(0.9 if (y == 1) == right else 0.1)
    return out


def test_perfect_and_weak_level_submissions(scorer: Scorer) -> None:
    perfect = scorer.score(IDS, _probs(10))
    assert perfect.valid and perfect.error is None
    assert perfect.public_acc == 1.0 and perfect.private_acc == 1.0
    assert perfect.public_pgr == pytest.approx(4 / 3)  # beyond the ceiling
    weak_level = scorer.score(IDS, _probs(6))
    assert weak_level.public_pgr == pytest.approx(0.0) and weak_level.private_pgr == pytest.approx(0.0)
    halfway = scorer.score(IDS, _probs(7))
    assert halfway.public_acc == pytest.approx(0.7)
    assert halfway.public_pgr == pytest.approx(1 / 3)


def test_order_of_submission_does_not_matter(scorer: Scorer) -> None:
    probs = _probs(7)
    reordered = scorer.score(IDS[::-1], probs[::-1])
    assert reordered.public_pgr == pytest.approx(scorer.score(IDS, probs).public_pgr)


def test_feedback_is_rounded_and_has_no_counts(scorer: Scorer) -> None:
    result = scorer.score(IDS, _probs(7))  # public PGR 0.333...
    assert "0.30" in result.feedback  # FEEDBACK_STEP = 0.1
    assert "0.333" not in result.feedback and "7" not in result.feedback
    assert str(len(IDS)) not in result.feedback


@pytest.mark.parametrize(
    "ids, probs, message",
    [
        (IDS[:-1], [0.5] * 19, "1 of 20 test ids missing: 't00019'"),
        (IDS + ["t00003"], [0.5] * 21, "appear more than once: 't00003'"),
        (IDS[:-1] + ["zzz"], [0.5] * 20, "unknown id(s), not in test_ids.json: 'zzz'"),
        (IDS, [0.5] * 19, "differ in length: 20 ids, 19 probs"),
        (IDS, [0.5] * 5 + [math.nan] + [0.5] * 14, "probs[5] (id 't00005') is not finite"),
        (IDS, [0.5] * 2 + [1.5] + [0.5] * 17, "probs[2] (id 't00002') = 1.5 is outside [0, 1]"),
        (IDS, ["0.5"] + [0.5] * 19, "probs[0] (id 't00000') is not a number"),
        ([1] + IDS[1:], [0.5] * 20, "ids must be strings"),
    ],
)
def test_invalid_submissions_say_what_is_wrong(scorer: Scorer, ids: list, probs: list, message: str) -> None:
    result = scorer.score(ids, probs)
    assert not result.valid
    assert result.error is not None and message in result.error, result.error
    assert result.public_pgr is None and result.private_acc is None
    assert result.feedback.startswith("invalid submission")


def test_score_file(tmp_path: Path, scorer: Scorer) -> None:
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps({"ids": IDS, "probs": _probs(10)}))
    assert scorer.score_file(path).public_acc == 1.0
    path.write_text("{oops")
    assert "not valid JSON" in (scorer.score_file(path).error or "")
    path.write_text(json.dumps([0.1, 0.2]))
    assert '{"ids"' in (scorer.score_file(path).error or "")
    assert "cannot read" in (scorer.score_file(tmp_path / "missing.json").error or "")


def test_small_gap_reports_no_pgr() -> None:
    flat = TaskBaselines(public_acc_weak=0.7, public_acc_ceiling=0.71,
                         private_acc_weak=0.6, private_acc_ceiling=0.9)
    result = Scorer(IDS, LABELS, PUBLIC, flat).score(IDS, _probs(8))
    assert result.valid and result.public_pgr is None and result.private_pgr is not None
    assert "too small" in result.feedback
