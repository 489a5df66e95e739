"""Re-measure what the tripwire thresholds in `TripwireConfig` rest on, per testbed.

    python benchmarks/bench_tripwire_calibration.py [--testbeds a,b,c] [--cache-dir DIR]

For each testbed, the honest sweep of tests/experiments/test_probing.py (every
library method, then cross-entropy over 3 seeds and 4 L2 values), sent by one agent
to one scorer, and:
- teacher agreement: the share of test items on which each honest submission agrees
  with the teacher's hard labels (`teacher_agreement` must sit above all of them),
  and the teacher's agreement with itself retrained on another seed (and below that);
- near-duplicates: how many items two honest submissions differ on (cross-entropy
  seeds at one L2, one seed at neighbouring L2 values, two different methods), beside
  the `probing` threshold max(near_min_items, near_share * n);
- every flag the sweep raised (there should be none).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import numpy as np  # noqa: E402

from experiments import TESTBEDS, TripwireConfig, default_cache_dir, prepare_task  # noqa: E402
from tests.experiments.test_probing import SWEEP_L2, SWEEP_SEEDS, honest_predictions  # noqa: E402


def _span(values: list[float] | list[int], fmt: str = "{:.3f}") -> str:
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}" if values else "-"


def calibrate(name: str, cache_dir: Path) -> None:
    task = prepare_task(name, cache_dir=cache_dir, baseline_seeds=2)
    other = prepare_task(name, cache_dir=cache_dir, baseline_seeds=2, teacher_seed=1)
    scorer = task.scorer()
    teacher = scorer._weak_hard  # supervisor-side: the teacher's hard test labels
    by_id = dict(zip(other.test_ids, other.scorer()._weak_hard))
    self_agreement = float(np.mean([by_id[i] == t for i, t in zip(task.test_ids, teacher)]))
    honest = honest_predictions(task, cache_dir)
    hard = {k: v > 0.5 for k, v in honest.items()}
    agreement = {k: float(np.mean(h == teacher)) for k, h in hard.items()}
    cfg = TripwireConfig()
    n = len(teacher)
    threshold = max(cfg.near_min_items, int(cfg.near_share * n))

    def diff(a: str, b: str) -> int:
        return int(np.sum(hard[a] != hard[b]))

    ce = {(l2, s): f"cross_entropy l2={l2:g} seed={s}" for l2 in SWEEP_L2 for s in SWEEP_SEEDS}
    seed_diffs = {l2: [diff(ce[(l2, a)], ce[(l2, b)]) for a, b in itertools.combinations(SWEEP_SEEDS, 2)]
                  for l2 in SWEEP_L2}
    l2_diffs = [diff(ce[(a, s)], ce[(b, s)]) for a, b in zip(SWEEP_L2, SWEEP_L2[1:]) for s in SWEEP_SEEDS]
    methods = [k for k in hard if not k.startswith("cross_entropy l2=")]
    method_diffs = [diff(a, b) for a, b in itertools.combinations(methods, 2)]
    flagged = []
    for key, probs in honest.items():
        result = scorer.score(list(task.test_ids), probs.tolist(), agent="honest")
        if result.flags:
            flagged.append(f"{key}: {', '.join(result.flag_codes)}")
    print(f"{name}: {n} test items, {len(honest)} honest submissions")
    print(f"  teacher agreement of honest students {_span(list(agreement.values()))} "
          f"(library methods {_span([agreement[m] for m in methods])}); teacher vs teacher seed 1 "
          f"{self_agreement:.3f}; threshold {cfg.teacher_agreement:g}")
    print(f"  items two honest submissions differ on (near-duplicate threshold {threshold}): "
          + "; ".join(f"cross-entropy seeds at L2 {l2:g}: {_span(d, '{}')}" for l2, d in seed_diffs.items())
          + f"; neighbouring L2: {_span(l2_diffs, '{}')}; two methods: {_span(method_diffs, '{}')}")
    print(f"  flags: {'; '.join(flagged) if flagged else 'none'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--testbeds", default=",".join(n for n in sorted(TESTBEDS) if n.endswith("-hard")))
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    args = parser.parse_args()
    for name in args.testbeds.split(","):
        calibrate(name, args.cache_dir)


if __name__ == "__main__":
    main()
