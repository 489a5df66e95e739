"""User testbeds: the JSONL directory layout, its errors, and Hugging Face names (no network)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import ExperimentError, TestbedFormatError, load_testbed
from experiments.features import EncoderLayer
from experiments.testbeds.registry import resolve_spec
from experiments.testbeds.user import records_from_hf
from experiments.tfidf import TfidfSpec

SIZES = {"train_label": 30, "train_unlabel": 40, "test": 40}


def write_dir(root: Path, *, pairs: bool = True, sizes: dict[str, int] = SIZES,
              label=lambda i: i % 2, ids: bool = True) -> Path:  # type: ignore[no-untyped-def]
    root.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        rows = []
        for i in range(n):
            row: dict[str, object] = {"label": label(i)}
            if ids:
                row["id"] = f"{split}{i}"
            row.update({"left": f"{split} left {i}", "right": f"right {i}"} if pairs else {"text": f"{split} {i}"})
            rows.append(json.dumps(row))
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    return root


def test_pair_directory_loads_with_its_own_splits(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "tb")
    tb = load_testbed(f"jsonl:{d}")
    s = tb.splits
    assert (len(s.train_label), len(s.train_unlabel), len(s.test)) == (30, 40, 40)
    assert len(s.test_public) + len(s.test_private) == 40 and len(s.test_public) > 5
    assert tb.right is not None and tb.left[s.train_label[0]].startswith("train_label")
    assert isinstance(tb.spec.weak, TfidfSpec)  # the default weak model of user data
    assert tb.dataset_hash == load_testbed(f"jsonl:{d}").dataset_hash


def test_single_texts_string_labels_and_default_ids(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "tb", pairs=False, label=lambda i: ["no", "Yes"][i % 2], ids=False)
    tb = load_testbed(f"jsonl:{d}")
    assert tb.right is None and tb.ids[0] == "train_label-1"
    assert tb.labels.tolist()[:4] == [0, 1, 0, 1]
    assert len(tb.texts()) == 110


def test_limit_applies_to_each_file(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "tb", sizes={"train_label": 50, "train_unlabel": 50, "test": 50})
    s = load_testbed(f"jsonl:{d}", limit=25).splits
    assert (len(s.train_label), len(s.train_unlabel), len(s.test)) == (25, 25, 25)


def test_testbed_json_chooses_the_models(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "tb")
    (d / "testbed.json").write_text(json.dumps({
        "description": "mine", "weak": {"kind": "encoder", "model": "some/model", "layer": 2, "pooling": "cls"},
        "strong": {"kind": "tfidf", "dim": 32}}))
    spec = resolve_spec(f"jsonl:{d}")
    assert spec.description == "mine"
    assert isinstance(spec.weak, EncoderLayer) and spec.weak.layer == 2 and spec.weak.encoder.model == "some/model"
    assert spec.weak.encoder.pooling == "cls" and spec.strong == TfidfSpec(dim=32)
    (d / "testbed.json").write_text(json.dumps({"weak": {"kind": "encoder", "colour": "red"}}))
    with pytest.raises(TestbedFormatError, match="unknown encoder option"):
        resolve_spec(f"jsonl:{d}")


def _corrupt(d: Path, split: str, line: int, row: object) -> Path:
    path = d / f"{split}.jsonl"
    lines = path.read_text().splitlines()
    lines[line - 1] = row if isinstance(row, str) else json.dumps(row)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("row, message", [
    ({"id": "x", "left": "a", "right": "b"}, "missing key 'label'"),
    ({"id": "x", "left": "a", "label": 1}, "missing 'right'"),
    ({"id": "x", "label": 1}, "missing the text"),
    ({"id": "x", "left": "a", "right": "b", "label": "yes"}, "mixed label types"),
    ({"id": "x", "left": "a", "right": "b", "label": 2}, "must be binary"),
    ({"id": "x", "left": "a", "right": "b", "label": 0.5}, "must be binary"),
    ({"id": "x", "left": "a", "right": "", "label": 1}, "non-empty strings"),
    ({"id": "x", "text": "a", "label": 1}, "use one shape"),
    ({"id": "train_label0", "left": "a", "right": "b", "label": 1}, "duplicate id"),
    ("{not json", "not JSON"),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, row: object, message: str) -> None:
    d = write_dir(tmp_path / "tb")
    path = _corrupt(d, "train_unlabel", 7, row)
    with pytest.raises(TestbedFormatError, match=message) as info:
        load_testbed(f"jsonl:{d}")
    assert f"{path}:7" in str(info.value)


def test_unknown_string_labels_are_refused(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "tb", label=lambda i: ["cat", "dog"][i % 2])
    with pytest.raises(TestbedFormatError, match="not binary.*no/yes"):
        load_testbed(f"jsonl:{d}")


@pytest.mark.parametrize("sizes, message", [
    ({"train_label": 5, "train_unlabel": 40, "test": 40}, "too small for the splits: train_label has 5"),
    ({"train_label": 30, "train_unlabel": 40, "test": 3}, "too small for the splits: test has 3"),
])
def test_too_small_for_the_splits(tmp_path: Path, sizes: dict[str, int], message: str) -> None:
    d = write_dir(tmp_path / "tb", sizes=sizes)
    with pytest.raises(TestbedFormatError, match=message):
        load_testbed(f"jsonl:{d}")


def test_one_class_training_split_is_refused(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "tb", label=lambda i: 1)
    with pytest.raises(TestbedFormatError, match="only label 1"):
        load_testbed(f"jsonl:{d}")


def test_missing_file_or_directory(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "tb")
    (d / "test.jsonl").unlink()
    with pytest.raises(TestbedFormatError, match="missing test.jsonl"):
        load_testbed(f"jsonl:{d}")
    with pytest.raises(TestbedFormatError, match="not a directory"):
        load_testbed(f"jsonl:{tmp_path / 'nowhere'}")


def test_hf_without_datasets_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(ExperimentError, match="pip install datasets"):
        load_testbed("hf:owner/name")


def test_hf_rows_map_to_splits() -> None:
    train = [{"sentence1": f"a {i}", "sentence2": f"b {i}", "label": i % 2, "idx": i} for i in range(140)]
    hidden_test = [{"sentence1": "x", "sentence2": "y", "label": -1}] * 10
    validation = [{"sentence1": f"c {i}", "sentence2": f"d {i}", "label": i % 2} for i in range(40)]
    records = records_from_hf({"train": train, "test": hidden_test, "validation": validation}, "hf:o/n")
    splits = [r["split"] for r in records]
    assert splits.count("test") == 40  # validation stands in for the unlabelled test split
    assert 40 < splits.count("train_label") < 80 and splits.count("train_label") + splits.count("train_unlabel") == 140
    assert records[0]["left"] == "a 0" and records[0]["right"] == "b 0"
    with pytest.raises(TestbedFormatError, match="no text column"):
        records_from_hf({"train": [{"foo": "a", "label": 0}], "test": [{"foo": "b", "label": 1}]}, "hf:o/n")
    labels = np.array([r["label"] for r in records])
    assert set(labels.tolist()) == {0, 1}
