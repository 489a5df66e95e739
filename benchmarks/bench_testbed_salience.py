"""Is the label of a pair testbed more than the strong encoder's cosine? Measured, with hard negatives.

    .venv/bin/python benchmarks/bench_testbed_salience.py [--testbed stdlib-docstrings] [--deltas 0,0.15]
        [--seeds 3]

1. On the shipped testbed: test accuracy of a threshold on the pooled strong cosine of
   the two texts (fit on train_label) against the ceiling (a head on all strong features).
2. The same items with negatives from `experiments.testbeds.hard_negatives.matched_negatives`
   at each `--deltas` (TF-IDF+SVD-256 teacher), through `testbed_report`: weak, ceiling,
   gap and the controls (principal probe, cross-entropy on shuffled labels), plus
   cross-entropy's PGR.
3. The leak a nearest-neighbour draw without the used-once rule makes: how often one right
   text is reused, and the test accuracy of a head on the right text's features alone.
Every number printed is measured in this run (features come from the shared cache).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import run_w2s  # noqa: E402
from experiments.heads import fit_logistic  # noqa: E402
from experiments.pair_features import text_features, weak_strong_features  # noqa: E402
from experiments.testbed_report import testbed_report  # noqa: E402
from experiments.testbeds import TESTBEDS, TestbedSpec, load_testbed, register_testbed  # noqa: E402
from experiments.testbeds.build_stdlib import write_jsonl_gz  # noqa: E402
from experiments.testbeds.hard_negatives import check_negatives, matched_negatives  # noqa: E402
from experiments.testbeds.testbed import read_records  # noqa: E402
from experiments.tfidf import TfidfSpec  # noqa: E402


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def cosine_vs_ceiling(name: str) -> None:
    tb = load_testbed(name)
    s, y = tb.splits, tb.labels
    assert tb.right is not None
    u = _unit(text_features(list(tb.left), [tb.spec.strong])[0])
    v = _unit(text_features(list(tb.right), [tb.spec.strong])[0])
    cos = (u * v).sum(axis=1)
    cuts = np.quantile(cos[s.train_label], np.linspace(0.02, 0.98, 97))
    cut = max(cuts, key=lambda c: float(((cos[s.train_label] > c) == (y[s.train_label] == 1)).mean()))
    strong = weak_strong_features(tb).strong
    head = fit_logistic(strong[s.train_unlabel], y[s.train_unlabel], seed=0)
    print(f"{name}: a threshold on the strong cosine {((cos[s.test] > cut) == (y[s.test] == 1)).mean():.3f}; "
          f"the ceiling's head on all strong features {((head.predict_proba(strong[s.test]) > 0.5) == (y[s.test] == 1)).mean():.3f}")


def rebuilt(name: str, donors: list[int], positives: list[dict[str, object]], out: Path, weak: TfidfSpec) -> str:
    records: list[dict[str, object]] = []
    rng = np.random.default_rng(1)
    for i, rec in enumerate(positives):
        first = int(rng.integers(2))  # an id's suffix never tells which pair is the positive
        records.append({"id": f"{rec['group']}#{first}", "group": rec["group"], "left": rec["left"],
                        "right": rec["right"], "label": 1})
        records.append({"id": f"{rec['group']}#{1 - first}", "group": rec["group"], "left": rec["left"],
                        "right": positives[donors[i]]["right"], "label": 0})
    np.random.default_rng(0).shuffle(records)  # type: ignore[arg-type]
    write_jsonl_gz(records, out)
    spec = TESTBEDS[name]
    register_testbed(TestbedSpec(name=out.stem, path=out, description="salience benchmark", weak_layer=spec.weak_layer,
                                 encoder=spec.encoder, weak_model=weak), replace=True)
    return out.stem


def right_alone(name: str) -> float:
    tb = load_testbed(name)
    assert tb.right is not None
    s, y = tb.splits, tb.labels
    v = text_features(list(tb.right), [tb.spec.strong])[0]
    head = fit_logistic(v[s.train_unlabel], y[s.train_unlabel], seed=0)
    return float(((head.predict_proba(v[s.test]) > 0.5) == (y[s.test] == 1)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testbed", default="stdlib-docstrings-easy")
    parser.add_argument("--deltas", default="0,0.15")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    cosine_vs_ceiling(args.testbed)
    spec = TESTBEDS[args.testbed]
    positives = sorted((r for r in read_records(spec.path) if r["label"] == 1), key=lambda r: str(r["group"]))
    lefts, rights = [str(r["left"]) for r in positives], [str(r["right"]) for r in positives]
    sim = _unit(text_features(lefts, [spec.strong])[0]) @ _unit(text_features(rights, [spec.strong])[0]).T
    weak = TfidfSpec(dim=256)
    with tempfile.TemporaryDirectory() as tmp:
        for delta in (float(d) for d in args.deltas.split(",")):
            donors = matched_negatives(sim, rights, delta=delta, seed=0)
            assert not check_negatives(rights, donors)
            name = rebuilt(args.testbed, donors, positives, Path(tmp) / f"matched-{delta:g}.jsonl.gz", weak)
            r = testbed_report(name, seeds=args.seeds, cache_dir=Path(tmp) / "cache")
            ce = run_w2s(name, "cross_entropy", seeds=args.seeds, cache_dir=Path(tmp) / "cache")
            c = r["controls"]
            fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            print(f"matched negatives, delta {delta:g}: weak {r['acc_weak']:.3f} ceiling {r['acc_ceiling']:.3f} gap "
                  f"{100 * r['gap']:.1f} [{100 * r['gap_interval'][0]:.1f}, {100 * r['gap_interval'][1]:.1f}]; "
                  f"PGR cross-entropy {fmt(ce.pgr)}, probe {fmt(c['principal_probe']['pgr'])}, shuffled "
                  f"{fmt(c['shuffled_cross_entropy']['pgr'])}")
        masked = sim.copy()
        np.fill_diagonal(masked, -np.inf)
        nearest = [int(j) for j in masked.argmax(axis=1)]
        reuse = np.bincount(nearest, minlength=len(nearest))
        name = rebuilt(args.testbed, nearest, positives, Path(tmp) / "nearest-reused.jsonl.gz", weak)
        print(f"nearest right text, reuse allowed: {int((reuse > 1).sum())} texts reused, one up to {int(reuse.max())} "
              f"times; problems: {check_negatives(rights, nearest)}; a head on the right text alone "
              f"{right_alone(name):.3f} (shipped testbed: {right_alone(args.testbed):.3f})")


if __name__ == "__main__":
    main()
