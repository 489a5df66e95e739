"""Testbed loading, registry errors and the fixed splits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from experiments import (
    DEFAULT_TESTBED,
    TESTBEDS,
    ExperimentError,
    TestbedFormatError,
    TestbedSpec,
    UnknownTestbedError,
    load_testbed,
    register_testbed,
)
from experiments.testbeds import LEGACY_NAMES


@pytest.fixture
def custom_testbed(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "tiny.jsonl"
    rows = [{"id": f"x{i}", "left": f"l{i}", "right": f"r{i}", "label": i % 2} for i in range(50)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    register_testbed(TestbedSpec(name="tiny-test", path=path, description="tiny", weak_layer=0))
    yield "tiny-test"
    TESTBEDS.pop("tiny-test", None)


def test_full_testbed_is_deterministic_and_sized() -> None:
    a, b = load_testbed("stdlib-docstrings-hard"), load_testbed("stdlib-docstrings-hard")
    assert a.ids == b.ids and a.dataset_hash == b.dataset_hash
    assert 5000 <= len(a) <= 7000
    assert set(np.unique(a.labels)) == {0, 1}
    assert 0.45 < a.labels.mean() < 0.55
    assert len(set(a.ids)) == len(a)


def test_splits_are_disjoint_complete_and_grouped() -> None:
    tb = load_testbed("stdlib-docstrings-hard")
    s = tb.splits
    parts = [set(s.train_label), set(s.train_unlabel), set(s.test)]
    assert sum(map(len, parts)) == len(tb) == len(set().union(*parts))
    assert set(s.test) == set(s.test_public) | set(s.test_private)
    assert not set(s.test_public) & set(s.test_private)
    for part, expected in ((s.train_label, 0.3), (s.train_unlabel, 0.4), (s.test, 0.3)):
        assert abs(len(part) / len(tb) - expected) < 0.04
    assert abs(len(s.test_public) / len(s.test) - 0.5) < 0.06
    # Both pairs of one function share a split: no signature straddles train and test.
    split_of = {}
    for name in ("train_label", "train_unlabel", "test_public", "test_private"):
        for i in getattr(s, name):
            assert split_of.setdefault(tb.groups[i], name) == name


def test_limit_takes_a_prefix_with_consistent_splits() -> None:
    full, small = load_testbed("stdlib-docstrings-hard"), load_testbed("stdlib-docstrings-hard", limit=100)
    assert small.ids == full.ids[:100]
    assert small.dataset_hash != full.dataset_hash
    # An item's split depends on its group only, never on which other items are loaded.
    assert set(small.splits.test) == {i for i in full.splits.test if i < 100}


def test_unknown_testbed_lists_known_names() -> None:
    with pytest.raises(UnknownTestbedError) as info:
        load_testbed("nope")
    assert "nope" in str(info.value) and "stdlib-docstrings-hard" in str(info.value)
    assert isinstance(info.value, ExperimentError)


def test_custom_jsonl_testbed(custom_testbed: str) -> None:
    tb = load_testbed(custom_testbed)
    assert len(tb) == 50 and tb.left[3] == "l3" and tb.labels[3] == 1
    assert tb.groups == tb.ids  # no "group" key: each item is its own group


def test_duplicate_registration_refused(custom_testbed: str) -> None:
    with pytest.raises(ExperimentError, match="already registered"):
        register_testbed(TESTBEDS[custom_testbed])


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "a", "left": "x", "label": 1}', "missing key"),
        ('{"id": "a", "left": "x", "right": "y", "label": 2}', "label must be 0 or 1"),
        ("not json", "not JSON"),
    ],
)
def test_malformed_file_names_the_problem(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "ok", "left": "x", "right": "y", "label": 0}\n' + line + "\n")
    register_testbed(TestbedSpec(name="bad-test", path=path, description="", weak_layer=0), replace=True)
    try:
        with pytest.raises(TestbedFormatError, match=message):
            load_testbed("bad-test")
    finally:
        TESTBEDS.pop("bad-test", None)


def test_bad_limit() -> None:
    with pytest.raises(ExperimentError, match="limit"):
        load_testbed("stdlib-docstrings-hard", limit=0)


def test_legacy_names_load_the_easy_testbeds_under_the_logged_name() -> None:
    """A campaign logged before the "-hard" testbeds names "stdlib-docstrings": it must
    load the very items and models it ran on, and keep its name in what it prints."""
    for legacy, easy in LEGACY_NAMES.items():
        old, now = load_testbed(legacy, limit=50), load_testbed(easy, limit=50)
        assert old.spec.name == legacy and old.spec == replace(now.spec, name=legacy)
        assert old.ids == now.ids and old.dataset_hash == now.dataset_hash
        assert legacy not in TESTBEDS  # not listed, not suggested
    assert DEFAULT_TESTBED == "stdlib-docstrings-hard" and DEFAULT_TESTBED in TESTBEDS


def test_hard_testbeds_are_their_easy_items_with_repaired_negatives() -> None:
    for name in ("stdlib-docstrings", "manpages", "debian-descriptions"):
        easy, hard = load_testbed(f"{name}-easy"), load_testbed(f"{name}-hard")
        assert easy.ids == hard.ids and list(easy.labels) == list(hard.labels) and easy.left == hard.left
        changed = [i for i in range(len(easy)) if easy.right[i] != hard.right[i]]
        assert 0 < len(changed) < 120 and all(easy.labels[i] == 0 for i in changed)
        assert sorted(easy.right) == sorted(hard.right)  # the same texts, re-dealt among negatives
        assert hard.spec.strong_pairs == "full" and easy.spec.strong_pairs == "similarity"


def test_a_bad_pair_form_is_refused() -> None:
    with pytest.raises(ExperimentError, match="unknown pair form 'outer'"):
        TestbedSpec(name="x", path=Path("x"), description="", weak_layer=0, strong_pairs="outer")  # type: ignore[arg-type]
