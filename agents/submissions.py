"""The submission desk: the only path from an agent's predictions to the scorer.

It numbers and records every submission as an event, enforces its budgets (the
campaign's total per agent, the scorer's rate per agent per hour and over all agents
per hour; a malformed submission costs none), and decides what the agent is told: the scorer's coarse feedback only.
Private-split figures and tripwire flags go to the event log, which the human sees,
and never back into the agent's context.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.budgets import BudgetKeeper
from agents.bus import EventBus
from agents.events import SubmissionScored
from agents.predictions import decode_predictions, encode_predictions
from agents.reproduction import Reproducer, ReproductionRequest
from experiments import Scorer
from experiments.quota import SubmissionQuota


CAMPAIGN = ""  # the campaign-wide quota's one key (agent ids are never empty)


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
        budgets: BudgetKeeper,
        per_hour: int,
        campaign_per_hour: int | None = None,
        reproducer: Reproducer | None = None,
        require_command: bool = False,
    ) -> None:
        self._scorer = scorer
        self._reproducer = reproducer
        self._require_command = require_command
        self._bus = bus
        self._budgets = budgets
        self._rate = SubmissionQuota(per_hour, window_s=3600.0, clock=time.time)  # wall clock: rebuilt from event times
        # Every agent's submissions together: coarse feedback is the campaign's, not an agent's.
        self._campaign_rate = (None if campaign_per_hour is None else
                               SubmissionQuota(campaign_per_hour, window_s=3600.0, clock=time.time))
        self._next_id = 1
        self._public: list[tuple[str, int, str, float]] = []  # what agents may see of each score

    def replay(self, event: SubmissionScored) -> None:
        """Take back one stored submission (crash resume): ids, budgets, the hour's quota, the
        public board, the scorer's history and the reproducer's notion of each agent's best."""
        agent_id = event.agent_id or ""
        self._next_id = max(self._next_id, event.submission_id + 1)
        if event.valid or event.refused:
            self._budgets.charge_submission(agent_id)
            self._rate.charge_at(agent_id, event.ts)
            if self._campaign_rate is not None:
                self._campaign_rate.charge_at(CAMPAIGN, event.ts)
        if event.valid and event.public_pgr is not None:
            self._public.append((agent_id, event.submission_id, event.method[:80], self._coarse(event.public_pgr)))
        if event.predictions:
            self._scorer.replay(agent_id, decode_predictions(event.predictions))

    def _coarse(self, value: float) -> float:
        step = self._scorer.feedback_step
        return round(round(value / step) * step, 2)

    def public_leaderboard(self, limit: int = 30) -> str:
        """The board as agents see it: coarse public PGR only, best first (never private
        figures or tripwire flags)."""
        if not self._public:
            return "no scored submissions yet"
        ranked = sorted(self._public, key=lambda row: (-row[3], row[1]))[:limit]
        lines = [f"public leaderboard (PGR rounded to {self._scorer.feedback_step:g}; best first):"]
        lines += [f"{rank:>3}. {agent:<10} #{sid:<4} {pgr:5.2f}  {method}" for rank, (agent, sid, method, pgr)
                  in enumerate(ranked, start=1)]
        return "\n".join(lines)

    def remaining(self, agent_id: str) -> int | None:
        """Scored submissions `agent_id` has left in the campaign (None: no limit)."""
        left = self._budgets.remaining(agent_id, "submissions")
        return None if left is None else int(left)

    async def submit(
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
            limit = self._budgets.limit(agent_id, "submissions")
            return SubmissionOutcome(False, f"submission budget used up ({limit:g} for you in this campaign)")
        rate = self._rate.check(agent_id)
        if not rate.allowed:
            return SubmissionOutcome(False, rate.message)
        if self._campaign_rate is not None:
            shared = self._campaign_rate.check(CAMPAIGN)
            if not shared.allowed:
                return SubmissionOutcome(False, f"the campaign's {shared.message.replace('submission quota', 'submission quota across all agents')}")
        submission_id, self._next_id = self._next_id, self._next_id + 1
        # The scorer validates types and shapes and keeps per-agent history for tripwires. It
        # runs off the event loop: its audits take tens to hundreds of ms, and the engine must
        # keep applying commands and streaming other agents meanwhile.
        result = await asyncio.to_thread(self._scorer.score, ids, probs, agent=agent_id)  # type: ignore[arg-type]
        stored = ""
        if result.valid or result.refused:
            stored = encode_predictions(await asyncio.to_thread(self._scorer.ordered, ids, probs))  # type: ignore[arg-type]
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
                public_pgr_interval=result.public_pgr_interval,
                private_pgr_interval=result.private_pgr_interval,
                flags=[flag.to_dict() for flag in result.flags],
                feedback=result.feedback,
                command=command[:2000],
                predictions=stored,
            )
        )
        if result.valid and result.public_pgr is not None:
            self._public.append((agent_id, submission_id, method[:80], self._coarse(result.public_pgr)))
        if result.counts_against_quota:
            self._budgets.charge_submission(agent_id)
            self._rate.charge(agent_id)
            if self._campaign_rate is not None:
                self._campaign_rate.charge(CAMPAIGN)
        if result.valid and self._reproducer is not None and workdir is not None:
            self._reproducer.consider(
                ReproductionRequest(agent_id, submission_id, command, result.public_pgr, workdir,
                                    self._scorer.ordered(ids, probs))  # type: ignore[arg-type]
            )
        if not result.valid:
            cost = "counted against your quota" if result.counts_against_quota else "no quota used"
            return SubmissionOutcome(False, f"submission rejected ({cost}): {result.error}")
        left = self.remaining(agent_id)
        return SubmissionOutcome(True, result.feedback + ("" if left is None else f"\n{left} submission(s) left."))
