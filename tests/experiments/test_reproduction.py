"""Re-run variants of a task and the reproduction verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import RunEvidence, get_method, judge_reproduction, prepare_task, write_variant_files
from experiments.errors import ExperimentError
from experiments.reproduction import prepare_variant_task
from tests.experiments.conftest import SMALL_LIMIT


def _baselines(rng: np.random.Generator, n: int, weak: float = 0.65, ceiling: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    return rng.random(n) < weak, rng.random((5, n)) < ceiling


def _run(rng: np.random.Generator, weak_c: np.ndarray, ceil_c: np.ndarray, pgr: float) -> RunEvidence:
    """A run whose PGR is about `pgr`: each item right as the ceiling with probability
    `pgr`, else as the teacher (below 0: a share of items answered at chance)."""
    if pgr >= 0:
        take = rng.random(len(weak_c)) < pgr
        correct = np.where(take, ceil_c[0], weak_c)
    else:  # accuracy w + pgr (c - w): mix the teacher with coin flips
        w, c = weak_c.mean(), ceil_c.mean()
        target = w + pgr * (c - w)
        coin = rng.random(len(weak_c)) < min(1.0, (w - target) / max(w - 0.5, 1e-9))
        correct = np.where(coin, rng.random(len(weak_c)) < 0.5, weak_c)
    return RunEvidence(correct=correct, weak_correct=weak_c, ceiling_correct=ceil_c)


@pytest.mark.parametrize(
    "n, original, reruns, shuffled, verdict",
    [
        (2000, 0.8, [0.8, 0.75, 0.85], [-2.0], "reproduced"),
        (2000, 0.8, [0.2, 0.1, 0.25], [-2.0], "not reproduced"),
        (2000, 0.8, [0.8, 0.8, 0.8], [0.8], "ignores the teacher"),
        (2000, 0.8, [None, None], [-2.0], "not reproduced"),  # no re-run produced predictions
        (300, 0.8, [0.6, 0.55, 0.65], [-2.0], "inconclusive"),  # few items: the interval straddles -0.2
        (2000, 0.05, [0.05, 0.05, 0.05], [-1.5], "reproduced"),  # near 0, and at chance without the teacher
        # Near 0 but 1.55 above chance (a coin flip is PGR -1.5 here), and it kept all of
        # that with shuffled labels: it did not need the teacher to get there.
        (2000, 0.05, [0.05, 0.05, 0.05], [0.05], "ignores the teacher"),
        # At chance either way: nothing kept, so not "ignores" (coin flips leave the rest open).
        (2000, -1.45, [-1.45, -1.45, -1.45], [-1.45], "inconclusive"),
    ],
)
def test_judgement(n: int, original: float, reruns: list, shuffled: list, verdict: str) -> None:
    rng = np.random.default_rng(7)
    weak_c, ceil_c = _baselines(rng, n)
    runs = []
    for target in reruns:  # each re-run learns from another teacher
        if target is None:
            runs.append(None)
            continue
        other_weak, _ = _baselines(rng, n)
        runs.append(_run(rng, other_weak, ceil_c, target))
    result = judge_reproduction(_run(rng, weak_c, ceil_c, original), runs,
                                [_run(rng, weak_c, ceil_c, t) for t in shuffled])
    assert result.verdict == verdict, result.reason
    assert result.reason and json.dumps(result.to_dict())
    assert result.reruns == sum(r is not None for r in reruns)
    if verdict in ("reproduced", "not reproduced") and result.reruns:
        lo, hi = result.difference_interval or (np.nan, np.nan)
        assert lo <= (result.rerun_pgr or 0) - (result.original_pgr or 0) <= hi


def test_judgement_without_a_gap_is_inconclusive() -> None:
    rng = np.random.default_rng(0)
    weak_c, _ = _baselines(rng, 1000)
    flat = RunEvidence(correct=weak_c, weak_correct=weak_c, ceiling_correct=np.stack([weak_c] * 3))
    result = judge_reproduction(flat, [flat], [flat])
    assert result.verdict == "inconclusive" and "gap" in result.reason


def test_teachers_noise_needs_several_reruns() -> None:
    """The noise model at work: an honest method whose PGR moves from teacher to teacher.
    One re-run cannot say how much the teacher alone moves PGR: inconclusive, even when
    that one re-run lands well below; five teachers give a verdict."""
    rng = np.random.default_rng(3)
    weak_c, ceil_c = _baselines(rng, 3000)
    original = _run(rng, weak_c, ceil_c, 0.7)
    others = [_run(rng, _baselines(rng, 3000)[0], ceil_c, 0.7 + d) for d in (-0.3, 0.1, 0.05, 0.1, 0.05)]
    one = judge_reproduction(original, others[:1], [])
    assert one.verdict == "inconclusive" and "one teacher" in one.reason
    five = judge_reproduction(original, others, [])
    assert five.verdict == "reproduced", five.reason


def test_variant_files(exp_cache: Path, tmp_path: Path) -> None:
    original = prepare_task("stdlib-docstrings-hard", cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)
    other, paths = write_variant_files(tmp_path / "other", "stdlib-docstrings-hard", "other_teacher", seed=0,
                                       cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)
    shuffled, _ = write_variant_files(tmp_path / "shuffled", "stdlib-docstrings-hard", "shuffled_weak", seed=0,
                                      cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)
    assert set(paths) == {"train_x.npy", "train_weak.npy", "test_x.npy", "test_ids.json", "TASK.md"}
    assert other.test_ids == shuffled.test_ids == original.test_ids
    assert not np.allclose(other.train_weak, original.train_weak)
    # The control's labels: no permutation of the live ones (code that kept a copy cannot
    # single it out), a real teacher's marginal (the other teacher's values), and nothing
    # about the items (uncorrelated with what real teachers say; the other teacher agrees).
    assert not np.allclose(np.sort(shuffled.train_weak), np.sort(original.train_weak))
    np.testing.assert_array_equal(np.sort(shuffled.train_weak), np.sort(other.train_weak))
    assert abs(np.corrcoef(shuffled.train_weak, original.train_weak)[0, 1]) < 0.2
    assert np.corrcoef(other.train_weak, original.train_weak)[0, 1] > 0.6
    written = np.load(tmp_path / "shuffled" / "train_weak.npy")
    np.testing.assert_array_equal(written, shuffled.train_weak)
    assert (tmp_path / "shuffled" / "TASK.md").read_text() == (tmp_path / "other" / "TASK.md").read_text()
    # Each variant scores with its own scorer.
    probs = get_method("cross_entropy").fit_predict(other.train_x, other.train_weak, other.test_x, seed=0)
    assert other.scorer().score(list(other.test_ids), probs.tolist()).valid
    with pytest.raises(ExperimentError, match="variant"):
        prepare_variant_task("stdlib-docstrings-hard", "nope", seed=0, cache_dir=exp_cache,  # type: ignore[arg-type]
                             limit=SMALL_LIMIT, baseline_seeds=2)
