"""Shared steps of the pair-matching testbed builders (man pages, Debian packages).

Idea (the same as `build_stdlib`): every sampled entry gives one positive pair (its
own left and right text) and one negative pair (its left text with the right text of
another entry of the same category), and every right text is used once in each role,
so neither side alone predicts the label; only the *pairing* does. The entry's key is
the group, so both pairs of an entry always share a split.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

NAME_MASK = "<name>"


@dataclass(frozen=True)
class Entry:
    """One thing described twice: `left` and `right` texts, `category` for hard negatives."""

    key: str
    category: str
    left: str
    right: str


def mask_names(text: str, names: Iterable[str], mask: str = NAME_MASK) -> str:
    """Replace whole-word mentions of each name (any case, longest first) by `mask`.

    A "word" boundary here also stops at '-', '.', '_' and '/', so that `ls` does not
    mask inside `also` but does inside `ls-like`, and `git` masks `git-log`'s prefix.
    """
    for name in sorted({n for n in names if len(n) >= 2}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w]){re.escape(name)}(?![\w])", mask, text, flags=re.IGNORECASE)
    return text


def clip_words(text: str, max_chars: int) -> str:
    """`text` on one line, cut at a word boundary to at most `max_chars` (+ ' ...')."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(" ", 1)[0] + " ..."


def drop_duplicates(entries: list[Entry]) -> list[Entry]:
    """Drop every entry whose left or right text (lower-cased) occurs more than once.

    Two entries with the same text make a pair with no single right answer, so all
    copies go, not all but one.
    """
    lefts: dict[str, int] = defaultdict(int)
    rights: dict[str, int] = defaultdict(int)
    for e in entries:
        lefts[e.left.lower()] += 1
        rights[e.right.lower()] += 1
    return [e for e in entries if lefts[e.left.lower()] == 1 and rights[e.right.lower()] == 1]


def _rotate(items: list[Entry]) -> list[tuple[Entry, Entry]]:
    n = len(items)
    return [(items[i], items[(i + 1) % n]) for i in range(n)] if n >= 2 else []


def negative_pairs(entries: list[Entry], rng: random.Random) -> list[tuple[Entry, Entry]]:
    """(anchor, donor) pairs, donor from the anchor's category (a derangement of rights).

    Categories with a single entry pool their entries, sorted by category, and rotate
    among themselves, so those negatives are from a neighbouring category.
    """
    by_category: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_category[e.category].append(e)
    pairs: list[tuple[Entry, Entry]] = []
    singles: list[Entry] = []
    for category in sorted(by_category):
        members = sorted(by_category[category], key=lambda e: e.key)
        if len(members) == 1:
            singles.extend(members)
            continue
        rng.shuffle(members)
        pairs.extend(_rotate(members))
    pairs.extend(_rotate(sorted(singles, key=lambda e: (e.category, e.key))))
    return pairs


def build_pair_records(entries: list[Entry], *, n_entries: int, seed: int) -> list[dict[str, object]]:
    """Sample up to `n_entries` entries; return shuffled positive and negative records.

    Records carry id, left, right, label, group and category. Ids are
    `<key>#0` / `<key>#1` with the suffix drawn at random, so an id never tells which
    of a group's two pairs is the positive one.
    """
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise ValueError("entry keys must be unique: they become the groups of the splits")
    rng = random.Random(seed)
    pool = sorted(entries, key=lambda e: e.key)
    chosen = sorted(rng.sample(pool, min(n_entries, len(pool))), key=lambda e: e.key)
    records: list[dict[str, object]] = [
        {"group": e.key, "category": e.category, "left": e.left, "right": e.right, "label": 1} for e in chosen
    ]
    for anchor, donor in negative_pairs(chosen, rng):
        records.append({"group": anchor.key, "category": anchor.category, "left": anchor.left,
                        "right": donor.right, "label": 0})
    rng.shuffle(records)
    suffixes: dict[str, list[int]] = {}
    for rec in records:
        group = str(rec["group"])
        if group not in suffixes:
            order = [0, 1]
            rng.shuffle(order)
            suffixes[group] = order
        rec["id"] = f"{group}#{suffixes[group].pop()}"
    return [{k: r[k] for k in ("id", "left", "right", "label", "group", "category")} for r in records]


def write_jsonl_gz(records: list[dict[str, object]], path: Path) -> None:
    """Write records byte-for-byte reproducibly (sorted keys, gzip without a timestamp)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for rec in records:
            gz.write((json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))


def summary(records: list[dict[str, object]], path: Path) -> str:
    """One line about a written file, for the builders' output."""
    positives = sum(int(r["label"] == 1) for r in records)
    categories = {r["category"] for r in records if "category" in r}
    kinds = f", {len(categories)} categories" if categories else ""
    return (f"wrote {len(records)} pairs ({positives} positive{kinds}) to {path} "
            f"({path.stat().st_size / 1e6:.2f} MB)")
