"""Harder negatives for pair-matching testbeds, chosen by the strong encoder.

On the shipped pair testbeds the strong model's knowledge is one number: a threshold
on the pooled cosine of the two texts gets 0.717 on stdlib-docstrings where a trained
head on all of [u*v, |u-v|] gets 0.725, so the label is the strong features' top
direction and PGR measures how salient it is, not what the teacher taught (the
principal probe recovers 0.78 of the gap with no labels). Negatives that are as
similar to their anchor as its own positive (`matched_negatives`, the dial `delta`)
take that one number away.

Two rules keep such a testbed honest, and `check_negatives` enforces both:
- every right text is used once as a positive and at most once as a negative, so no
  text alone tells the label. Drawing each anchor's nearest right text without this
  rule reuses "hub" texts (one stdlib docstring became the negative of 117 anchors)
  and the right text alone then predicts the label at 0.71;
- no negative is a near-duplicate of its anchor's own positive (on man pages the
  nearest "negative" was often a sibling page with the same text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

NEAR_DUPLICATE_JACCARD = 0.6  # word-set overlap at or above which two texts count as the same


def words(text: str) -> frozenset[str]:
    """Lower-cased word tokens of `text`."""
    return frozenset(re.findall(r"\w+", text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Word-set overlap in [0, 1] (1 for two empty texts)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def is_near_duplicate(a: str, b: str, threshold: float = NEAR_DUPLICATE_JACCARD) -> bool:
    """Whether two texts share at least `threshold` of their words."""
    return jaccard(words(a), words(b)) >= threshold


def matched_negatives(
    similarity: np.ndarray,
    rights: Sequence[str],
    *,
    delta: float,
    seed: int,
) -> list[int]:
    """For each anchor i, the index j != i of another item whose right text becomes i's
    negative, each j used once (a derangement).

    `similarity[i, j]` is the strong encoder's cosine of left text i and right text j,
    so the diagonal is each positive's. The negative aims at `similarity[i, i] - delta`:
    0 makes negatives as similar as positives (the pooled cosine then says nothing), a
    larger `delta` makes them easier. Anchors are served in a seeded random order, each
    taking the unused donor closest to its aim that is not a near-duplicate of its own
    right text.
    """
    n = similarity.shape[0]
    if similarity.shape != (n, n) or len(rights) != n or n < 3:
        raise ValueError("similarity must be square over the items (at least 3), one right text each")
    rng = np.random.default_rng(seed)
    bags = [words(t) for t in rights]
    used = np.zeros(n, dtype=bool)
    out = [-1] * n
    for i in rng.permutation(n):
        distance = np.abs(similarity[i] - (similarity[i, i] - delta))
        distance[i] = np.inf
        chosen = next((int(j) for j in np.argsort(distance, kind="stable")
                       if j != i and not used[j] and jaccard(bags[i], bags[j]) < NEAR_DUPLICATE_JACCARD), -1)
        if chosen < 0:
            raise ValueError(f"no donor left for anchor {i}: too many near-duplicate texts")
        used[chosen] = True
        out[int(i)] = chosen
    return out


def check_negatives(rights: Sequence[str], donors: Sequence[int]) -> list[str]:
    """What is wrong with a choice of donors (empty: nothing): a right text used as more
    than one negative, an anchor that is its own donor, a negative that near-duplicates
    its anchor's positive."""
    problems = []
    counts = np.bincount(np.asarray(donors), minlength=len(rights))
    if counts.max(initial=0) > 1:
        problems.append(f"{int((counts > 1).sum())} right texts are the negative of more than one anchor "
                        f"(up to {int(counts.max())}): the text alone would tell the label")
    selfish = [i for i, j in enumerate(donors) if i == j]
    if selfish:
        problems.append(f"{len(selfish)} anchors are their own donor")
    dupes = [i for i, j in enumerate(donors) if is_near_duplicate(rights[i], rights[j])]
    if dupes:
        problems.append(f"{len(dupes)} negatives near-duplicate their anchor's positive (e.g. item {dupes[0]})")
    return problems
