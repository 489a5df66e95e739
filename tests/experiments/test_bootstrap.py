"""Bootstrap intervals: coverage on simulated data, "gap too small", fixed-baseline cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.baselines import fixed_baselines
from experiments.bootstrap import MIN_GAP, accuracy_interval, gap_and_pgr
from experiments.testbeds import TestbedSpec
from experiments.testbeds.testbed import testbed_from_records as build_testbed


def _draw(rng: np.random.Generator, acc: float, seeds: int, n: int) -> np.ndarray:
    return rng.random((seeds, n)) < acc


def test_pgr_interval_covers_the_truth_most_of_the_time() -> None:
    # True accuracies 0.65 / 0.75 / 0.72: true PGR 0.7.
    rng = np.random.default_rng(0)
    hits = 0
    for trial in range(20):
        out = gap_and_pgr(_draw(rng, 0.65, 8, 1500), _draw(rng, 0.75, 8, 1500), _draw(rng, 0.72, 5, 1500),
                          samples=200, seed=trial)
        assert out.pgr_interval is not None and not out.gap_too_small
        lo, hi = out.pgr_interval
        hits += lo <= 0.7 <= hi
    assert hits >= 16  # nominal 95%: 19 of 20; leave room for Monte Carlo noise


def test_tiny_gap_is_too_small() -> None:
    rng = np.random.default_rng(1)
    out = gap_and_pgr(_draw(rng, 0.70, 8, 600), _draw(rng, 0.715, 8, 600), _draw(rng, 0.71, 5, 600))
    assert out.gap_too_small and out.pgr_interval is None
    assert out.gap_interval[0] < MIN_GAP


def test_point_gap_above_threshold_but_noisy_is_still_too_small() -> None:
    # A 3-point gap on 150 items: the point clears 2 points, its lower bound does not.
    rng = np.random.default_rng(2)
    weak, ceiling = _draw(rng, 0.65, 8, 150), _draw(rng, 0.68, 8, 150)
    out = gap_and_pgr(weak, ceiling, None)
    assert out.gap_too_small


def test_independent_seed_counts_are_allowed() -> None:
    rng = np.random.default_rng(3)
    out = gap_and_pgr(_draw(rng, 0.6, 1, 2000), _draw(rng, 0.8, 8, 2000), _draw(rng, 0.7, 1, 2000))
    assert out.pgr_interval is not None
    with pytest.raises(ValueError):
        gap_and_pgr(_draw(rng, 0.6, 1, 20), _draw(rng, 0.8, 8, 21), None)


def test_accuracy_interval_brackets_the_mean() -> None:
    c = np.random.default_rng(4).random((3, 1000)) < 0.7
    lo, hi = accuracy_interval(c)
    assert lo < c.mean() < hi and hi - lo < 0.08


def test_fixed_baselines_are_cached_on_disk(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    records = [{"id": f"i{i}", "left": f"l{i}", "right": f"r{i}", "label": int(i % 2)} for i in range(300)]
    spec = TestbedSpec(name="synthetic", path=tmp_path / "none.jsonl", description="synthetic", weak_layer=0)
    testbed = build_testbed(spec, records)
    y = testbed.labels
    strong = (rng.normal(size=(300, 8)) + np.outer(2 * y - 1, np.ones(8)) * 0.8).astype(np.float32)
    weak = (rng.normal(size=(300, 8)) + np.outer(2 * y - 1, np.ones(8)) * 0.2).astype(np.float32)
    first = fixed_baselines(testbed, weak, strong, seeds=2, cache_dir=tmp_path)
    files = list((tmp_path / "baselines").glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["seeds"] == 2 and len(data["acc_weak"]) == 2
    assert first.weak_correct.shape == (2, len(testbed.splits.test))
    assert first.acc_ceiling > first.acc_weak
    # A second call reads the file: poison it and see the poison come back.
    data["ceiling_correct"] = ["1" * len(testbed.splits.test)] * 2
    files[0].write_text(json.dumps(data))
    assert fixed_baselines(testbed, weak, strong, seeds=2, cache_dir=tmp_path).acc_ceiling == 1.0
    # Other seeds or other features are another key; a damaged file is recomputed.
    fixed_baselines(testbed, weak, strong, seeds=3, cache_dir=tmp_path)
    assert len(list((tmp_path / "baselines").glob("*.json"))) == 2
    files[0].write_text("{broken")
    again = fixed_baselines(testbed, weak, strong, seeds=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.ceiling_correct, first.ceiling_correct)
