"""Re-run variants of a task and the reproduction verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import get_method, judge_reproduction, prepare_task, write_variant_files
from experiments.errors import ExperimentError
from experiments.reproduction import prepare_variant_task
from tests.experiments.conftest import SMALL_LIMIT


@pytest.mark.parametrize(
    "original, reruns, shuffled, verdict",
    [
        (0.8, [0.75, 0.7], [-2.1, -1.8], "reproduced"),
        (0.8, [0.3], [-2.0], "not reproduced"),
        (0.8, [0.8], [0.7], "ignores the teacher"),
        (0.8, [0.8], [0.5, 0.4], "ignores the teacher"),
        (0.8, [None, 0.85], [], "reproduced"),
        (0.8, [None], [], "not reproduced"),
        (None, [0.8], [], "not reproduced"),
        (0.1, [0.1], [0.1], "reproduced"),  # near 0: survival says nothing
    ],
)
def test_judgement(original: float | None, reruns: list, shuffled: list, verdict: str) -> None:
    result = judge_reproduction(original, reruns, shuffled)
    assert result.verdict == verdict, result.reason
    assert result.reason and json.dumps(result.to_dict())


def test_variant_files(exp_cache: Path, tmp_path: Path) -> None:
    original = prepare_task("stdlib-docstrings", cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)
    other, paths = write_variant_files(tmp_path / "other", "stdlib-docstrings", "other_teacher", seed=0,
                                       cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)
    shuffled, _ = write_variant_files(tmp_path / "shuffled", "stdlib-docstrings", "shuffled_weak", seed=0,
                                      cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)
    assert set(paths) == {"train_x.npy", "train_weak.npy", "test_x.npy", "test_ids.json", "TASK.md"}
    assert other.test_ids == shuffled.test_ids == original.test_ids
    assert not np.allclose(other.train_weak, original.train_weak)
    np.testing.assert_array_equal(np.sort(shuffled.train_weak), np.sort(original.train_weak))
    assert not np.array_equal(shuffled.train_weak, original.train_weak)
    written = np.load(tmp_path / "shuffled" / "train_weak.npy")
    np.testing.assert_array_equal(written, shuffled.train_weak)
    assert (tmp_path / "shuffled" / "TASK.md").read_text() == (tmp_path / "other" / "TASK.md").read_text()
    # Each variant scores with its own scorer.
    probs = get_method("cross_entropy").fit_predict(other.train_x, other.train_weak, other.test_x, seed=0)
    assert other.scorer().score(list(other.test_ids), probs.tolist()).valid
    with pytest.raises(ExperimentError, match="variant"):
        prepare_variant_task("stdlib-docstrings", "nope", seed=0, cache_dir=exp_cache,  # type: ignore[arg-type]
                             limit=SMALL_LIMIT, baseline_seeds=2)
