"""User-supplied testbeds: a JSONL directory (`jsonl:/path/to/dir`) or a Hugging Face dataset (`hf:owner/name`).

JSONL layout (the AAR layout): a directory with three files,

    train_label.jsonl    ground truth for the weak teacher
    train_unlabel.jsonl  the student's inputs (the weak teacher labels them); its labels
                         are kept by the harness for the ceiling and never shown to agents
    test.jsonl           scored items, split into a public and a private half by a hash

one JSON object per line: `{"id": ... (optional), "text": "..."}` for single texts or
`{"left": "...", "right": "..."}` for pairs, plus `"label"` (0/1, true/false, or one of
the string pairs "no"/"yes", "false"/"true", "negative"/"positive",
"incorrect"/"correct") and an optional `"group"` that keeps items together in the
public or private half. Every file uses the same shape and the same label type. An
optional `testbed.json` names the models: `{"weak": {"kind": "tfidf", "dim": 256},
"strong": {"kind": "encoder", "model": "Qwen/Qwen2.5-0.5B", "pooling": "last"},
"description": "..."}`; without it the weak model is TF-IDF + SVD and the strong one
all-MiniLM-L6-v2.

Hugging Face: `hf:owner/name` or `hf:owner/name:config` loads the dataset with the
`datasets` package (offline unless HF_HUB_OFFLINE is unset), takes a binary `label`
column and a text column (`text`, `sentence`, ...) or a pair of columns (`sentence1` /
`sentence2`, `premise` / `hypothesis`, `question` / `passage`, ...). Its train split
becomes train_label and train_unlabel (3 : 4, by a hash of the row); its test split,
or its validation split where test labels are hidden, becomes test.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from experiments.errors import ExperimentError, TestbedFormatError
from experiments.features import EncoderLayer, EncoderSpec
from experiments.testbeds.registry import TestbedSpec
from experiments.testbeds.testbed import TRAIN_LABEL_FRACTION, TRAIN_UNLABEL_FRACTION, Testbed, testbed_from_records
from experiments.tfidf import TfidfSpec

SPLIT_FILES = ("train_label", "train_unlabel", "test")
# Fewest items a split may have: below this a head's accuracy is mostly noise.
MIN_ITEMS = {"train_label": 20, "train_unlabel": 20, "test": 20}
STRING_LABELS = {"no": 0, "yes": 1, "false": 0, "true": 1, "negative": 0, "positive": 1,
                 "incorrect": 0, "correct": 1, "0": 0, "1": 1}
PAIR_COLUMNS = (("left", "right"), ("sentence1", "sentence2"), ("premise", "hypothesis"),
                ("question1", "question2"), ("question", "passage"), ("question", "sentence"),
                ("text_a", "text_b"), ("query", "document"))
TEXT_COLUMNS = ("text", "sentence", "content", "review", "document")


def _label_kind(value: object) -> str | None:
    """"number", "bool", "string", or None for a type no label may have."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _label_value(value: object, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        if value not in (0, 1):
            raise TestbedFormatError(f"{where}: label must be binary (0 or 1), got {value!r}")
        return int(value)
    key = str(value).strip().lower()
    if key not in STRING_LABELS:
        raise TestbedFormatError(
            f"{where}: label {value!r} is not binary; string labels must be one of "
            + ", ".join(f"{a}/{b}" for a, b in (("no", "yes"), ("false", "true"), ("negative", "positive"),
                                                ("incorrect", "correct"), ("0", "1"))))
    return STRING_LABELS[key]


class _Checker:
    """Checks rows one by one, remembering the first shape and label type seen."""

    def __init__(self) -> None:
        self.shape: tuple[str, str] | None = None  # ("pair" | "text", where first seen)
        self.kind: tuple[str, str] | None = None
        self.ids: dict[str, str] = {}

    def record(self, row: object, where: str, split: str, default_id: str) -> dict[str, object]:
        if not isinstance(row, dict):
            raise TestbedFormatError(f"{where}: expected a JSON object, got {type(row).__name__}")
        if "label" not in row:
            raise TestbedFormatError(f"{where}: missing key 'label'")
        if "left" in row or "right" in row:
            missing = [k for k in ("left", "right") if k not in row]
            if missing:
                raise TestbedFormatError(f"{where}: a pair needs both 'left' and 'right'; missing {missing[0]!r}")
            shape, texts = "pair", [row["left"], row["right"]]
        elif "text" in row:
            shape, texts = "text", [row["text"]]
        else:
            raise TestbedFormatError(f"{where}: missing the text: give 'text', or 'left' and 'right'")
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise TestbedFormatError(f"{where}: texts must be non-empty strings, got {t!r}")
        if self.shape is None:
            self.shape = (shape, where)
        elif self.shape[0] != shape:
            raise TestbedFormatError(f"{where}: a {shape} item, but {self.shape[1]} is a "
                                     f"{self.shape[0]} item; use one shape throughout")
        kind = _label_kind(row["label"])
        if kind is None:
            raise TestbedFormatError(f"{where}: label must be a number, bool or string, got {row['label']!r}")
        if self.kind is None:
            self.kind = (kind, where)
        elif self.kind[0] != kind:
            raise TestbedFormatError(f"{where}: mixed label types: {row['label']!r} is a {kind} but the "
                                     f"label at {self.kind[1]} is a {self.kind[0]}")
        item_id = str(row.get("id", default_id))
        if item_id in self.ids:
            raise TestbedFormatError(f"{where}: duplicate id {item_id!r} (first at {self.ids[item_id]})")
        self.ids[item_id] = where
        return {"id": item_id, "left": texts[0], "right": texts[1] if shape == "pair" else None,
                "label": _label_value(row["label"], where), "group": str(row.get("group", item_id)),
                "split": split}


def _jsonl_path(directory: Path, split: str) -> Path:
    for suffix in (".jsonl", ".jsonl.gz"):
        if (directory / f"{split}{suffix}").is_file():
            return directory / f"{split}{suffix}"
    raise TestbedFormatError(f"{directory}: missing {split}.jsonl (a JSONL testbed needs "
                             f"{', '.join(f + '.jsonl' for f in SPLIT_FILES)})")


def read_jsonl_dir(directory: Path, *, limit: int | None = None) -> list[dict[str, object]]:
    """Checked records of the three split files; `limit` keeps the first items of each."""
    if not directory.is_dir():
        raise TestbedFormatError(f"{directory}: not a directory (a JSONL testbed is a directory "
                                 f"with {', '.join(f + '.jsonl' for f in SPLIT_FILES)})")
    checker, records = _Checker(), []
    for split in SPLIT_FILES:
        path, kept = _jsonl_path(directory, split), 0
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TestbedFormatError(f"{where}: not JSON: {exc.msg}") from exc
                records.append(checker.record(row, where, split, f"{split}-{lineno}"))
                kept += 1
                if limit is not None and kept >= limit:
                    break
    return records


def check_sizes(records: Sequence[Mapping[str, object]], source: str) -> None:
    """Refuse data too small for the splits: each split needs MIN_ITEMS and both labels."""
    for split, minimum in MIN_ITEMS.items():
        labels = [r["label"] for r in records if r["split"] == split]
        if len(labels) < minimum:
            raise TestbedFormatError(f"{source}: dataset too small for the splits: {split} has "
                                     f"{len(labels)} item(s), at least {minimum} are needed")
        if split != "test" and len(set(labels)) < 2:
            raise TestbedFormatError(f"{source}: {split} has only label {labels[0]}; "
                                     "a head needs both classes to learn from")


def _model_from_json(obj: object, where: str) -> EncoderLayer | TfidfSpec:
    if obj == "tfidf":
        return TfidfSpec()
    if not isinstance(obj, dict) or obj.get("kind") not in ("tfidf", "encoder"):
        raise TestbedFormatError(f"{where}: a model is {{\"kind\": \"tfidf\" | \"encoder\", ...}}, got {obj!r}")
    options = {k: v for k, v in obj.items() if k != "kind"}
    try:
        if obj["kind"] == "tfidf":
            return TfidfSpec(**options)
        layer = int(options.pop("layer", -1))
        allowed = {f.name for f in fields(EncoderSpec)}
        unknown = set(options) - allowed
        if unknown:
            raise TestbedFormatError(f"{where}: unknown encoder option(s) {sorted(unknown)}; known: {sorted(allowed)}")
        return EncoderLayer(EncoderSpec(**options), layer)
    except TypeError as exc:
        raise TestbedFormatError(f"{where}: {exc}") from exc


def user_spec(name: str, *, path: Path, settings: Mapping[str, Any] | None = None) -> TestbedSpec:
    """The spec of a user testbed: defaults, overridden by a testbed.json's settings."""
    settings = settings or {}
    where = f"{path / 'testbed.json'}"
    return TestbedSpec(
        name=name, path=path,
        description=str(settings.get("description", f"user testbed from {path}")),
        agent_description=str(settings.get("agent_description", "Binary classification of texts.")),
        weak_layer=1, encoder=EncoderSpec(display_name="all-MiniLM-L6-v2"),
        weak_model=_model_from_json(settings.get("weak", "tfidf"), where),
        strong_model=_model_from_json(settings["strong"], where) if "strong" in settings else None,
    )


def _settings(directory: Path) -> dict[str, Any]:
    path = directory / "testbed.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TestbedFormatError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise TestbedFormatError(f"{path}: expected a JSON object")
    return data


def _hf_text_columns(columns: Iterable[str], source: str) -> tuple[str, str | None]:
    cols = set(columns)
    for left, right in PAIR_COLUMNS:
        if left in cols and right in cols:
            return left, right
    for col in TEXT_COLUMNS:
        if col in cols:
            return col, None
    raise TestbedFormatError(f"{source}: no text column found among {sorted(cols)}; expected one of "
                             f"{list(TEXT_COLUMNS)} or a pair like sentence1/sentence2")


def records_from_hf(splits: Mapping[str, Sequence[Mapping[str, Any]]], source: str,
                    *, limit: int | None = None) -> list[dict[str, object]]:
    """Checked records from a dataset's splits (split name -> rows as dicts)."""
    if "train" not in splits:
        raise TestbedFormatError(f"{source}: no 'train' split (found {sorted(splits)})")
    test_name = next((n for n in ("test", "validation", "validation_matched", "dev") if n in splits
                      and any(r.get("label") in (0, 1, True, False) for r in splits[n])), None)
    if test_name is None:
        raise TestbedFormatError(f"{source}: no test or validation split with labels (found {sorted(splits)})")
    rows0 = splits["train"]
    if not rows0 or "label" not in rows0[0]:
        raise TestbedFormatError(f"{source}: the train split has no 'label' column")
    left, right = _hf_text_columns(rows0[0].keys(), source)
    checker, records = _Checker(), []
    train_cut = TRAIN_LABEL_FRACTION / (TRAIN_LABEL_FRACTION + TRAIN_UNLABEL_FRACTION)
    for name in ("train", test_name):
        for i, row in enumerate(splits[name][:limit] if limit else splits[name]):
            item = {"label": row.get("label"), **({"left": row.get(left), "right": row.get(right)} if right
                                                   else {"text": row.get(left)})}
            split = "test"
            if name == "train":
                h = int.from_bytes(hashlib.sha256(f"{source}/{i}".encode()).digest()[:8], "big") / 2.0**64
                split = "train_label" if h < train_cut else "train_unlabel"
            records.append(checker.record(item, f"{source} [{name} row {i}]", split, f"{name}-{i}"))
    return records


def load_hf_splits(dataset: str, config: str | None) -> dict[str, list[dict[str, Any]]]:
    """All splits of a Hugging Face dataset as lists of row dicts (needs `datasets`)."""
    try:
        import datasets  # type: ignore[import-not-found]  # optional: only for hf: testbeds
    except ImportError as exc:
        raise ExperimentError(f"hf:{dataset} needs the Hugging Face `datasets` package: pip install datasets") from exc
    try:
        loaded = datasets.load_dataset(dataset, config)
    except Exception as exc:  # noqa: BLE001  (offline, unknown name, bad config: all user-facing)
        raise ExperimentError(f"cannot load Hugging Face dataset {dataset!r}: {exc}") from exc
    return {name: [dict(r) for r in split] for name, split in loaded.items()}


def load_user_testbed(name: str, *, limit: int | None = None) -> Testbed:
    """Load `jsonl:/path/to/dir` or `hf:owner/name[:config]` as a testbed."""
    if limit is not None and limit < 1:
        raise TestbedFormatError(f"limit must be a positive number of items, got {limit}")
    kind, _, target = name.partition(":")
    if not target:
        raise TestbedFormatError(f"{name!r}: give a path after 'jsonl:' or a dataset after 'hf:'")
    if kind == "jsonl":
        directory = Path(target).expanduser()
        records = read_jsonl_dir(directory, limit=limit)
        check_sizes(records, str(directory))
        return testbed_from_records(user_spec(name, path=directory, settings=_settings(directory)), records)
    dataset, _, config = target.partition(":")
    records = records_from_hf(load_hf_splits(dataset, config or None), name, limit=limit)
    check_sizes(records, name)
    return testbed_from_records(user_spec(name, path=Path(dataset)), records)
