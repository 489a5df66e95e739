"""PGR arithmetic and the W2S protocol end to end on a small subset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from experiments import MIN_GAP, UnknownMethodError, W2SResult, pgr, run_w2s
from experiments.errors import ExperimentError
from experiments.protocol import pgr_bootstrap_interval
from tests.experiments.conftest import SMALL_LIMIT


def test_pgr_known_values() -> None:
    assert pgr(0.8, 0.7, 0.9) == pytest.approx(0.5)
    assert pgr(0.7, 0.7, 0.9) == pytest.approx(0.0)
    assert pgr(0.9, 0.7, 0.9) == pytest.approx(1.0)
    assert pgr(0.6, 0.7, 0.9) == pytest.approx(-0.5)


@pytest.mark.parametrize("weak, ceiling", [(0.8, 0.8), (0.8, 0.7)])
def test_pgr_refuses_non_positive_gap(weak: float, ceiling: float) -> None:
    with pytest.raises(ValueError, match="undefined"):
        pgr(0.75, weak, ceiling)


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    weak = rng.random((3, 2000)) < 0.60
    ceiling = rng.random((3, 2000)) < 0.80
    w2s = rng.random((3, 2000)) < 0.70
    lo, hi = pgr_bootstrap_interval(weak, ceiling, w2s) or (math.nan, math.nan)
    point = pgr(w2s.mean(), weak.mean(), ceiling.mean())
    assert lo < point < hi
    assert hi - lo < 0.5


def test_bootstrap_interval_none_without_gap() -> None:
    same = np.random.default_rng(2).random((2, 500)) < 0.7
    assert pgr_bootstrap_interval(same, same, same) is None


def test_unknown_method_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UnknownMethodError, match="cross_entropy"):
        run_w2s("stdlib-docstrings-hard", "no-such-method", seeds=1, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing was extracted


def test_seeds_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="seeds"):
        run_w2s("stdlib-docstrings-hard", "cross_entropy", seeds=0, cache_dir=tmp_path)


def test_run_w2s_end_to_end(exp_cache: Path) -> None:
    progress: list[tuple[int, int]] = []
    result = run_w2s("stdlib-docstrings-hard", "cross_entropy", seeds=2, cache_dir=exp_cache,
                     limit=SMALL_LIMIT, on_progress=lambda d, t: progress.append((d, t)))
    assert isinstance(result, W2SResult)
    assert progress and progress[-1][0] == progress[-1][1]
    assert result.seeds == 2 and len(result.per_seed) == 2
    assert result.n_train_label + result.n_train_unlabel + result.n_test == SMALL_LIMIT
    for acc in (result.acc_weak, result.acc_ceiling, result.acc_w2s):
        assert 0.0 <= acc <= 1.0
    assert result.gap == pytest.approx(result.acc_ceiling - result.acc_weak)
    assert result.acc_w2s == pytest.approx(np.mean([s.acc_w2s for s in result.per_seed]))
    assert result.baseline_seeds >= 8 and result.gap_interval is not None
    if result.gap_interval[0] >= MIN_GAP:
        assert result.pgr == pytest.approx(pgr(result.acc_w2s, result.acc_weak, result.acc_ceiling))
        assert result.note is None
    else:
        assert result.pgr is None and result.note and "gap too small" in result.note
    # to_dict is JSON-ready and round-trips the headline numbers.
    data = json.loads(json.dumps(result.to_dict()))
    assert data["method"] == "cross_entropy" and data["acc_weak"] == result.acc_weak
    assert len(data["per_seed"]) == 2


def test_shuffled_weak_labels_are_the_teachers_permuted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shuffled control hands the method the same soft labels in another row order."""
    from experiments.methods.registry import METHODS
    from tests.experiments.test_user_testbeds import write_dir

    seen: dict[str, list[np.ndarray]] = {"teacher": [], "shuffled": []}
    mode = ["teacher"]

    class Recorder:
        name = "recorder"

        def fit_predict(self, train_x: np.ndarray, train_targets: np.ndarray, test_x: np.ndarray, *,
                        seed: int) -> np.ndarray:
            seen[mode[0]].append(np.asarray(train_targets).copy())
            return np.full(len(test_x), 0.5)

    monkeypatch.setitem(METHODS, "recorder", Recorder)
    d = write_dir(tmp_path / "tb", label=lambda i: int(i % 3 == 0))
    words = ["amber", "basil", "cedar", "dune", "ember", "fjord", "garnet", "heath"]
    for split in ("train_label", "train_unlabel", "test"):  # texts the teacher can tell apart
        path = d / f"{split}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for i, row in enumerate(rows):
            row["left"] = f"{words[i % 8]} {words[(i * 3) % 8]} {'yes' if row['label'] else 'no'} {i}"
            row["right"] = f"{words[(i + 1) % 8]} right {i}"
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    (d / "testbed.json").write_text(json.dumps({"weak": {"kind": "tfidf", "dim": 4},
                                                "strong": {"kind": "tfidf", "dim": 16}}))
    for mode[0] in ("teacher", "shuffled"):
        result = run_w2s(f"jsonl:{d}", "recorder", seeds=2, cache_dir=tmp_path / "c", weak_labels=mode[0])
        assert result.weak_labels == mode[0] and result.to_dict()["weak_labels"] == mode[0]
    for teacher, shuffled in zip(seen["teacher"], seen["shuffled"], strict=True):
        assert np.array_equal(np.sort(teacher), np.sort(shuffled))  # the same labels
        assert not np.array_equal(teacher, shuffled)  # in another order
    assert not np.array_equal(seen["shuffled"][0], seen["shuffled"][1])  # each seed its own permutation
    with pytest.raises(ExperimentError, match="weak_labels"):
        run_w2s(f"jsonl:{d}", "recorder", seeds=1, cache_dir=tmp_path / "c", weak_labels="inverted")  # type: ignore[arg-type]
