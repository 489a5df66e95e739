"""The agent-facing task: files, secrecy of labels, and scoring a real submission."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from experiments import W2STask, get_method, prepare_task
from tests.experiments.conftest import SMALL_LIMIT


@pytest.fixture(scope="module")
def task(exp_cache: Path) -> W2STask:
    return prepare_task("stdlib-docstrings-hard", cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)


def test_agent_files_are_exactly_the_allowed_ones(task: W2STask, tmp_path: Path) -> None:
    paths = task.write_agent_files(tmp_path)
    expected = {"train_x.npy", "train_weak.npy", "test_x.npy", "test_ids.json", "TASK.md"}
    assert set(paths) == expected
    assert {p.name for p in tmp_path.iterdir()} == expected
    train_x, weak = np.load(paths["train_x.npy"]), np.load(paths["train_weak.npy"])
    test_x, ids = np.load(paths["test_x.npy"]), json.loads(paths["test_ids.json"].read_text())
    assert train_x.dtype == weak.dtype == test_x.dtype == np.float32
    assert train_x.shape[0] == weak.shape[0] and test_x.shape[0] == len(ids)
    assert train_x.shape[1] == test_x.shape[1] == 4 * 384  # [u, v, u*v, |u-v|] of MiniLM
    assert np.all((weak >= 0) & (weak <= 1))
    # Ids are position numbers: they reveal neither the label nor the public/private part.
    assert ids == [f"t{i:05d}" for i in range(len(ids))]


def test_no_agent_file_contains_the_labels(task: W2STask, tmp_path: Path) -> None:
    paths = task.write_agent_files(tmp_path)
    labels = task.scorer()._labels  # the test may peek; agents get only the files
    for name in ("train_x.npy", "train_weak.npy", "test_x.npy"):
        arr = np.load(paths[name])
        for column in (arr.reshape(len(arr), -1).T if arr.ndim > 1 else [arr]):
            if len(column) == len(labels):
                assert not np.array_equal(np.round(column), labels)
                assert not np.array_equal(np.round(column), 1 - labels)
    text = paths["TASK.md"].read_text()
    assert "".join(map(str, labels)) not in text
    assert ".jsonl" not in text and "site-packages" not in text and str(Path.home()) not in text
    assert "stdlib" not in text  # naming the text source would point at rebuildable labels


def test_task_md_documents_the_contract(task: W2STask) -> None:
    text = task.task_markdown()
    for needle in ("train_x.npy", "train_weak.npy", "test_x.npy", "test_ids.json",
                   "predictions.json", '"probs"', "PGR", "all-MiniLM-L6-v2"):
        assert needle in text
    assert re.search(rf"\({len(task.train_x)}, 1536\)", text)
    assert "its features are [u, v, u * v, |u - v|]" in text  # the student's pair form, as the spec says


def test_baselines_and_a_real_submission(task: W2STask) -> None:
    b = task.baselines
    for acc in (b.public_acc_weak, b.public_acc_ceiling, b.private_acc_weak, b.private_acc_ceiling):
        assert 0.0 <= acc <= 1.0
    probs = get_method("cross_entropy").fit_predict(task.train_x, task.train_weak, task.test_x, seed=0)
    result = task.scorer().score(list(task.test_ids), probs.tolist())
    assert result.valid, result.error
    assert result.public_acc is not None and 0.0 <= result.public_acc <= 1.0
    assert "PGR" in result.feedback or "too small" in result.feedback
    # Flipping every prediction must move accuracy to exactly its complement on each part.
    flipped = task.scorer().score(list(task.test_ids), (1 - probs).tolist())
    assert flipped.public_acc == pytest.approx(1 - result.public_acc)


def test_prepare_task_is_reproducible(task: W2STask, exp_cache: Path) -> None:
    again = prepare_task("stdlib-docstrings-hard", cache_dir=exp_cache, limit=SMALL_LIMIT, baseline_seeds=2)
    assert again.test_ids == task.test_ids
    np.testing.assert_array_equal(again.test_x, task.test_x)
    np.testing.assert_array_equal(again.train_weak, task.train_weak)
    assert again.baselines == task.baselines
