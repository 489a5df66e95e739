"""Fixed weak and ceiling baselines: many seeds, computed once, cached as JSON.

PGR's denominator is the gap between the ceiling and the weak teacher, so noise in
either moves every method's PGR at once. The baselines are therefore averaged over
`BASELINE_SEEDS` (>= 8) seeds, and kept per seed and per test item (so intervals can
resample them) in `<cache_dir>/baselines/<key>.json`. The key hashes the dataset,
the testbed's weak/strong setup, the features themselves, the splits, the head
recipe and the number of seeds, so any change to one of them recomputes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.features import default_cache_dir
from experiments.heads import HeadConfig, LogisticHead, fit_logistic
from experiments.testbeds import Splits, Testbed

BASELINE_SEEDS = 8
# Bump when the way baselines are computed changes, so old cache files are ignored.
BASELINE_CACHE_VERSION = 1
# Spec fields that describe the testbed for people, not how its numbers are made.
_DESCRIPTIVE_FIELDS = {"name", "path", "description", "agent_description"}


@dataclass(frozen=True)
class FixedBaselines:
    """Per-seed, per-test-item correctness of the weak teacher and the ceiling.

    Rows are seeds 0..seeds-1, columns the testbed's `splits.test` in that order.
    """

    seeds: int
    weak_correct: np.ndarray
    ceiling_correct: np.ndarray

    @property
    def acc_weak(self) -> float:
        """Weak accuracy averaged over seeds."""
        return float(self.weak_correct.mean())

    @property
    def acc_ceiling(self) -> float:
        """Ceiling accuracy averaged over seeds."""
        return float(self.ceiling_correct.mean())

    def seed_accs(self, seed: int) -> tuple[float, float]:
        """(weak, ceiling) accuracy of one seed."""
        return float(self.weak_correct[seed].mean()), float(self.ceiling_correct[seed].mean())


def train_teacher(weak_x: np.ndarray, labels: np.ndarray, splits: Splits, *, seed: int,
                  resample: int | None = None, shuffle: int | None = None) -> LogisticHead:
    """The weak teacher: a linear head on weak features, ground truth of train_label.

    With `resample` set, it learns from a bootstrap resample of train_label drawn
    with that number (another teacher of the same kind, for ensembles and re-runs).
    With `shuffle` set, the ground truth is permuted across its rows first (drawn with
    that number): a teacher of the same kind that knows nothing about the items.
    """
    rows = splits.train_label
    if resample is not None:
        rows = rows[np.random.default_rng([seed, resample]).integers(0, len(rows), len(rows))]
    targets = labels[rows]
    if shuffle is not None:
        targets = targets[np.random.default_rng([seed, shuffle, 104_729]).permutation(len(targets))]
    return fit_logistic(weak_x[rows], targets, seed=seed if resample is None else 10_000 + 100 * seed + resample)


def train_ceiling(strong_x: np.ndarray, labels: np.ndarray, splits: Splits, *, seed: int) -> LogisticHead:
    """The ceiling: a linear head on strong features, ground truth of train_unlabel."""
    return fit_logistic(strong_x[splits.train_unlabel], labels[splits.train_unlabel], seed=seed)


def _spec_fingerprint(spec: Any) -> dict[str, str]:
    return {f.name: repr(getattr(spec, f.name)) for f in dataclasses.fields(spec)
            if f.name not in _DESCRIPTIVE_FIELDS}


def baseline_key(testbed: Testbed, weak_x: np.ndarray, strong_x: np.ndarray, seeds: int) -> str:
    """The cache key: a hash of everything the baselines depend on."""
    digest = hashlib.sha256()
    for arr in (weak_x, strong_x, testbed.splits.train_label, testbed.splits.train_unlabel, testbed.splits.test):
        digest.update(np.ascontiguousarray(arr).tobytes())
    fields = {
        "version": BASELINE_CACHE_VERSION,
        "dataset": testbed.dataset_hash,
        "spec": _spec_fingerprint(testbed.spec),
        "head": dataclasses.asdict(HeadConfig()),
        "seeds": seeds,
        "arrays": digest.hexdigest(),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:40]


def _bits(row: np.ndarray) -> str:
    return "".join("1" if v else "0" for v in row)


def _unbits(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")


def _load(path: Path, seeds: int, n_test: int) -> FixedBaselines | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        weak = np.stack([_unbits(r) for r in data["weak_correct"]])
        ceiling = np.stack([_unbits(r) for r in data["ceiling_correct"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: recompute
    if weak.shape != (seeds, n_test) or ceiling.shape != (seeds, n_test):
        return None
    return FixedBaselines(seeds, weak, ceiling)


def _save(path: Path, baselines: FixedBaselines, testbed: Testbed) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "testbed": testbed.name,
        "dataset_hash": testbed.dataset_hash,
        "seeds": baselines.seeds,
        "acc_weak": [float(r.mean()) for r in baselines.weak_correct],
        "acc_ceiling": [float(r.mean()) for r in baselines.ceiling_correct],
        "weak_correct": [_bits(r) for r in baselines.weak_correct],
        "ceiling_correct": [_bits(r) for r in baselines.ceiling_correct],
    }
    # Write then rename, so a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".baseline-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def fixed_baselines(
    testbed: Testbed,
    weak_x: np.ndarray,
    strong_x: np.ndarray,
    *,
    seeds: int = BASELINE_SEEDS,
    cache_dir: Path | str | None = None,
) -> FixedBaselines:
    """Weak and ceiling correctness for seeds 0..seeds-1, from the cache when present."""
    splits, y = testbed.splits, testbed.labels
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "baselines" / f"{baseline_key(testbed, weak_x, strong_x, seeds)}.json"
    cached = _load(path, seeds, len(splits.test))
    if cached is not None:
        return cached
    y_test = y[splits.test] == 1
    weak = np.stack([(train_teacher(weak_x, y, splits, seed=s).predict_proba(weak_x[splits.test]) > 0.5) == y_test
                     for s in range(seeds)])
    ceiling = np.stack([(train_ceiling(strong_x, y, splits, seed=s).predict_proba(strong_x[splits.test]) > 0.5)
                        == y_test for s in range(seeds)])
    result = FixedBaselines(seeds, weak, ceiling)
    try:
        _save(path, result, testbed)
    except OSError:
        pass  # a read-only cache costs speed, not correctness
    return result
