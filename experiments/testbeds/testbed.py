"""A loaded testbed: paired (or single) texts, binary labels and fixed splits.

File format of the built-in testbeds: JSONL (optionally gzipped), one object per line:
`{"id": str, "left": str, "right": str, "label": 0 | 1, "group": str (optional)}`.
Items with the same `group` (for stdlib-docstrings: the positive and the negative pair
of one function) always land in the same split, so no function straddles train and test.

Splits come from a hash of the group, not from a seed: every run, seed and machine
sees the same items in the same split, and adding items never moves old ones. A
user testbed (`experiments.testbeds.user`) brings its own train_label / train_unlabel /
test assignment instead; its test part is still divided into public and private by hash.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from experiments.errors import TestbedFormatError

if TYPE_CHECKING:
    from experiments.testbeds.registry import TestbedSpec

# Fractions of groups: ground truth for the weak teacher / weak-labelled student data / test.
TRAIN_LABEL_FRACTION = 0.3
TRAIN_UNLABEL_FRACTION = 0.4


def _unit_hash(text: str) -> float:
    """A stable number in [0, 1) from text (sha256, so independent of PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Splits:
    """Index arrays into a testbed; `test` = `test_public` + `test_private`."""

    train_label: np.ndarray
    train_unlabel: np.ndarray
    test: np.ndarray
    test_public: np.ndarray
    test_private: np.ndarray


@dataclass(frozen=True, eq=False)
class Testbed:
    """Paired texts with binary labels, as loaded by `load_testbed`."""

    __test__ = False  # not a pytest test class despite the name

    name: str
    ids: tuple[str, ...]
    left: tuple[str, ...]
    right: tuple[str, ...] | None  # None: single-text items (only `left`)
    labels: np.ndarray
    groups: tuple[str, ...]
    dataset_hash: str
    spec: TestbedSpec
    # Split of each item ("train_label" / "train_unlabel" / "test") when the data
    # brings its own; None: from the hash of the group.
    assigned: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def splits(self) -> Splits:
        """Seed-independent splits: ~30% train_label, ~40% train_unlabel, ~30% test."""
        public = np.array([_unit_hash(f"public/{g}") < 0.5 for g in self.groups], dtype=bool)
        if self.assigned is not None:
            names = np.array(self.assigned)
            label_mask, unlabel_mask = names == "train_label", names == "train_unlabel"
            test_mask = names == "test"
        else:
            u = np.array([_unit_hash(f"split/{g}") for g in self.groups])
            cut1, cut2 = TRAIN_LABEL_FRACTION, TRAIN_LABEL_FRACTION + TRAIN_UNLABEL_FRACTION
            label_mask, unlabel_mask, test_mask = u < cut1, (u >= cut1) & (u < cut2), u >= cut2
        return Splits(
            train_label=np.flatnonzero(label_mask),
            train_unlabel=np.flatnonzero(unlabel_mask),
            test=np.flatnonzero(test_mask),
            test_public=np.flatnonzero(test_mask & public),
            test_private=np.flatnonzero(test_mask & ~public),
        )

    def texts(self) -> list[str]:
        """Every distinct text of the testbed once, in first-seen order (what gets embedded)."""
        return list(dict.fromkeys((*self.left, *(self.right or ()))))


def _open_text(path: Path):  # type: ignore[no-untyped-def]
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_records(path: Path, *, limit: int | None = None) -> list[dict[str, object]]:
    """Parse and check a testbed file; the first `limit` records when given."""
    if limit is not None and limit < 1:
        raise TestbedFormatError(f"limit must be a positive number of items, got {limit}")
    records: list[dict[str, object]] = []
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                missing = [k for k in ("id", "left", "right", "label") if k not in rec]
                if missing:
                    raise TestbedFormatError(f"{path}:{lineno}: missing key(s) {', '.join(missing)}")
                if rec["label"] not in (0, 1):
                    raise TestbedFormatError(f"{path}:{lineno}: label must be 0 or 1, got {rec['label']!r}")
                records.append(rec)
                if limit is not None and len(records) >= limit:
                    break
    except OSError as exc:
        raise TestbedFormatError(f"cannot read testbed file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise TestbedFormatError(f"{path}: line {exc.lineno} is not JSON: {exc.msg}") from exc
    ids = [str(r["id"]) for r in records]
    if len(set(ids)) != len(ids):
        raise TestbedFormatError(f"{path}: duplicate ids")
    if not records:
        raise TestbedFormatError(f"{path}: no records")
    return records


def dataset_hash(records: list[dict[str, object]]) -> str:
    """sha256 of the records' content in order (ids, texts, labels, groups, given splits)."""
    h = hashlib.sha256()
    for r in records:
        row = [r["id"], r["left"], r.get("right"), r["label"], r.get("group", r["id"])]
        if "split" in r:  # only user testbeds carry one; built-in hashes stay as they were
            row.append(r["split"])
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def testbed_from_records(spec: TestbedSpec, records: list[dict[str, object]]) -> Testbed:
    """Build a `Testbed` from checked records."""
    paired = all(r.get("right") is not None for r in records)
    return Testbed(
        name=spec.name,
        ids=tuple(str(r["id"]) for r in records),
        left=tuple(str(r["left"]) for r in records),
        right=tuple(str(r["right"]) for r in records) if paired else None,
        labels=np.array([int(r["label"]) for r in records], dtype=np.int64),  # type: ignore[call-overload]
        groups=tuple(str(r.get("group", r["id"])) for r in records),
        dataset_hash=dataset_hash(records),
        spec=spec,
        assigned=tuple(str(r["split"]) for r in records) if all("split" in r for r in records) else None,
    )
