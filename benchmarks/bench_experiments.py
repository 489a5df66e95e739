"""Measure the experiments package on every testbed: extraction, cached prepare, trials, reports.

    python benchmarks/bench_experiments.py [--testbeds a,b] [--seeds 5] [--extract-limit 300]
                                           [--cold-limit N] [--skip-cold] [--cache-dir DIR]

Per testbed:
1. Extraction throughput of its weak and strong models on the first `--extract-limit`
   items, into a fresh temporary cache (so it always really runs): texts/s.
2. `prepare_features` cold (fresh temporary cache, the whole testbed unless
   `--cold-limit`) against the same call cached, in this process and in a fresh
   Python process (what `aar w2s prepare` costs the second time): the speed-up.
3. Seconds per trial on cached features: teacher, ceiling and a cross-entropy student.
4. `testbed_report` (weak, ceiling, gap with its interval) and
   `run_w2s(..., "cross_entropy")` through the shared cache at `--cache-dir`.
Every number printed is measured in this run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import torch  # noqa: E402

from experiments import TESTBEDS, default_cache_dir, get_method, load_testbed, run_w2s  # noqa: E402
from experiments.pair_features import text_features, weak_strong_features  # noqa: E402
from experiments.protocol import train_ceiling, train_teacher  # noqa: E402
from experiments.testbed_report import format_testbed_table, prepare_features, testbed_report  # noqa: E402


def bench_extraction(name: str, limit: int) -> None:
    tb = load_testbed(name, limit=limit)
    texts = tb.texts()
    for model in (tb.spec.weak, tb.spec.strong):
        marks: dict[str, float] = {}

        def on_progress(done: int, total: int, marks: dict[str, float] = marks) -> None:
            marks.setdefault("first", time.perf_counter())  # model loaded, batches start
            marks["last"] = time.perf_counter()

        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            text_features(texts, [model], cache_dir=tmp, on_progress=on_progress)
            total = time.perf_counter() - start
        forward = max(marks["last"] - marks["first"], 1e-9)
        print(f"  extract {model.label:<24} {len(texts)} texts: {len(texts) / total:7.0f} texts/s with load "
              f"and cache write ({total:.1f} s); {len(texts) / forward:7.0f} texts/s computing")


def _fresh_process_prepare(name: str, cache_dir: Path, limit: int | None) -> float:
    code = ("import time; t = time.perf_counter(); from experiments.testbed_report import prepare_features; "
            f"r = prepare_features({name!r}, cache_dir={str(cache_dir)!r}, limit={limit!r}); "
            "assert r['cache_hit'], r; print(time.perf_counter() - t)")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT, timeout=600)
    return time.perf_counter() - start


def bench_prepare(name: str, limit: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cold = prepare_features(name, cache_dir=tmp, limit=limit)
        warm = prepare_features(name, cache_dir=tmp, limit=limit)
        fresh = _fresh_process_prepare(name, Path(tmp), limit)
    assert not cold["cache_hit"] and warm["cache_hit"]
    print(f"  prepare cold {cold['seconds']:.1f} s ({cold['items']} items, {cold['texts']} texts); "
          f"cached {warm['seconds']:.2f} s in-process = {cold['seconds'] / warm['seconds']:.0f}x faster; "
          f"cached in a fresh process (imports included) {fresh:.1f} s = {cold['seconds'] / fresh:.0f}x")


def bench_trials(name: str, cache_dir: Path, repeats: int = 5) -> None:
    tb = load_testbed(name)
    start = time.perf_counter()
    feats = weak_strong_features(tb, cache_dir=cache_dir)
    print(f"  features via {cache_dir}: {time.perf_counter() - start:.1f} s "
          f"(weak {feats.weak.shape[1]} dims, strong {feats.strong.shape[1]} dims)")
    s, y = tb.splits, tb.labels
    method = get_method("cross_entropy")
    times: dict[str, list[float]] = {"teacher": [], "ceiling": [], "cross_entropy": []}
    for seed in range(repeats):
        t = time.perf_counter()
        weak = train_teacher(feats.weak, y, s, seed=seed).predict_proba(feats.weak[s.train_unlabel])
        times["teacher"].append(time.perf_counter() - t)
        t = time.perf_counter()
        train_ceiling(feats.strong, y, s, seed=seed)
        times["ceiling"].append(time.perf_counter() - t)
        t = time.perf_counter()
        method.fit_predict(feats.strong[s.train_unlabel], weak, feats.strong[s.test], seed=seed)
        times["cross_entropy"].append(time.perf_counter() - t)
    print("  seconds per trial on cached features (mean / max of "
          f"{repeats}): " + ", ".join(f"{k} {statistics.mean(v):.2f} / {max(v):.2f}" for k, v in times.items()))


def bench_report(name: str, cache_dir: Path, seeds: int) -> dict[str, object]:
    first = testbed_report(name, seeds=seeds, cache_dir=cache_dir)
    second = testbed_report(name, seeds=seeds, cache_dir=cache_dir)
    print(f"  testbed_report: {first['seconds']:.1f} s ({'cached' if first['cached'] else 'computed'}), "
          f"then {second['seconds']:.2f} s cached")
    r = run_w2s(name, "cross_entropy", seeds=seeds, cache_dir=cache_dir)
    interval = f"[{r.pgr_interval[0]:.2f}, {r.pgr_interval[1]:.2f}]" if r.pgr_interval else "-"
    pgr = f"{r.pgr:.3f}" if r.pgr is not None else f"none ({r.note})"
    print(f"  run_w2s cross_entropy x{seeds}: weak {r.acc_weak:.4f} ceiling {r.acc_ceiling:.4f} "
          f"w2s {r.acc_w2s:.4f} PGR {pgr} {interval}")
    return second


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--testbeds", default=",".join(sorted(TESTBEDS)))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--extract-limit", type=int, default=300, help="items for the throughput runs")
    parser.add_argument("--cold-limit", type=int, default=None, help="items for the cold prepare (default: all)")
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold/cached prepare comparison")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
    reports = []
    for name in args.testbeds.split(","):
        print(f"{name}:")
        bench_extraction(name, args.extract_limit)
        if not args.skip_cold:
            bench_prepare(name, args.cold_limit)
        bench_trials(name, args.cache_dir)
        reports.append(bench_report(name, args.cache_dir, args.seeds))
    print(format_testbed_table(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
