"""The scorer: the only holder of test labels.

It checks a submission exactly (every test id once, probabilities in [0, 1]) and
scores it against the hidden labels on a public part, whose PGR the agent sees
rounded to FEEDBACK_STEP, and a private part shown only to the human. Feedback never
carries counts, label or prediction distributions, or per-item information.

Given the weak teacher's test predictions and the ceiling's per-seed correctness,
it also reports "gap too small" from the gap's bootstrap interval, a private PGR
interval for the human, and runs the tripwires (`experiments.tripwires`) on every
submission; with an agent name it keeps that agent's history to catch probing (near-
duplicates, edited copies, public-over-private divergence between its own submissions)
and refuses submissions past the near-duplicate threshold. Rate limits live in
`experiments.quota`, which the agents layer applies around `score`.
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.bootstrap import MIN_GAP, RunEvidence, gap_and_pgr
from experiments.protocol import accuracy, pgr
from experiments.probing import ProbeTracker
from experiments.tripwires import Flag, TripwireConfig, leak_flags, prediction_flags

# Coarse on purpose: at an 8-point gap and ~900 public items one step is ~0.8
# accuracy points (~7 items), so most single flips leave the feedback unchanged;
# the public PGR's own sampling noise is about +-0.15, so a finer step would report
# noise as progress anyway.
FEEDBACK_STEP = 0.1
_EXAMPLES = 3  # ids named in an error message


@dataclass(frozen=True)
class TaskBaselines:
    """Weak and ceiling accuracies on each test part (the PGR reference points)."""

    public_acc_weak: float
    public_acc_ceiling: float
    private_acc_weak: float
    private_acc_ceiling: float

    def to_dict(self) -> dict[str, float]:
        """Plain dict for storage."""
        return asdict(self)


@dataclass(frozen=True)
class ScoreResult:
    """Outcome of scoring one submission.

    Invalid submissions have `valid=False` and an `error` saying exactly what is wrong;
    the numbers are then None. A refused submission (probing) is also `valid=False`,
    with `refused=True`. A PGR is None when that part's gap is too small (the lower
    95% bound of its gap below MIN_GAP, or the point gap when no interval is known).
    `feedback` is the only field meant for the agent; `flags` (tripwires that fired,
    with reasons), the private figures and the intervals are for the human.
    """

    valid: bool
    error: str | None = None
    public_pgr: float | None = None
    private_pgr: float | None = None
    public_acc: float | None = None
    private_acc: float | None = None
    feedback: str = ""
    flags: tuple[Flag, ...] = ()
    refused: bool = False
    private_pgr_interval: tuple[float, float] | None = None
    public_pgr_interval: tuple[float, float] | None = None

    @property
    def counts_against_quota(self) -> bool:
        """Scored and refused submissions use quota; malformed ones do not."""
        return self.valid or self.refused

    @property
    def flag_codes(self) -> tuple[str, ...]:
        """The codes of the flags, e.g. ("majority_class", "trivial")."""
        return tuple(f.code for f in self.flags)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for storage (flags as a list of {code, reason})."""
        out = asdict(self)
        out["flags"] = [f.to_dict() for f in self.flags]
        out["private_pgr_interval"] = list(self.private_pgr_interval) if self.private_pgr_interval else None
        out["public_pgr_interval"] = list(self.public_pgr_interval) if self.public_pgr_interval else None
        return out


def _examples(items: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in items[:_EXAMPLES])
    return shown + (", ..." if len(items) > _EXAMPLES else "")


class Scorer:
    """Scores predictions for a fixed list of opaque test ids.

    `weak_probs` (the weak teacher's P(label = 1) for each id) enables the
    copied-teacher tripwire and, with `ceiling_correct` ((seeds, n) booleans of the
    ceiling per id), the gap intervals behind "gap too small" and the private PGR
    interval. Both are optional so a scorer can be built from accuracies alone.
    """

    def __init__(
        self,
        ids: Sequence[str],
        labels: np.ndarray,
        public: np.ndarray,
        baselines: TaskBaselines,
        *,
        weak_probs: np.ndarray | None = None,
        ceiling_correct: np.ndarray | None = None,
        tripwires: TripwireConfig | None = None,
        feedback_step: float = FEEDBACK_STEP,
    ) -> None:
        if not len(ids) == len(labels) == len(public):
            raise ValueError("ids, labels and public mask differ in length")
        self._ids = tuple(ids)
        self._position = {item: i for i, item in enumerate(self._ids)}
        if len(self._position) != len(self._ids):
            raise ValueError("test ids are not unique")
        self._labels = np.asarray(labels, dtype=np.int64).copy()
        self._public = np.asarray(public, dtype=bool).copy()
        self.baselines = baselines
        self.tripwires = tripwires or TripwireConfig()
        self.feedback_step = feedback_step
        self._weak_hard = None if weak_probs is None else np.asarray(weak_probs, dtype=np.float64) > 0.5
        if self._weak_hard is not None and len(self._weak_hard) != len(self._ids):
            raise ValueError("weak_probs and ids differ in length")
        self._ceiling_correct = None if ceiling_correct is None else np.atleast_2d(np.asarray(ceiling_correct, bool))
        if self._ceiling_correct is not None and self._ceiling_correct.shape[1] != len(self._ids):
            raise ValueError("ceiling_correct and ids differ in length")
        self._probes = ProbeTracker(self.tripwires, labels=self._labels == 1, public=self._public)
        self._gap_ok = {part: self._gap_clear(part) for part in ("public", "private")}

    @property
    def ids(self) -> tuple[str, ...]:
        """The test ids a submission must cover, in the order the agent got them."""
        return self._ids

    def fresh(self) -> "Scorer":
        """This scorer with no submission on record: another campaign on the same task
        (the probing history spans every agent of one campaign)."""
        other = copy.copy(self)
        other._probes = ProbeTracker(self.tripwires, labels=self._labels == 1, public=self._public)
        return other

    def submissions(self, agent: str) -> int:
        """How many submissions of `agent` this scorer has on record (scored or refused)."""
        return self._probes.submissions(agent)

    def _weak_correct(self, mask: np.ndarray) -> np.ndarray | None:
        if self._weak_hard is None:
            return None
        return self._weak_hard[mask] == (self._labels[mask] == 1)

    def _mask(self, part: str) -> np.ndarray:
        return self._public if part == "public" else ~self._public

    def _gap_clear(self, part: str) -> bool:
        """Whether a part's gap is clearly above MIN_GAP (interval if known, else the point)."""
        b = self.baselines
        mask = self._mask(part)
        weak, ceiling = (b.public_acc_weak, b.public_acc_ceiling) if part == "public" else (
            b.private_acc_weak, b.private_acc_ceiling)
        if ceiling - weak < MIN_GAP:
            return False
        weak_correct = self._weak_correct(mask)
        if weak_correct is None or self._ceiling_correct is None or not mask.any():
            return True
        return not gap_and_pgr(weak_correct, self._ceiling_correct[:, mask], None).gap_too_small

    def validate(self, ids: Sequence[Any], probs: Sequence[Any]) -> str | None:
        """None if the submission is well formed, else a message naming the problem."""
        if len(ids) != len(probs):
            return f"ids and probs differ in length: {len(ids)} ids, {len(probs)} probs"
        not_str = [i for i, item in enumerate(ids) if not isinstance(item, str)]
        if not_str:
            return f"ids must be strings; ids[{not_str[0]}] is {ids[not_str[0]]!r}"
        dupes = sorted(item for item, n in Counter(ids).items() if n > 1)
        if dupes:
            return f"{len(dupes)} id(s) appear more than once: {_examples(dupes)}"
        unknown = [item for item in ids if item not in self._position]
        if unknown:
            return f"{len(unknown)} unknown id(s), not in test_ids.json: {_examples(unknown)}"
        given = set(ids)
        missing = [item for item in self._ids if item not in given]
        if missing:
            return f"{len(missing)} of {len(self._ids)} test ids missing: {_examples(missing)}"
        for i, p in enumerate(probs):
            if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
                return f"probs[{i}] (id {ids[i]!r}) is not a number: {p!r}"
            if not math.isfinite(float(p)):
                return f"probs[{i}] (id {ids[i]!r}) is not finite: {p!r}"
            if not 0.0 <= float(p) <= 1.0:
                return f"probs[{i}] (id {ids[i]!r}) = {float(p)!r} is outside [0, 1]"
        return None

    def score(self, ids: Sequence[str], probs: Sequence[float], *, agent: str | None = None) -> ScoreResult:
        """Validate, audit and score a submission: P(label = 1) for every test id.

        With `agent`, the submission joins that agent's history; a probing submission
        past the refusal threshold is refused (`refused=True`, no scores computed).
        """
        error = self.validate(ids, probs)
        if error is not None:
            return self._invalid(error)
        ordered = np.empty(len(self._ids), dtype=np.float64)
        ordered[[self._position[item] for item in ids]] = [float(p) for p in probs]
        hard = ordered > 0.5
        flags: list[Flag] = []
        if agent is not None:
            probe = self._probes.observe(agent, hard, ordered)
            flags.extend(probe.flags)
            if probe.refuse:
                message = ("refused: too many of your submissions differ from each other in only a few "
                           "items; submit predictions from a substantively different method")
                return ScoreResult(valid=False, error=message, feedback=f"submission {message}",
                                   flags=tuple(flags), refused=True)
        b = self.baselines
        pub, priv = self._public, ~self._public
        public_acc = accuracy(ordered[pub], self._labels[pub])
        private_acc = accuracy(ordered[priv], self._labels[priv])
        public_pgr = self._part_pgr(public_acc, b.public_acc_weak, b.public_acc_ceiling, self._gap_ok["public"])
        private_pgr = self._part_pgr(private_acc, b.private_acc_weak, b.private_acc_ceiling, self._gap_ok["private"])
        flags += prediction_flags(hard, self._labels == 1, weak_hard=self._weak_hard, config=self.tripwires)
        flags += leak_flags(public_acc=public_acc, private_acc=private_acc, n_public=int(pub.sum()),
                            n_private=int(priv.sum()), public_ceiling=b.public_acc_ceiling,
                            private_ceiling=b.private_acc_ceiling, config=self.tripwires)
        if public_pgr is None:
            feedback = "valid submission; the public gap is too small to report a PGR"
        else:
            rounded = self._round(public_pgr)
            feedback = f"valid submission: public PGR about {rounded:.2f} (rounded to {self.feedback_step:g})"
        return ScoreResult(True, None, public_pgr, private_pgr, public_acc, private_acc, feedback,
                           flags=tuple(flags), private_pgr_interval=self._interval(hard, ~self._public, private_pgr),
                           public_pgr_interval=self._interval(hard, self._public, public_pgr))

    def _interval(self, hard: np.ndarray, part: np.ndarray, pgr: float | None) -> tuple[float, float] | None:
        """Bootstrap interval of a part's PGR over its items and the baselines' seeds (for the human)."""
        weak = self._weak_correct(part)
        if pgr is None or weak is None or self._ceiling_correct is None or not part.any():
            return None
        mine = hard[part] == (self._labels[part] == 1)
        return gap_and_pgr(weak, self._ceiling_correct[:, part], mine, samples=500).pgr_interval

    def _round(self, value: float) -> float:
        step = self.feedback_step
        return round(round(value / step) * step, 2)

    def ordered(self, ids: Sequence[str], probs: Sequence[float]) -> np.ndarray:
        """``probs`` in this scorer's id order (for a submission ``validate`` accepted)."""
        out = np.empty(len(self._ids), dtype=np.float64)
        out[[self._position[item] for item in ids]] = [float(p) for p in probs]
        return out

    def evidence(self, ordered_probs: np.ndarray) -> RunEvidence:
        """Per-item correctness of a run (probabilities in this scorer's id order) on the
        whole test split, with the teacher's and the ceiling's: what a reproduction verdict
        is computed from (`experiments.reproduction.judge_reproduction`). The harness's
        only: it holds labels. Needs the scorer built with `weak_probs` and `ceiling_correct`."""
        probs = np.asarray(ordered_probs, dtype=np.float64)
        if probs.shape != (len(self._ids),):
            raise ValueError(f"a run has {probs.shape[0]} predictions; this task has {len(self._ids)}")
        if self._weak_hard is None or self._ceiling_correct is None:
            raise ValueError("this scorer has no teacher and ceiling predictions to compare runs against")
        truth = self._labels == 1
        return RunEvidence(correct=(probs > 0.5) == truth, weak_correct=self._weak_hard == truth,
                           ceiling_correct=self._ceiling_correct.copy())

    def replay(self, agent: str, ordered_probs: np.ndarray) -> None:
        """Take a stored submission of ``agent`` back into its probing history (engine resume)."""
        probs = np.asarray(ordered_probs, dtype=np.float64)
        if probs.shape != (len(self._ids),):
            raise ValueError(f"a stored submission has {probs.shape[0]} predictions; this task has {len(self._ids)}")
        self._probes.record(agent, probs > 0.5, probs)

    def score_file(self, path: Path | str, *, agent: str | None = None) -> ScoreResult:
        """Score a predictions.json file: {"ids": [...], "probs": [...]} (see `score`)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            return self._invalid(f"cannot read {Path(path).name}: {exc}")
        except json.JSONDecodeError as exc:
            return self._invalid(f"{Path(path).name} is not valid JSON: {exc.msg} at line {exc.lineno}")
        shaped = isinstance(data, dict) and all(isinstance(data.get(k), list) for k in ("ids", "probs"))
        if not shaped:
            return self._invalid('predictions must be a JSON object {"ids": [...], "probs": [...]}')
        return self.score(data["ids"], data["probs"], agent=agent)

    @staticmethod
    def _invalid(error: str) -> ScoreResult:
        return ScoreResult(valid=False, error=error, feedback=f"invalid submission: {error}")

    @staticmethod
    def _part_pgr(acc: float, acc_weak: float, acc_ceiling: float, clear: bool) -> float | None:
        return pgr(acc, acc_weak, acc_ceiling) if clear and acc_ceiling - acc_weak > 0 else None
