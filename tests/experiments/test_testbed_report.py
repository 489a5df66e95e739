"""`prepare_features`, `testbed_report` and `list_testbeds`: what `aar w2s testbeds/prepare` show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import testbed_report as report_module
from experiments.features import EncoderLayer
from experiments.testbed_report import (
    format_testbed_table,
    gap_intervals,
    list_testbeds,
    prepare_features,
)
from experiments.testbed_report import testbed_report as report  # a name pytest does not collect
from experiments.testbeds import TESTBEDS, load_testbed
from experiments.tfidf import TfidfSpec
from tests.experiments.test_user_testbeds import write_dir

TRANSFER = ("manpages-hard", "debian-descriptions-hard")


@pytest.fixture
def tfidf_testbed(tmp_path: Path) -> str:
    """A user testbed whose weak and strong models are both TF-IDF: no encoder needed."""
    d = write_dir(tmp_path / "tb")
    (d / "testbed.json").write_text(json.dumps({"weak": {"kind": "tfidf", "dim": 4},
                                                "strong": {"kind": "tfidf", "dim": 16}}))
    return f"jsonl:{d}"


def test_registry_has_the_main_and_two_transfer_testbeds_each_easy_and_hard() -> None:
    rows = {r["name"]: r for r in list_testbeds()}
    easy = ("stdlib-docstrings-easy", "manpages-easy", "debian-descriptions-easy")
    assert {"stdlib-docstrings-hard", *TRANSFER, *easy} <= set(rows)
    assert not set(rows) & {"stdlib-docstrings", "manpages", "debian-descriptions"}  # legacy names unlisted
    assert all(isinstance(TESTBEDS[name].weak, TfidfSpec) for name in ("stdlib-docstrings-hard", *TRANSFER))
    assert isinstance(TESTBEDS["debian-descriptions-easy"].weak, EncoderLayer)
    assert rows["stdlib-docstrings-hard"]["strong_features"] == "[u, v, u * v, |u - v|]"
    assert {rows[name]["strong_features"] for name in easy} == {"[u * v, |u - v|]"}
    for name in TRANSFER:
        row = rows[name]
        assert row["paired"] and row["weak_note"] and 5000 <= row["items"] <= 7000
        assert sum(row["sizes"].values()) == row["items"] and min(row["sizes"].values()) > 700
    json.dumps(list(rows.values()))  # what `--json` prints


def test_transfer_testbeds_keep_groups_within_one_split() -> None:
    for name in TRANSFER:
        tb = load_testbed(name)
        s = tb.splits
        split_of: dict[str, str] = {}
        for part in ("train_label", "train_unlabel", "test_public", "test_private"):
            for i in getattr(s, part):
                assert split_of.setdefault(tb.groups[i], part) == part


def test_prepare_features_reuses_the_cache(tfidf_testbed: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cold = prepare_features(tfidf_testbed, cache_dir=tmp_path / "c")
    assert cold["cache_hit"] is False and cold["texts"] == 150 and cold["items"] == 110
    monkeypatch.setattr("experiments.tfidf.tfidf_embed", lambda *a: pytest.fail("recomputed"))
    warm = prepare_features(tfidf_testbed, cache_dir=tmp_path / "c")
    assert warm["cache_hit"] is True and warm["weak_model"] == "TF-IDF+SVD-4"


def test_prepare_features_with_an_encoder_and_tfidf(exp_cache: Path) -> None:
    # manpages pairs a TF-IDF teacher with a MiniLM student: both kinds of cache in one call.
    seen: list[tuple[int, int]] = []
    out = prepare_features("manpages-hard", cache_dir=exp_cache, limit=60, on_progress=lambda d, t: seen.append((d, t)))
    assert out["items"] == 60 and out["weak_model"] == "TF-IDF+SVD-64" and out["strong_model"] == "all-MiniLM-L6-v2"
    assert seen[-1] == (2 * out["texts"], 2 * out["texts"])  # two passes: TF-IDF, then the encoder
    assert prepare_features("manpages-hard", cache_dir=exp_cache, limit=60)["cache_hit"] is True


def test_report_numbers_and_its_cache(tfidf_testbed: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first = report(tfidf_testbed, seeds=3, cache_dir=tmp_path)
    assert first["cached"] is False and first["seeds"] == 3
    assert first["sizes"]["train_label"] == 30 and first["sizes"]["train_unlabel"] == 40
    assert first["sizes"]["test_public"] + first["sizes"]["test_private"] == 40
    assert first["gap"] == pytest.approx(first["acc_ceiling"] - first["acc_weak"])
    lo, hi = first["gap_interval"]
    assert lo <= first["gap"] <= hi and first["gap_excludes_zero"] == (lo > 0)
    assert len(first["per_seed"]) == 3
    monkeypatch.setattr(report_module, "_compute_report", lambda *a: pytest.fail("recomputed"))
    again = report(tfidf_testbed, seeds=3, cache_dir=tmp_path)
    assert again["cached"] is True
    assert {k: again[k] for k in ("acc_weak", "gap_interval")} == {k: first[k] for k in ("acc_weak", "gap_interval")}
    with pytest.raises(pytest.fail.Exception):
        report(tfidf_testbed, seeds=4, cache_dir=tmp_path)  # other seeds: another key
    table = format_testbed_table([first])
    assert tfidf_testbed in table and "TF-IDF+SVD-4" in table


def test_report_carries_the_controls(tfidf_testbed: str, tmp_path: Path) -> None:
    """The principal probe and cross-entropy on shuffled weak labels, run through `run_w2s`
    with the report's seeds, in the JSON (`--json`) and the table's last column."""
    from experiments import run_w2s

    first = report(tfidf_testbed, seeds=3, cache_dir=tmp_path)
    controls = first["controls"]
    assert set(controls) == {"principal_probe", "shuffled_cross_entropy"}
    assert controls["principal_probe"]["method"] == "principal_probe"
    assert controls["shuffled_cross_entropy"] == {**controls["shuffled_cross_entropy"],
                                                  "method": "cross_entropy", "weak_labels": "shuffled"}
    direct = run_w2s(tfidf_testbed, "cross_entropy", seeds=3, cache_dir=tmp_path, weak_labels="shuffled")
    assert controls["shuffled_cross_entropy"]["acc"] == pytest.approx(direct.acc_w2s)
    assert controls["shuffled_cross_entropy"]["pgr"] == direct.pgr
    json.dumps(first)
    table = format_testbed_table([first])
    assert "controls: probe / shuffled" in table.splitlines()[0] and "naive" in table.splitlines()[0]
    assert first["naive"]["method"] == "cross_entropy" and first["naive"]["weak_labels"] == "teacher"
    assert first["naive"]["pgr"] == run_w2s(tfidf_testbed, "cross_entropy", seeds=3, cache_dir=tmp_path).pgr
    shown = table.splitlines()[2].split()[-3:]
    assert shown[1] == "/" and all(v == "-" or float(v) == float(v) for v in (shown[0], shown[2]))


def test_gap_intervals_cover_items_and_seeds() -> None:
    rng = np.random.default_rng(0)
    weak = rng.random((5, 800)) < 0.80
    ceiling = rng.random((5, 800)) < 0.88
    boot, seed_t = gap_intervals(weak, ceiling)
    assert boot[0] < 0.08 < boot[1] and boot[0] > 0.03
    # Seeds alone vary little when the items are fixed; the bootstrap is the honest, wider one.
    same_items = np.repeat(weak[:1], 5, axis=0), np.repeat(ceiling[:1], 5, axis=0)
    boot2, seed2 = gap_intervals(*same_items)
    assert seed2[1] - seed2[0] < 1e-9 < boot2[1] - boot2[0]


def test_report_refuses_one_seed(tfidf_testbed: str, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="at least 2 seeds"):
        report(tfidf_testbed, seeds=1, cache_dir=tmp_path)
