"""Measure the experiments package: extraction speed, trial cost, and the W2S baseline.

    python benchmarks/bench_experiments.py [--seeds 5] [--extract-limit 1000] [--cache-dir DIR]

1. Feature extraction throughput on the first `--extract-limit` items of
   stdlib-docstrings, into a fresh temporary cache (so it always really runs).
2. Full-testbed features through the shared cache (a miss the first time).
3. Seconds per cross-entropy trial on cached features.
4. `run_w2s("stdlib-docstrings", "cross_entropy", seeds=...)` on the full testbed.
Every number printed is measured in this run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Run from a checkout without installing: make the repo root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from experiments import default_cache_dir, get_method, load_testbed, run_w2s  # noqa: E402
from experiments.features import cached_embeddings  # noqa: E402
from experiments.pair_features import weak_strong_features  # noqa: E402
from experiments.protocol import train_teacher  # noqa: E402

TESTBED = "stdlib-docstrings"


def bench_extraction(limit: int) -> None:
    tb = load_testbed(TESTBED, limit=limit)
    texts = list(dict.fromkeys((*tb.left, *tb.right)))
    marks: dict[str, float] = {}

    def on_progress(done: int, total: int) -> None:
        marks.setdefault("first", time.perf_counter())  # model loaded, batches start
        marks["last"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cached_embeddings(texts, tb.spec.encoder, layers=[tb.spec.weak_layer, -1], cache_dir=tmp,
                          on_progress=on_progress)
        total = time.perf_counter() - start
        again = time.perf_counter()
        cached_embeddings(texts, tb.spec.encoder, layers=[tb.spec.weak_layer, -1], cache_dir=tmp)
        hit = time.perf_counter() - again
    forward = marks["last"] - marks["first"]
    print(f"extraction: {len(texts)} texts ({limit} pairs), all 7 layers in one pass")
    print(f"  forward passes {forward:.1f} s = {len(texts) / forward:.0f} texts/s; "
          f"with model load and cache write {total:.1f} s = {len(texts) / total:.0f} texts/s")
    print(f"  second call (cache hit, no model load): {hit:.3f} s")


def bench_trial(cache_dir: Path, repeats: int = 5) -> None:
    tb = load_testbed(TESTBED)
    start = time.perf_counter()
    feats = weak_strong_features(tb, cache_dir=cache_dir)
    print(f"full-testbed features ({len(tb)} pairs) via {cache_dir}: {time.perf_counter() - start:.1f} s")
    s = tb.splits
    weak = train_teacher(feats.weak, tb.labels, s, seed=0).predict_proba(feats.weak[s.train_unlabel])
    method = get_method("cross_entropy")
    times = []
    for seed in range(repeats):
        t = time.perf_counter()
        method.fit_predict(feats.strong[s.train_unlabel], weak, feats.strong[s.test], seed=seed)
        times.append(time.perf_counter() - t)
    print(f"cross_entropy trial on cached features ({len(s.train_unlabel)} x {feats.strong.shape[1]} train, "
          f"{len(s.test)} test): {statistics.mean(times):.2f} s mean, {max(times):.2f} s max over {repeats}")


def bench_w2s(cache_dir: Path, seeds: int) -> None:
    start = time.perf_counter()
    r = run_w2s(TESTBED, "cross_entropy", seeds=seeds, cache_dir=cache_dir)
    took = time.perf_counter() - start
    print(f"run_w2s({TESTBED!r}, 'cross_entropy', seeds={seeds}) in {took:.1f} s "
          f"(train_label {r.n_train_label}, train_unlabel {r.n_train_unlabel}, test {r.n_test})")
    print(f"  acc_weak    {r.acc_weak:.4f}")
    print(f"  acc_ceiling {r.acc_ceiling:.4f}")
    print(f"  gap         {100 * r.gap:.2f} points")
    print(f"  acc_w2s     {r.acc_w2s:.4f}")
    if r.pgr is not None and r.pgr_interval is not None:
        lo, hi = r.pgr_interval
        print(f"  pgr         {r.pgr:.3f}  (95% bootstrap over test items: {lo:.2f} .. {hi:.2f})")
    else:
        print(f"  pgr         none ({r.note})")
    for s in r.per_seed:
        pgr_text = f"{s.pgr:.3f}" if s.pgr is not None else "none"
        print(f"    seed {s.seed}: weak {s.acc_weak:.4f} ceiling {s.acc_ceiling:.4f} "
              f"w2s {s.acc_w2s:.4f} pgr {pgr_text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--extract-limit", type=int, default=1000, help="pairs for the throughput run")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--skip-extract", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
    if not args.skip_extract:
        bench_extraction(args.extract_limit)
    bench_trial(args.cache_dir)
    bench_w2s(args.cache_dir, args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
