"""Probing checks: an agent's own submissions compared with each other.

Split from ``experiments.tripwires`` (which keeps the per-submission checks and the
thresholds in ``TripwireConfig``): near-duplicates (the single-flip attack), edited
copies of an earlier submission, and public-over-private divergence between them
(``split_divergence``). Per-agent history is capped; see ``TripwireConfig``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from experiments.tripwires import Flag, TripwireConfig


@dataclass(frozen=True)
class ProbeCheck:
    """How a submission relates to the same agent's earlier ones (see `ProbeTracker`).

    `flag` is the near-duplicate (`probing`) flag and `refuse` its refusal; `flags`
    holds every flag the history checks raised (`probing`, `edited_copy`,
    `split_divergence`). `pair_z` and `drift_z` are the split-divergence statistics
    (None when not computed: no labels, or too few changed items), `edited_of` how
    many earlier submissions this one is an edited copy of.
    """

    near_duplicates: int
    min_distance: int | None
    threshold_items: int
    flag: Flag | None
    refuse: bool
    flags: tuple[Flag, ...] = ()
    pair_z: float | None = None
    drift_z: float | None = None
    edited_of: int = 0

    @property
    def divergence_z(self) -> float | None:
        """The larger of `pair_z` and `drift_z` (None when neither was computed)."""
        known = [z for z in (self.pair_z, self.drift_z) if z is not None]
        return max(known) if known else None


@dataclass
class _Entry:
    number: int  # 1-based position in the agent's (or the campaign's) submissions
    bits: np.ndarray  # packed hard predictions
    probs: np.ndarray | None  # float16 probabilities (for edited_copy)
    score: float | None  # A = sum_j correct_j (public_j - pi), for split_divergence
    agent: str = ""  # whose it is (the campaign's history holds every agent's)


@dataclass
class _History:
    entries: deque[_Entry]
    total: int = 0
    edited: int = 0
    first_sum: np.ndarray | None = None  # correctness summed over the first window
    first_count: int = 0
    first_agents: list[str] = field(default_factory=list)  # whose submissions the first window holds


@dataclass(frozen=True)
class _Divergence:
    pair_z: float | None
    drift_z: float | None
    reason: str


class ProbeTracker:
    """Per-agent history of submissions, to spot probing of the scorer.

    With only a config it checks for near-duplicates (`probing`) and, given
    probabilities, edited copies. Given the test labels (True where the label is 1)
    and the public mask it also runs the split-divergence test. The history keeps the
    last `config.history_cap` submissions of each agent.
    """

    def __init__(self, config: TripwireConfig, *, labels: np.ndarray | None = None,
                 public: np.ndarray | None = None) -> None:
        if (labels is None) != (public is None):
            raise ValueError("labels and public go together")
        if config.history_cap < 2 * config.divergence_window:
            raise ValueError("history_cap must hold two divergence windows")
        self._config = config
        self._histories: dict[str, _History] = {}
        self._campaign = _History(deque(maxlen=config.history_cap))
        self._lock = threading.Lock()
        self._truth: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._pi = 0.0
        if labels is not None and public is not None:
            truth, pub = np.asarray(labels, dtype=bool), np.asarray(public, dtype=bool)
            if truth.shape != pub.shape:
                raise ValueError("labels and public differ in length")
            pi = float(pub.mean()) if len(pub) else 0.0
            if 0.0 < pi < 1.0:  # without both parts there is no split to diverge on
                self._truth, self._pi = truth, pi
                self._weights = pub.astype(np.float64) - pi

    def submissions(self, agent: str) -> int:
        """How many submissions of `agent` are on record (all of them, not just the kept history)."""
        with self._lock:
            hist = self._histories.get(agent)
            return hist.total if hist else 0

    def check(self, agent: str, hard: np.ndarray, probs: np.ndarray | None = None) -> ProbeCheck:
        """Compare a submission with the agent's earlier ones (does not record it)."""
        with self._lock:
            return self._analyse(self._histories.get(agent), np.asarray(hard, dtype=bool), probs)

    def record(self, agent: str, hard: np.ndarray, probs: np.ndarray | None = None) -> None:
        """Add a submission to the agent's history."""
        self.observe(agent, hard, probs)

    def observe(self, agent: str, hard: np.ndarray, probs: np.ndarray | None = None) -> ProbeCheck:
        """Check a submission and record it, in one step (what the scorer uses).

        The split-divergence tests also run over the whole campaign's history (every
        agent's submissions in order): probing split across agents, each sending a few,
        moves the campaign's public score as one prober would. Such a flag names the
        agents whose submissions it rests on.
        """
        hard = np.asarray(hard, dtype=bool)
        with self._lock:
            check = self._analyse(self._histories.get(agent), hard, probs)
            across, edited_of = self._across(agent, hard, probs)
            self._append(agent, hard, probs, check)
            self._append_to(self._campaign, agent, hard, probs)
            if edited_of:
                self._campaign.edited += 1
            own = {f.code for f in check.flags}
            extra = tuple(flag for flag in across if flag.code not in own)
            return replace(check, flags=(*check.flags, *extra)) if extra else check

    def _correct(self, hard: np.ndarray) -> np.ndarray:
        assert self._truth is not None
        return np.asarray(hard == self._truth)

    def _append(self, agent: str, hard: np.ndarray, probs: np.ndarray | None, check: ProbeCheck) -> None:
        hist = self._histories.get(agent)
        if hist is None:
            hist = self._histories[agent] = _History(deque(maxlen=self._config.history_cap))
        self._append_to(hist, agent, hard, probs)
        if check.edited_of:
            hist.edited += 1

    def _append_to(self, hist: _History, agent: str, hard: np.ndarray, probs: np.ndarray | None) -> None:
        score = None
        if self._weights is not None:
            correct = self._correct(hard)
            score = float(correct @ self._weights)
            if hist.first_count < self._config.divergence_window:
                hist.first_sum = correct.astype(np.float64) + (0.0 if hist.first_sum is None else hist.first_sum)
                hist.first_count += 1
                hist.first_agents.append(agent)
        stored = None if probs is None else np.asarray(probs, dtype=np.float16)
        hist.total += 1
        hist.entries.append(_Entry(hist.total, np.packbits(hard), stored, score, agent))

    def _across(self, agent: str, hard: np.ndarray, probs: np.ndarray | None) -> tuple[list[Flag], int]:
        """The edited-copy and split-divergence checks over the campaign's history (flags that
        name the agents), and how many earlier submissions this one is an edited copy of."""
        hist = self._campaign
        if not hist.entries or len({e.agent for e in hist.entries} | {agent}) < 2:
            return [], 0  # one agent's history: its own check says it all
        entries = list(hist.entries)
        differ = np.unpackbits(np.stack([e.bits for e in entries]) ^ np.packbits(hard), axis=1,
                               count=len(hard)).astype(bool)
        distances = differ.sum(axis=1)
        flags: list[Flag] = []
        edited_of = 0
        # Edited copies of *other* agents' submissions: an agent's edits of its own are its
        # own check's business (a couple of them is research).
        others = [i for i, e in enumerate(entries) if e.agent != agent]
        if probs is not None and others:
            edited_of, edit_flag = self._edits(hist, [entries[i] for i in others], differ[others], distances[others],
                                               np.asarray(probs), campaign=agent)
            if edit_flag is not None:
                flags.append(edit_flag)
        if self._weights is not None:
            divergence = self._divergence(hist, entries, differ, distances, hard, campaign=agent)
            if divergence.reason:
                flags.append(Flag("split_divergence", divergence.reason))
        return flags, edited_of

    def _analyse(self, hist: _History | None, hard: np.ndarray, probs: np.ndarray | None) -> ProbeCheck:
        cfg = self._config
        n = len(hard)
        threshold = max(cfg.near_min_items, int(math.floor(cfg.near_share * n)))
        if hist is None or not hist.entries:
            return ProbeCheck(0, None, threshold, None, False)
        entries = list(hist.entries)
        packed = np.packbits(hard)
        # Which items differ from each earlier submission: one XOR per packed row.
        differ = np.unpackbits(np.stack([e.bits for e in entries]) ^ packed, axis=1, count=n).astype(bool)
        distances = differ.sum(axis=1)
        near = int(np.sum(distances <= threshold))
        flags: list[Flag] = []
        flag = None
        refuse = near >= cfg.probe_refuse_after
        if near >= cfg.probe_flag_after:
            action = "refused" if refuse else "flagged"
            flag = Flag("probing", f"differs in at most {threshold} of {n} items from {near} earlier "
                                   f"submission(s) of this agent (closest: {int(distances.min())} items); "
                                   f"{action} as probing (flag from {cfg.probe_flag_after}, "
                                   f"refuse from {cfg.probe_refuse_after})")
            flags.append(flag)
        edited_of = 0
        if probs is not None:
            edited_of, edit_flag = self._edits(hist, entries, differ, distances, np.asarray(probs), campaign=None)
            if edit_flag is not None:
                flags.append(edit_flag)
        divergence = None
        if self._weights is not None:
            divergence = self._divergence(hist, entries, differ, distances, hard, campaign=None)
            if divergence.reason:
                flags.append(Flag("split_divergence", divergence.reason))
        return ProbeCheck(near, int(distances.min()), threshold, flag, refuse, tuple(flags),
                          None if divergence is None else divergence.pair_z,
                          None if divergence is None else divergence.drift_z, edited_of)

    def _edits(self, hist: _History, entries: list[_Entry], differ: np.ndarray, distances: np.ndarray,
               probs: np.ndarray, *, campaign: str | None) -> tuple[int, Flag | None]:
        """How many earlier submissions this one is an edited copy of, and the flag if due
        (``campaign``: as ``_divergence``'s)."""
        cfg = self._config
        # An edited copy is close to its source: compare with the closest few only.
        closest = np.argsort(distances, kind="stable")[: cfg.edit_candidates]
        rows = [int(i) for i in closest if entries[i].probs is not None and distances[i] > 0]
        if not rows:
            return 0, None
        earlier = np.stack([p for i in rows if (p := entries[i].probs) is not None]).astype(np.float32)
        mine = np.asarray(probs, dtype=np.float16).astype(np.float32)  # rounded like the stored ones
        move = np.abs(earlier - mine)
        near_boundary = (np.abs(earlier - 0.5) < cfg.edit_band) | (np.abs(mine - 0.5) < cfg.edit_band)
        masked = np.where(near_boundary, move, np.nan)
        masked[~near_boundary.any(axis=1)] = 0.0
        scale = np.nanmedian(masked, axis=1)
        crossed = differ[rows]
        n = crossed.shape[1]
        limit = np.maximum(cfg.edit_scale_ratio * scale, cfg.edit_min_move)
        bulk_limit = np.maximum(cfg.edit_bulk_ratio * scale, cfg.edit_min_move)
        counts = (crossed & (move > limit[:, None])).sum(axis=1)
        bulk = (crossed & (move > bulk_limit[:, None])).sum(axis=1)
        edited = (counts >= cfg.edit_min_items) | (bulk >= cfg.edit_bulk_items)
        edited_of = int(edited.sum())
        flag_after = cfg.edit_flag_after if campaign is None else cfg.edit_flag_after_campaign
        if not edited_of or hist.edited + 1 < flag_after:
            return edited_of, None
        # Name the closest of the edited ones (fewest items changed): the copy's likely source.
        best = int(np.argmin(np.where(edited, crossed.sum(axis=1), n + 1)))
        entry = entries[rows[best]]
        strong = counts[best] >= cfg.edit_min_items
        far, times = (int(counts[best]), cfg.edit_scale_ratio) if strong else (int(bulk[best]), cfg.edit_bulk_ratio)
        source = (f"this agent's submission #{entry.number}" if campaign is None else
                  f"{entry.agent}'s submission (#{entry.number} of the campaign)")
        whose = "from this agent" if campaign is None else "across agents in this campaign"
        reason = (f"an edited copy of {source}: {far} of the "
                  f"{int(crossed[best].sum())} items that changed side moved by more than {times:g} times the "
                  f"median move of the items near 0.5 ({scale[best]:.4f}; an honest retrain's flips stay "
                  f"within ~7 times it); edited copy #{hist.edited + 1} {whose} (flag from "
                  f"{flag_after}; it edits {edited_of} earlier submission(s))")
        return edited_of, Flag("edited_copy", reason)

    def _divergence(self, hist: _History, entries: list[_Entry], differ: np.ndarray,
                    distances: np.ndarray, hard: np.ndarray, *, campaign: str | None) -> _Divergence:
        """The paired public-vs-private test against earlier submissions and the drift test.

        ``campaign``: None over one agent's history; else the submitting agent's name, over
        the campaign's history (the reasons then name the agents involved)."""
        cfg = self._config
        assert self._weights is not None
        sd = math.sqrt(self._pi * (1 - self._pi))
        correct = self._correct(hard)
        score = float(correct @ self._weights)
        pair_z: float | None = None
        drift_z: float | None = None
        reasons: list[str] = []
        # Pairs: z(t, s) = (A_t - A_s) / sqrt(|D| pi (1 - pi)) for every earlier s.
        scores = np.array([e.score for e in entries], dtype=np.float64)
        ok = distances >= cfg.divergence_min_items
        if ok.any():
            z = np.where(ok, (score - scores) / (sd * np.sqrt(np.maximum(distances, 1))), -np.inf)
            i = int(np.argmax(z))
            pair_z = float(z[i])
            if pair_z > cfg.divergence_pair_z:
                other = (f"this agent's submission #{entries[i].number}" if campaign is None else
                         f"{entries[i].agent}'s submission (#{entries[i].number} of the campaign)")
                reasons.append(
                    f"on the {int(distances[i])} items where it differs from {other}, it gains more on public "
                    f"items than on private ones: z = {pair_z:.1f} (threshold {cfg.divergence_pair_z:g})")
        # Drift: mean correctness of the last w submissions (this one included) against the
        # first w; averaging cancels noise that changes from one submission to the next.
        w = cfg.divergence_window
        number = hist.total + 1
        if hist.first_sum is not None and hist.first_count == w and number > w:
            size = min(w, number - w)  # never overlaps the first window
            tail = differ[len(entries) - (size - 1):] if size > 1 else differ[:0]
            recent = correct.astype(np.float64) + ((hard ^ tail) == self._truth).sum(axis=0)
            change = recent / size - hist.first_sum / w
            changed = float(np.sum(change ** 2))
            if changed >= cfg.divergence_min_items:
                drift_z = float(change @ self._weights) / (sd * math.sqrt(changed))
                if drift_z > cfg.divergence_drift_z:
                    whose = "its" if campaign is None else "the campaign's"
                    reasons.append(
                        f"averaged over {whose} last {size} submissions against {whose} first {w}, the "
                        f"predictions changed on about {changed:.0f} items and gained more on public items than "
                        f"on private ones: z = {drift_z:.1f} (threshold {cfg.divergence_drift_z:g})")
                    if campaign is not None:
                        recent = [e.agent for e in entries[len(entries) - (size - 1):]] + [campaign]
                        reasons[-1] += (f"; the last {size} came from {', '.join(sorted(set(recent)))}, the "
                                        f"first {w} from {', '.join(sorted(set(hist.first_agents)))}")
        reason = ""
        if reasons:
            reason = ("; ".join(reasons) + (". Across agents" if campaign is not None else "")
                      + ". The public/private split is a hidden hash that no method "
                      "sees, so without learning from public feedback z is about N(0, 1): this points to "
                      "probing the public score")
        return _Divergence(pair_z, drift_z, reason)


