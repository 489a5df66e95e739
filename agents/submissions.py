"""The submission desk: the only path from an agent's predictions to the scorer.

It numbers and records every submission as an event, enforces two budgets (the
campaign's total per agent and the scorer's rate per hour; a malformed submission
costs neither), and decides what the agent is told: the scorer's coarse feedback only.
Private-split figures and tripwire flags go to the event log, which the human sees,
and never back into the agent's context.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.bus import EventBus
from agents.events import SubmissionScored
from agents.reproduction import Reproducer, ReproductionRequest
from experiments import Scorer
from experiments.quota import SubmissionQuota


@dataclass(frozen=True)
class SubmissionOutcome:
    accepted: bool
    message: str


class SubmissionDesk:
    def __init__(
        self,
        scorer: Scorer,
        bus: EventBus,
        *,
        total_per_agent: int,
        per_hour: int,
        reproducer: Reproducer | None = None,
        require_command: bool = False,
    ) -> None:
        self._scorer = scorer
        self._reproducer = reproducer
        self._require_command = require_command
        self._bus = bus
        self._total = total_per_agent
        self._rate = SubmissionQuota(per_hour, window_s=3600.0)
        self._used: Counter[str] = Counter()
        self._next_id = 1

    def remaining(self, agent_id: str) -> int:
        """Scored submissions `agent_id` has left in the campaign."""
        return max(0, self._total - self._used[agent_id])

    def submit(
        self,
        agent_id: str,
        ids: Sequence[object],
        probs: Sequence[object],
        *,
        method: str,
        command: str = "",
        workdir: Path | None = None,
    ) -> SubmissionOutcome:
        command = command.strip()
        if self._require_command and not command:
            return SubmissionOutcome(
                False,
                "submission rejected (no quota used): this campaign requires the shell command that "
                "produced the predictions (give `command`); the harness re-runs it to check the result",
            )
        if self.remaining(agent_id) == 0:
            return SubmissionOutcome(False, f"submission budget used up ({self._total} per agent)")
        rate = self._rate.check(agent_id)
        if not rate.allowed:
            return SubmissionOutcome(False, rate.message)
        submission_id, self._next_id = self._next_id, self._next_id + 1
        # The scorer validates types and shapes; it keeps per-agent history for tripwires.
        result = self._scorer.score(ids, probs, agent=agent_id)  # type: ignore[arg-type]
        self._bus.publish(
            SubmissionScored(
                agent_id=agent_id,
                submission_id=submission_id,
                method=method[:200],
                valid=result.valid,
                refused=result.refused,
                error=result.error,
                public_pgr=result.public_pgr,
                private_pgr=result.private_pgr,
                public_acc=result.public_acc,
                private_acc=result.private_acc,
                flags=[flag.to_dict() for flag in result.flags],
                feedback=result.feedback,
                command=command[:2000],
            )
        )
        if result.counts_against_quota:
            self._used[agent_id] += 1
            self._rate.charge(agent_id)
        if result.valid and self._reproducer is not None and workdir is not None:
            self._reproducer.consider(
                ReproductionRequest(agent_id, submission_id, command, result.public_pgr, workdir)
            )
        if not result.valid:
            cost = "counted against your quota" if result.counts_against_quota else "no quota used"
            return SubmissionOutcome(False, f"submission rejected ({cost}): {result.error}")
        return SubmissionOutcome(True, f"{result.feedback}\n{self.remaining(agent_id)} submission(s) left.")
