"""The submission desk: the only path from an agent's predictions to the scorer.

It numbers and records every submission as an event, enforces the per-agent quota
(a malformed submission costs none), and decides what the agent is told: the
scorer's coarse feedback only. Private-split figures go to the event log, which the
human sees, and never back into the agent's context.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from agents.bus import EventBus
from agents.events import SubmissionScored
from experiments import Scorer


@dataclass(frozen=True)
class SubmissionOutcome:
    accepted: bool
    message: str


class SubmissionDesk:
    def __init__(self, scorer: Scorer, bus: EventBus, *, quota_per_agent: int) -> None:
        self._scorer = scorer
        self._bus = bus
        self._quota = quota_per_agent
        self._used: Counter[str] = Counter()
        self._next_id = 1

    def remaining(self, agent_id: str) -> int:
        return max(0, self._quota - self._used[agent_id])

    def submit(
        self, agent_id: str, ids: Sequence[object], probs: Sequence[object], *, method: str
    ) -> SubmissionOutcome:
        if self.remaining(agent_id) == 0:
            return SubmissionOutcome(False, f"submission quota used up ({self._quota} per agent)")
        submission_id, self._next_id = self._next_id, self._next_id + 1
        result = self._scorer.score(ids, probs)  # type: ignore[arg-type]  # the scorer validates types
        self._bus.publish(
            SubmissionScored(
                agent_id=agent_id,
                submission_id=submission_id,
                method=method[:200],
                valid=result.valid,
                error=result.error,
                public_pgr=result.public_pgr,
                private_pgr=result.private_pgr,
                public_acc=result.public_acc,
                private_acc=result.private_acc,
                feedback=result.feedback if result.valid else "",
            )
        )
        if not result.valid:
            return SubmissionOutcome(False, f"submission rejected (no quota used): {result.error}")
        self._used[agent_id] += 1
        left = self.remaining(agent_id)
        return SubmissionOutcome(True, f"{result.feedback}\n{left} submission(s) left.")
