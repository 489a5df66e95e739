"""The scorer: the only holder of test labels.

It checks a submission exactly (every test id once, probabilities in [0, 1]) and
scores it against the hidden labels on a public part, whose PGR the agent sees
rounded to 0.05, and a private part shown only to the human. Feedback never carries
counts or per-item information, so repeated submissions can't recover labels cheaply.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.protocol import MIN_GAP, accuracy, pgr

FEEDBACK_STEP = 0.05
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
    the numbers are then None. A PGR is None when that part's gap is below MIN_GAP.
    `feedback` is the only field meant for the agent.
    """

    valid: bool
    error: str | None = None
    public_pgr: float | None = None
    private_pgr: float | None = None
    public_acc: float | None = None
    private_acc: float | None = None
    feedback: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for storage."""
        return asdict(self)


def _examples(items: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in items[:_EXAMPLES])
    return shown + (", ..." if len(items) > _EXAMPLES else "")


def _round_to_step(value: float) -> float:
    return round(round(value / FEEDBACK_STEP) * FEEDBACK_STEP, 2)


class Scorer:
    """Scores predictions for a fixed list of opaque test ids."""

    def __init__(
        self, ids: Sequence[str], labels: np.ndarray, public: np.ndarray, baselines: TaskBaselines
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

    @property
    def ids(self) -> tuple[str, ...]:
        """The test ids a submission must cover, in the order the agent got them."""
        return self._ids

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

    def score(self, ids: Sequence[str], probs: Sequence[float]) -> ScoreResult:
        """Validate and score a submission: P(label = 1) for every test id."""
        error = self.validate(ids, probs)
        if error is not None:
            return self._invalid(error)
        ordered = np.empty(len(self._ids), dtype=np.float64)
        ordered[[self._position[item] for item in ids]] = [float(p) for p in probs]
        b = self.baselines
        pub, priv = self._public, ~self._public
        public_acc = accuracy(ordered[pub], self._labels[pub])
        private_acc = accuracy(ordered[priv], self._labels[priv])
        public_pgr = self._part_pgr(public_acc, b.public_acc_weak, b.public_acc_ceiling)
        private_pgr = self._part_pgr(private_acc, b.private_acc_weak, b.private_acc_ceiling)
        if public_pgr is None:
            feedback = "valid submission; the public gap is too small to report a PGR"
        else:
            rounded = _round_to_step(public_pgr)
            feedback = f"valid submission: public PGR about {rounded:.2f} (rounded to {FEEDBACK_STEP})"
        return ScoreResult(True, None, public_pgr, private_pgr, public_acc, private_acc, feedback)

    def score_file(self, path: Path | str) -> ScoreResult:
        """Score a predictions.json file: {"ids": [...], "probs": [...]}."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            return self._invalid(f"cannot read {Path(path).name}: {exc}")
        except json.JSONDecodeError as exc:
            return self._invalid(f"{Path(path).name} is not valid JSON: {exc.msg} at line {exc.lineno}")
        shaped = isinstance(data, dict) and all(isinstance(data.get(k), list) for k in ("ids", "probs"))
        if not shaped:
            return self._invalid('predictions must be a JSON object {"ids": [...], "probs": [...]}')
        return self.score(data["ids"], data["probs"])

    @staticmethod
    def _invalid(error: str) -> ScoreResult:
        return ScoreResult(valid=False, error=error, feedback=f"invalid submission: {error}")

    @staticmethod
    def _part_pgr(acc: float, acc_weak: float, acc_ceiling: float) -> float | None:
        return pgr(acc, acc_weak, acc_ceiling) if acc_ceiling - acc_weak >= MIN_GAP else None
