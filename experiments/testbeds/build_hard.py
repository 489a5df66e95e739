"""Build the "-hard" testbeds' files from the shipped "-easy" ones.

The hard testbeds keep every item of their easy file and change two things: the
student's pair features (see `experiments.testbeds.registry`) and the negatives that
near-duplicate their anchor's positive, which get another negative text of the same
file (`hard_negatives.repair_near_duplicates`). Ids, positives and every other
negative stay as they were, so the two versions of a testbed differ by exactly what
the repair names.

Built from files in the repo, the output is the same on every machine:
`python -m experiments.testbeds.build_hard` rewrites the three shipped files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.testbeds.building import summary, write_jsonl_gz
from experiments.testbeds.hard_negatives import check_negatives, repair_near_duplicates
from experiments.testbeds.testbed import read_records

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# easy file -> hard file, both under DATA_DIR
SOURCES = {
    "stdlib_docstrings.jsonl.gz": "stdlib_docstrings_hard.jsonl.gz",
    "manpages.jsonl.gz": "manpages_hard.jsonl.gz",
    "debian_descriptions.jsonl.gz": "debian_descriptions_hard.jsonl.gz",
}


def category(record: dict[str, object]) -> str:
    """The record's category; stdlib records have none, so their group's module/class."""
    if "category" in record:
        return str(record["category"])
    return str(record["group"]).rsplit(".", 1)[0]


def harden(records: list[dict[str, object]], *, seed: int = 0) -> tuple[list[dict[str, object]], int]:
    """`records` with near-duplicate negatives repaired (same order and ids) and the
    number of swaps. Raises ValueError if a group lacks its positive."""
    positive = {r["group"]: str(r["right"]) for r in records if r["label"] == 1}
    negatives = [k for k, r in enumerate(records) if r["label"] == 0]
    missing = [records[k]["group"] for k in negatives if records[k]["group"] not in positive]
    if missing:
        raise ValueError(f"{len(missing)} negatives have no positive in their group (e.g. {missing[0]})")
    own = [positive[records[k]["group"]] for k in negatives]
    donated = [str(records[k]["right"]) for k in negatives]
    order, swaps = repair_near_duplicates(own, donated, [category(records[k]) for k in negatives], seed=seed)
    out = [dict(r) for r in records]
    for i, k in enumerate(negatives):
        out[k]["right"] = donated[order[i]]
    return out, swaps


def negative_problems(records: list[dict[str, object]]) -> list[str]:
    """`check_negatives` on a file's records: reuse of a negative text, near-duplicates."""
    positive = {r["group"]: str(r["right"]) for r in records if r["label"] == 1}
    negatives = [r for r in records if r["label"] == 0]
    # Anchors first (rights[i] is anchor i's own text), then positives with no negative.
    rights = list(dict.fromkeys([positive[r["group"]] for r in negatives] + list(positive.values())))
    index = {t: i for i, t in enumerate(rights)}
    strays = [r["id"] for r in negatives if str(r["right"]) not in index]
    problems = [f"{len(strays)} negative texts are no item's positive (e.g. {strays[0]})"] if strays else []
    donors = [index[str(r["right"])] for r in negatives if str(r["right"]) in index]
    return problems + check_negatives(rights, donors)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: write each hard file and print what the repair did."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--output-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for easy, hard in SOURCES.items():
        records, swaps = harden(read_records(args.data_dir / easy), seed=args.seed)
        problems = negative_problems(records)
        if problems:
            raise SystemExit(f"{hard}: {'; '.join(problems)}")
        write_jsonl_gz(records, args.output_dir / hard)
        print(f"{easy}: {swaps} near-duplicate negatives re-drawn")
        print(summary(records, args.output_dir / hard))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
