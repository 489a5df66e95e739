"""The method table: every library method on every testbed, with and without the teacher.

    .venv/bin/python benchmarks/bench_methods.py [--testbeds a,b] [--seeds 5] [--markdown]

For each testbed and method: `run_w2s` over `--seeds` seeds (PGR with its 95% bootstrap
interval over test items and seeds), and the same run on shuffled weak labels
(`weak_labels="shuffled"`: the teacher's labels permuted across rows). A method whose
PGR survives the shuffle gets its signal from the strong features, not the teacher,
on that testbed. `--markdown` prints the README's table. Features and baselines come
from the shared cache (`aar w2s prepare` fills it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import METHODS, TESTBEDS, run_w2s  # noqa: E402
from experiments.protocol import W2SResult  # noqa: E402


def cell(result: W2SResult) -> str:
    if result.pgr is None:
        return "-"
    lo, hi = result.pgr_interval or (float("nan"), float("nan"))
    return f"{result.pgr:.2f} [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testbeds", default=",".join(sorted(TESTBEDS)))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    names = args.testbeds.split(",")
    started = time.perf_counter()
    table: dict[str, dict[str, tuple[str, str]]] = {}
    for testbed in names:
        for method in sorted(METHODS):
            taught = run_w2s(testbed, method, seeds=args.seeds)
            shuffled = run_w2s(testbed, method, seeds=args.seeds, weak_labels="shuffled")
            table.setdefault(method, {})[testbed] = (cell(taught), cell(shuffled))
            print(f"{testbed:22s} {method:20s} PGR {cell(taught):22s} shuffled labels {cell(shuffled):24s} "
                  f"({taught.seconds_per_seed:.1f} s/seed)", flush=True)
    if args.markdown:
        print("\n| method | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for method, row in table.items():
            print(f"| {method} | " + " | ".join(f"{row[t][0]} (shuffled: {row[t][1]})" for t in names) + " |")
    print(f"\n{args.seeds} seeds; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
