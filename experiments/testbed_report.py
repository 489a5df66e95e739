"""What `aar w2s testbeds` and `aar w2s prepare` show: testbed sizes, baselines and the gap.

The gap (ceiling minus weak accuracy on the test split) decides whether PGR means
anything on a testbed, so it is reported with a 95% interval that covers both sources
of noise: a bootstrap that resamples test items and seeds together (the items drive
most of it). The per-seed t interval is given too.

Two controls say whether a testbed measures *supervision* at all:
- the principal probe's PGR: the top principal direction of the strong features, with
  the weak labels fixing only its sign. High means the label falls out of the strong
  model unsupervised, so PGR measures how salient the label is, not what the teacher
  taught;
- cross-entropy's PGR on shuffled weak labels (`run_w2s(weak_labels="shuffled")`): what
  a student reaches when the teacher says nothing about the items. It should sit at or
  below 0; above it, the student gets its signal from somewhere else.
Beside them stands naive cross-entropy on the teacher's labels (`naive`): the first
thing anyone tries, and the headroom a campaign has to beat.

A report is cached as JSON under the feature cache, keyed by the dataset hash, the testbed's models, the head recipe
and the number of seeds, so the second call is instant and a changed file or recipe
is never served a stale number.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from experiments.baselines import fixed_baselines
from experiments.errors import ExperimentError
from experiments.features import PAIR_FORMULAS, ProgressFn, default_cache_dir
from experiments.heads import HeadConfig
from experiments.pair_features import features_cached, weak_strong_features
from experiments.protocol import WeakLabels, run_w2s
from experiments.testbeds import TESTBEDS, Testbed, TestbedSpec, load_testbed
from experiments.testbeds.registry import describe_model

REPORT_VERSION = 3  # 2: the controls; 3: naive cross-entropy, pair forms
BOOTSTRAP_SAMPLES = 2000
# Two-sided 97.5% Student t quantiles by degrees of freedom (the per-seed interval).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def _t975(df: int) -> float:
    """The quantile for `df` degrees of freedom (the next smaller tabulated one: conservative)."""
    return _T975[max(k for k in _T975 if k <= df)] if df >= 1 else math.nan


def _model_label(model: Any) -> str:
    return str(model.label)


def testbed_sizes(testbed: Testbed) -> dict[str, int]:
    """Items in each split: train_label, train_unlabel, test_public, test_private."""
    s = testbed.splits
    return {"train_label": len(s.train_label), "train_unlabel": len(s.train_unlabel),
            "test_public": len(s.test_public), "test_private": len(s.test_private)}


def _pair_features(spec: TestbedSpec) -> dict[str, str]:
    """How each model sees a pair, e.g. {"strong_features": "[u, v, u * v, |u - v|]"}."""
    return {"weak_features": PAIR_FORMULAS[spec.weak_pairs], "strong_features": PAIR_FORMULAS[spec.strong_pairs]}


def list_testbeds() -> list[dict[str, Any]]:
    """One object per registered testbed (name, description, models, sizes); computes nothing heavy."""
    out = []
    for name in sorted(TESTBEDS):
        spec = TESTBEDS[name]
        tb = load_testbed(name)
        out.append({"name": name, "description": spec.description, "items": len(tb),
                    "paired": tb.right is not None, "weak_model": _model_label(spec.weak),
                    "weak_description": describe_model(spec.weak), "strong_model": _model_label(spec.strong),
                    "weak_note": spec.weak_note, **_pair_features(spec), "sizes": testbed_sizes(tb),
                    "dataset_hash": tb.dataset_hash})
    return out


def prepare_features(
    testbed_name: str,
    *,
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Embed a testbed's texts with its weak and strong models into the cache.

    Returns {"testbed", "items", "texts", "weak_model", "strong_model", "cache_hit",
    "seconds", "cache_dir"}; `cache_hit` is True when nothing had to be computed.
    """
    start = time.perf_counter()
    tb = load_testbed(testbed_name, limit=limit)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    models = [tb.spec.weak, tb.spec.strong]
    hit = features_cached(tb.texts(), models, cache_dir=directory)
    weak_strong_features(tb, cache_dir=directory, on_progress=on_progress)
    return {"testbed": testbed_name, "items": len(tb), "texts": len(tb.texts()),
            "weak_model": _model_label(tb.spec.weak), "strong_model": _model_label(tb.spec.strong),
            "cache_hit": hit, "seconds": time.perf_counter() - start, "cache_dir": str(directory)}


def _report_key(tb: Testbed, seeds: int) -> str:
    blob = json.dumps({"v": REPORT_VERSION, "data": tb.dataset_hash, "weak": repr(tb.spec.weak),
                       "strong": repr(tb.spec.strong), "pairs": [tb.spec.weak_pairs, tb.spec.strong_pairs],
                       "head": asdict(HeadConfig()), "seeds": seeds},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def gap_intervals(weak_correct: np.ndarray, ceiling_correct: np.ndarray, *, seed: int = 0
                  ) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% intervals of the gap: (bootstrap over test items and seeds, t over seeds).

    Inputs are (seeds, n_test) booleans, one row per seed.
    """
    diff = ceiling_correct.astype(np.float64) - weak_correct.astype(np.float64)
    n_seeds, n = diff.shape
    rng = np.random.default_rng(seed)
    gaps = np.empty(BOOTSTRAP_SAMPLES)
    for b in range(BOOTSTRAP_SAMPLES):  # items and seeds resampled together
        gaps[b] = diff[rng.integers(0, n_seeds, n_seeds)][:, rng.integers(0, n, n)].mean()
    lo, hi = np.percentile(gaps, [2.5, 97.5])
    per_seed = diff.mean(axis=1)
    half = _t975(n_seeds - 1) * per_seed.std(ddof=1) / math.sqrt(n_seeds) if n_seeds > 1 else math.nan
    mean = float(per_seed.mean())
    return (float(lo), float(hi)), (mean - half, mean + half)


def _compute_report(tb: Testbed, seeds: int, cache_dir: Path, on_progress: ProgressFn | None) -> dict[str, Any]:
    splits = tb.splits
    for part, n in testbed_sizes(tb).items():
        if n == 0:
            raise ExperimentError(f"testbed {tb.name!r} has no {part} items")
    feats = weak_strong_features(tb, cache_dir=cache_dir, on_progress=on_progress)
    # The same per-seed teacher and ceiling runs that PGR is measured against.
    base = fixed_baselines(tb, feats.weak, feats.strong, seeds=seeds, cache_dir=cache_dir)
    weak_c, ceil_c = base.weak_correct, base.ceiling_correct
    public = np.isin(splits.test, splits.test_public)
    boot, seed_t = gap_intervals(weak_c, ceil_c)
    acc_weak, acc_ceiling = float(weak_c.mean()), float(ceil_c.mean())
    controls = {key: _control(tb.name, method, seeds, cache_dir, weak_labels)
                for key, method, weak_labels in CONTROLS}
    naive = _control(tb.name, NAIVE, seeds, cache_dir, "teacher")
    return {
        "sizes": testbed_sizes(tb), "seeds": seeds,
        "acc_weak": acc_weak, "acc_ceiling": acc_ceiling, "gap": acc_ceiling - acc_weak,
        "gap_interval": list(boot), "gap_seed_interval": list(seed_t),
        "gap_excludes_zero": boot[0] > 0,
        "controls": controls, "naive": naive,
        "parts": {part: {"acc_weak": float(weak_c[:, mask].mean()), "acc_ceiling": float(ceil_c[:, mask].mean())}
                  for part, mask in (("public", public), ("private", ~public))},
        "per_seed": [{"seed": s, "acc_weak": float(weak_c[s].mean()), "acc_ceiling": float(ceil_c[s].mean())}
                     for s in range(seeds)],
    }


# The controls: (key in the report, method, weak labels it learns from).
CONTROLS: tuple[tuple[str, str, WeakLabels], ...] = (
    ("principal_probe", "principal_probe", "teacher"),
    ("shuffled_cross_entropy", "cross_entropy", "shuffled"),
)
NAIVE = "cross_entropy"  # the method of the report's `naive` entry, on the teacher's labels


def _control(name: str, method: str, seeds: int, cache_dir: Path, weak_labels: WeakLabels) -> dict[str, Any]:
    result = run_w2s(name, method, seeds=seeds, cache_dir=cache_dir, weak_labels=weak_labels)
    return {"method": method, "weak_labels": weak_labels, "pgr": result.pgr,
            "pgr_interval": list(result.pgr_interval) if result.pgr_interval is not None else None,
            "acc": result.acc_w2s}


def testbed_report(
    name: str,
    *,
    seeds: int = 5,
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
    refresh: bool = False,
) -> dict[str, Any]:
    """Sizes, weak and ceiling accuracy and the gap with 95% intervals over `seeds` seeds.

    Cached as JSON under `<cache_dir>/reports/`; `refresh` recomputes. The result's
    `cached` says whether it came from disk, `seconds` how long this call took.
    """
    if seeds < 2:
        raise ExperimentError(f"a gap interval needs at least 2 seeds, got {seeds}")
    start = time.perf_counter()
    tb = load_testbed(name)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = directory / "reports" / f"{_report_key(tb, seeds)}.json"
    body: dict[str, Any] | None = None
    if not refresh and path.is_file():
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            body = None  # damaged: recompute
    cached = body is not None
    if body is None:
        body = _compute_report(tb, seeds, directory, on_progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    return {"name": name, "description": tb.spec.description, "dataset_hash": tb.dataset_hash,
            "weak_model": _model_label(tb.spec.weak), "weak_description": describe_model(tb.spec.weak),
            "strong_model": _model_label(tb.spec.strong), "weak_note": tb.spec.weak_note,
            **_pair_features(tb.spec), **body, "cached": cached, "seconds": time.perf_counter() - start}


def testbed_reports(
    names: list[str] | None = None,
    *,
    seeds: int = 5,
    cache_dir: Path | str | None = None,
    on_progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """`testbed_report` of each name (default: every registered testbed), in order."""
    return [testbed_report(n, seeds=seeds, cache_dir=cache_dir, on_progress=on_progress)
            for n in (names if names is not None else sorted(TESTBEDS))]


def _fmt_pgr(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_testbed_table(reports: list[dict[str, Any]]) -> str:
    """A plain-text table of `testbed_report` results, one row per testbed."""
    head = (f"{'testbed':<26} {'label':>6} {'unlab':>6} {'pub':>5} {'priv':>5}  {'weak model':<24} "
            f"{'weak':>6} {'ceil':>6} {'gap (95% CI)':>22}  {'naive':>5}  {'controls: probe / shuffled':>26}")
    rows = [head, "-" * len(head)]
    for r in reports:
        s = r["sizes"]
        lo, hi = r["gap_interval"]
        gap = f"{100 * r['gap']:5.1f} [{100 * lo:4.1f}, {100 * hi:4.1f}]"
        controls = " / ".join(_fmt_pgr(r["controls"][key]["pgr"]) for key, _, _ in CONTROLS)
        rows.append(f"{r['name']:<26} {s['train_label']:>6} {s['train_unlabel']:>6} {s['test_public']:>5} "
                    f"{s['test_private']:>5}  {r['weak_model']:<24} {r['acc_weak']:6.3f} {r['acc_ceiling']:6.3f} "
                    f"{gap:>22}  {_fmt_pgr(r['naive']['pgr']):>5}  {controls:>26}")
    rows.append(f"gap in points: ceiling minus weak accuracy on the test split; 95% bootstrap interval over "
                f"test items and {reports[0]['seeds'] if reports else 0} seeds")
    rows.append("naive (PGR): cross-entropy on the teacher's labels, the headroom a method has to beat")
    rows.append("controls (PGR): the principal probe (no labels but the sign) / cross-entropy on shuffled weak "
                "labels; a testbed measures supervision when both are low")
    return "\n".join(rows)
