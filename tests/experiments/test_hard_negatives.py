"""Negatives: used once, never a near-duplicate; repaired by swaps; as similar as the dial says."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.testbeds.hard_negatives import (
    check_negatives,
    is_near_duplicate,
    matched_negatives,
    repair_near_duplicates,
)


def _items(n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    left = rng.normal(size=(n, 16))
    right = left + rng.normal(scale=2.0, size=(n, 16))  # each right text nearer its own left than most
    left /= np.linalg.norm(left, axis=1, keepdims=True)
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    vocab = [f"w{k}" for k in range(400)]
    texts = [" ".join(rng.choice(vocab, size=8, replace=False)) for _ in range(n)]
    return left @ right.T, texts


def test_each_right_text_is_one_negative_and_no_anchor_its_own() -> None:
    sim, texts = _items(300)
    donors = matched_negatives(sim, texts, delta=0.0, seed=1)
    assert sorted(donors) == list(range(300))  # a permutation: every right text once as a negative
    assert all(i != j for i, j in enumerate(donors))
    assert check_negatives(texts, donors) == []


def test_delta_is_the_dial_of_difficulty() -> None:
    sim, texts = _items(400)
    positive = np.diag(sim).mean()
    gaps = []
    for delta in (0.0, 0.15, 0.3):
        donors = matched_negatives(sim, texts, delta=delta, seed=0)
        gaps.append(positive - np.mean([sim[i, j] for i, j in enumerate(donors)]))
    assert gaps[0] < 0.03  # negatives as similar as positives
    assert gaps[0] < gaps[1] < gaps[2]
    assert gaps[2] == pytest.approx(0.3, abs=0.06)
    random_gap = positive - sim[~np.eye(400, dtype=bool)].mean()
    assert gaps[2] < random_gap  # still harder than drawing negatives at random


def test_near_duplicates_never_become_negatives() -> None:
    sim, texts = _items(60)
    texts[1] = texts[0] + " also"  # item 1's right text copies item 0's
    sim[0, 1] = sim[0, 0]  # and is exactly as close to left 0 as its own positive
    donors = matched_negatives(sim, texts, delta=0.0, seed=0)
    assert donors[0] != 1 and donors[1] != 0
    assert is_near_duplicate(texts[0], texts[1]) and not is_near_duplicate(texts[0], texts[2])
    assert check_negatives(texts, donors) == []


def test_check_names_each_problem() -> None:
    texts = ["alpha beta gamma", "alpha beta gamma delta", "one two three"]
    problems = check_negatives(texts, [1, 0, 0])
    assert any("more than one anchor" in p for p in problems)
    assert any("near-duplicate" in p for p in problems)
    assert check_negatives(texts, [2, 2, 2]) and "own donor" in " ".join(check_negatives(texts, [0, 2, 1]))
    with pytest.raises(ValueError, match="square"):
        matched_negatives(np.zeros((3, 4)), texts, delta=0.0, seed=0)


def test_repair_swaps_away_every_near_duplicate_and_keeps_each_text_once() -> None:
    own = [f"page {k} says alpha{k} beta{k} gamma{k}" for k in range(12)]
    donated = own[1:] + own[:1]  # a rotation: every text once, no anchor its own
    donated[3] = own[3] + " too"  # anchor 3's negative near-duplicates its positive
    donated[7] = own[7]  # and anchor 7's is its very own text
    categories = ["a"] * 6 + ["b"] * 6
    order, swaps = repair_near_duplicates(own, donated, categories, seed=0)
    assert sorted(order) == list(range(12)) and swaps == 2
    new = [donated[j] for j in order]
    assert not any(is_near_duplicate(new[i], own[i]) for i in range(12))
    moved = [i for i in range(12) if order[i] != i]
    assert len(moved) == 4 and {3, 7} <= set(moved)
    assert all(categories[i] == categories[order[i]] for i in moved)  # each found one in its category


def test_repair_says_when_nothing_fits() -> None:
    same = ["one two three four"] * 3
    with pytest.raises(ValueError, match="no swap frees anchor 0"):
        repair_near_duplicates(same, same, ["a"] * 3, seed=0)
    with pytest.raises(ValueError, match="one entry per anchor"):
        repair_near_duplicates(same, same[:2], ["a"] * 3, seed=0)
