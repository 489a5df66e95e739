"""Negatives for pair-matching testbeds: honest ones, and ones the strong encoder finds hard.

Two rules keep a pair testbed honest, and `check_negatives` enforces both:
- every right text is used once as a positive and at most once as a negative, so no
  text alone tells the label. Drawing each anchor's nearest right text without this
  rule reuses "hub" texts (one stdlib docstring became the negative of 117 anchors)
  and the right text alone then predicts the label at 0.71;
- no negative is a near-duplicate of its anchor's own positive: such an item's label
  is wrong in all but name. The shipped "-easy" files have 58 (stdlib), 19 (man pages)
  and 28 (Debian) of them, sibling pages or methods with the same text;
  `repair_near_duplicates` swaps their donors, which keeps the first rule.

`matched_negatives` is the dial that was measured and not shipped: negatives as
similar to their anchor as its own positive take the pooled cosine away, but with it
nearly all the strong model's knowledge (on stdlib-docstrings the ceiling fell from
0.73 to 0.55-0.62, see `benchmarks/bench_testbed_salience.py`). The "-hard" testbeds
change the student's pair features instead (`experiments.pair_features`).
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


def repair_near_duplicates(
    own: Sequence[str],
    donated: Sequence[str],
    categories: Sequence[str],
    *,
    seed: int,
) -> tuple[list[int], int]:
    """Swap negatives between anchors until none near-duplicates its anchor's positive.

    Anchor i has its own right text `own[i]` and the negative text `donated[i]`.
    Returns `order`, a permutation with `donated[order[i]]` the new negative of anchor i
    (a swap keeps every negative text used once), and the number of swaps. Each bad
    anchor takes a donor from its own category when one fits, else from any: the swap
    must leave neither anchor with a near-duplicate (or its own text) as negative.
    """
    n = len(own)
    if not (len(donated) == len(categories) == n):
        raise ValueError("own, donated and categories must have one entry per anchor")
    bags = [words(t) for t in own]
    gift = [words(t) for t in donated]
    order = list(range(n))

    def bad(anchor: int, text: int) -> bool:
        return donated[text] == own[anchor] or jaccard(bags[anchor], gift[text]) >= NEAR_DUPLICATE_JACCARD

    rng = np.random.default_rng(seed)
    by_category: dict[str, list[int]] = {}
    for i, c in enumerate(categories):
        by_category.setdefault(c, []).append(i)
    swaps = 0
    for i in range(n):
        if not bad(i, order[i]):
            continue
        same = [j for j in by_category[categories[i]] if j != i]
        others = [j for j in range(n) if categories[j] != categories[i]]
        pool = [int(j) for j in rng.permutation(same)] + [int(j) for j in rng.permutation(others)]
        j = next((j for j in pool if not bad(i, order[j]) and not bad(j, order[i])), None)
        if j is None:
            raise ValueError(f"no swap frees anchor {i} of its near-duplicate negative")
        order[i], order[j] = order[j], order[i]
        swaps += 1
    return order, swaps
