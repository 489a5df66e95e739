"""The campaign engine: prepares the task, runs N researchers in parallel, applies commands.

Views never hold it: they read events (from the bus in this process, or from the store
when attached) and send typed commands (``agents.commands``) through a control channel
(``agents.control``). Every command is a row of the store's commands table; the engine
applies each once, in row order, between the agents' steps, and answers it with a
``CommandApplied`` or ``CommandRefused`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from pathlib import Path

from agents.approvals import ApprovalRule, Approvals
from agents.commands import SetApprovalPolicy
from agents.backend import BackendError, create_backend
from agents.budgets import CAMPAIGN, BudgetKeeper
from agents.bus import EventBus
from agents.conversation import Message
from agents.events import (
    AgentFinished,
    AgentStatusChanged,
    CampaignFinished,
    CampaignResumed,
    CampaignStarted,
    CommandApplied,
    Event,
    ProgressReported,
    SubmissionScored,
    TaskPrepared,
)
from agents.forum import Forum, Notebooks
from agents.prompts import BRIEF, directions_for, system_prompt
from agents.reproduction import Reproducer
from agents.researcher import LoopLimits, Researcher
from agents.resume import (
    AgentRestore,
    CampaignRestore,
    approvals_state,
    budget_events,
    forum_and_notes,
    interrupted_result,
    plan_restore,
)
from agents.settings import AarSettings
from agents.store import EventStore
from agents.submissions import SubmissionDesk
from agents.supervision import CommandOutcome, CommandRefused, Supervision, _Agent
from agents.supervision import COMMAND_POLL_S as COMMAND_POLL_S
from agents.tools import ResearchServices, Toolbox
from experiments import W2STask, prepare_task
from sandboxes import create_sandbox

__all__ = ["Campaign", "CommandOutcome", "CommandRefused"]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0
REPRODUCTION_DRAIN_S = 120.0


def agent_workdir(run_dir: Path, agent_id: str) -> Path:
    """An agent's work dir, ``<run dir>/<agent>/work``: its sandbox's box lies beside it.

    A run dir from before that layout kept the agent's files in ``<run dir>/<agent>``
    itself, with copies of the inputs in ``data/``: they are moved into place, the copies
    aside to ``data.before-upgrade/`` so ``data`` can point at the inputs again (renames of
    whole entries: nothing inside is followed).
    """
    home = run_dir / agent_id
    work = home / "work"
    if home.is_dir() and not home.is_symlink() and not os.path.lexists(work) and any(home.iterdir()):
        moving = run_dir / f".{agent_id}.moving"
        os.rename(home, moving)
        home.mkdir()
        os.rename(moving, work)
        if (work / "data").is_dir() and not (work / "data").is_symlink():
            os.rename(work / "data", work / "data.before-upgrade")
    return work


class Campaign(Supervision):
    """One research campaign over one event store."""

    def __init__(self, settings: AarSettings, store: EventStore, *, campaign_id: str | None = None) -> None:
        self.settings = settings
        self.campaign_id = campaign_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self._store = store
        self.bus = EventBus(store)
        self.agent_ids = [f"agent-{i + 1}" for i in range(settings.agents)]
        self._agents = {agent_id: _Agent() for agent_id in self.agent_ids}
        self._started = time.monotonic()
        self._done = asyncio.Event()
        self._reproducer: Reproducer | None = None
        self.budgets = BudgetKeeper(
            agent_limits={
                "tokens": settings.agent_tokens, "dollars": settings.agent_dollars, "wall_s": settings.agent_wall_s,
                "turns": settings.max_turns, "submissions": settings.experiments_per_agent,
            },
            campaign_limits={"tokens": settings.campaign_tokens, "dollars": settings.campaign_dollars},
        )
        self.forum = Forum(self.bus, self.run_dir / "shared")
        self.notebooks = Notebooks(self.bus)
        self.approvals = Approvals(self.bus, list(settings.approvals))
        self._command_lock = asyncio.Lock()
        self._last_command_id = 0
        self._outcomes: dict[int, CommandOutcome] = {}
        self._restore: CampaignRestore | None = None
        self._log: list[Event] = []

    @classmethod
    def from_log(cls, store: EventStore, events: list[Event]) -> Campaign:
        """The engine of a stored campaign that did not finish, its state rebuilt from ``events``
        (``ResumeRefused`` for a finished one). ``run()`` continues it."""
        plan = plan_restore(events)
        settings = AarSettings.model_validate(plan.started.settings)  # as recorded: no env or config file
        campaign = cls(settings, store, campaign_id=plan.started.campaign_id)
        campaign._restore, campaign._log = plan, events
        return campaign

    @property
    def store_path(self) -> Path:
        return self._store.path

    @property
    def run_dir(self) -> Path:
        return self.settings.home / "runs" / self.campaign_id

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    async def run(self) -> None:
        """Run to the end: every agent finished, stopped, or the wall-clock budget spent."""
        self.bus.start()
        loop = asyncio.get_running_loop()
        if self._restore is not None:
            wall_left = self._resume_state(self._restore)
        else:
            wall_left = self.settings.max_wall_s
            self._publish_started()
        poller = asyncio.create_task(self._poll_commands(), name="commands")
        reason = "all agents finished"
        deadline = loop.time() + wall_left
        runners: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout_at(deadline):
                task = await self._prepare()
                await self._start_agents(task)
            runners = [asyncio.create_task(self._run_agent(a)) for a in self._agents.values() if a.researcher]
            pending: set[asyncio.Task[None]] = set()
            if runners:
                _, pending = await asyncio.wait(runners, timeout=max(0.0, deadline - loop.time()))
            if pending:
                reason = f"wall-clock budget of {self.settings.max_wall_s:.0f}s spent"
                await self._engine_stop(reason)
                await asyncio.wait(pending, timeout=CLOSE_TIMEOUT_S)
        except TimeoutError:
            reason = f"wall-clock budget of {self.settings.max_wall_s:.0f}s spent during set-up"
        except asyncio.CancelledError:
            reason = "cancelled"
            raise
        except Exception as exc:
            log.exception("campaign failed")
            reason = f"failed: {type(exc).__name__}: {exc}"
        finally:
            for runner in runners:
                runner.cancel()
            await asyncio.shield(asyncio.gather(*runners, return_exceptions=True))
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            await asyncio.shield(self._shutdown(reason))

    def _resume_state(self, restore: CampaignRestore) -> float:
        """Take the log's state back before anything runs; returns the wall time left."""
        events = self._log
        self.bus.continue_from(restore.last_seq)
        self._last_command_id = restore.last_command_id
        posts, notes = forum_and_notes(events)
        for post in posts:
            self.forum.replay(post)
        for note in notes:
            self.notebooks.replay(note)
        self.approvals.restore(approvals_state(events))
        for event in events:  # a policy changed live outlives the engine
            if isinstance(event, CommandApplied) and isinstance(event.command, SetApprovalPolicy):
                self.approvals.rules = [ApprovalRule.model_validate(rule) for rule in event.command.rules]
        turns, calls, grants = budget_events(events)
        for turn in turns:
            self.budgets.charge_turn(turn.agent_id or "", turn.usage, turn.cost_usd)
            self.budgets.charge_wall(turn.agent_id or "", turn.seconds)
        for call in calls:
            self.budgets.charge_wall(call.agent_id or "", call.duration_s)
        for grant in grants:
            self.budgets.grant(grant.agent_id or CAMPAIGN, grant.budget, grant.amount)
        for agent_id, state in restore.agents.items():
            if state.finished is not None:
                self._agents[agent_id].done = state.finished
        interrupted = sum(len(a.interrupted) for a in restore.agents.values())
        self.bus.publish(CampaignResumed(after_seq=restore.last_seq, interrupted_calls=interrupted,
                                         agents_resumed=[a for a, s in restore.agents.items() if s.finished is None]))
        return max(0.0, self.settings.max_wall_s - restore.elapsed_s)

    def _publish_started(self) -> None:
        self.bus.publish(
            CampaignStarted(
                campaign_id=self.campaign_id,
                testbed=self.settings.testbed,
                agent_ids=self.agent_ids,
                sandbox_backend=self.settings.sandbox,
                isolation=self.settings.isolation,
                isolation_risk=self.settings.weakened_isolation or "",
                researcher=self.settings.researcher,
                model=self.settings.model if self.settings.researcher == "claude" else "",
                budget={
                    key: float(value) for key, value in {
                        "experiments_per_agent": self.settings.experiments_per_agent,
                        "max_wall_s": self.settings.max_wall_s,
                        "max_turns": self.settings.max_turns,
                        "agent_tokens": self.settings.agent_tokens,
                        "agent_dollars": self.settings.agent_dollars,
                        "agent_wall_s": self.settings.agent_wall_s,
                        "campaign_tokens": self.settings.campaign_tokens,
                        "campaign_dollars": self.settings.campaign_dollars,
                    }.items() if value is not None
                },
                settings=self.settings.model_dump(mode="json"),
            )
        )

    async def _prepare(self) -> W2STask:
        loop = asyncio.get_running_loop()
        last_pct = -1

        def on_progress(done: int, total: int) -> None:
            nonlocal last_pct
            pct = 100 * done // max(total, 1)
            if pct != last_pct:  # at most ~100 events however many batches
                last_pct = pct
                event = ProgressReported(stage="extracting features", done=done, total=total)
                loop.call_soon_threadsafe(self.bus.publish, event)

        started = time.monotonic()
        resumed = self._restore is not None
        task = await asyncio.to_thread(
            prepare_task,
            self.settings.testbed,
            cache_dir=self.settings.cache_dir / "features",
            baseline_seeds=self.settings.baseline_seeds,
            limit=self.settings.testbed_limit,
            on_progress=None if resumed else on_progress,
        )
        if resumed:
            return task  # the log has its TaskPrepared; the task is the same (fixed seeds)
        self.bus.publish(
            TaskPrepared(
                testbed=self.settings.testbed,
                acc_weak=task.baselines.public_acc_weak,
                acc_ceiling=task.baselines.public_acc_ceiling,
                private_acc_weak=task.baselines.private_acc_weak,
                private_acc_ceiling=task.baselines.private_acc_ceiling,
                n_train=len(task.train_x),
                n_test=len(task.test_ids),
                seconds=time.monotonic() - started,
            )
        )
        return task

    async def _start_agents(self, task: W2STask) -> None:
        files = task.write_agent_files(self.run_dir / "task")
        if self.settings.reproduce:
            self._reproducer = Reproducer(bus=self.bus, settings=self.settings, run_dir=self.run_dir,
                                          scorer=task.scorer(), shared_dir=self.forum.shared_root)
        desk = SubmissionDesk(
            task.scorer(),
            self.bus,
            budgets=self.budgets,
            per_hour=self.settings.submissions_per_hour,
            campaign_per_hour=self.settings.campaign_submissions_per_hour,
            reproducer=self._reproducer,
            require_command=self.settings.require_command,
        )
        services = ResearchServices(desk=desk, forum=self.forum, notebooks=self.notebooks)
        for event in self._log:
            if isinstance(event, SubmissionScored):
                desk.replay(event)
        if self._reproducer is not None and self._log:
            self._reproducer.replay(self._log, lambda agent_id: agent_workdir(self.run_dir, agent_id))
        self.forum.shared_root.mkdir(parents=True, exist_ok=True)
        directions = directions_for(self.settings)
        price = self.settings.prices.get(self.settings.model) if self.settings.researcher == "claude" else None
        limits = LoopLimits(turn_attempts=self.settings.turn_attempts, context_window=self.settings.context_window,
                            compact_at=self.settings.compact_at, retry_base_s=self.settings.turn_retry_base_s)
        for index, (agent_id, agent) in enumerate(self._agents.items()):
            if agent.done is not None:
                continue
            direction = directions[index % len(directions)]
            try:
                backend = create_backend(self.settings.researcher, self.settings, index, direction)
            except BackendError as exc:
                self.bus.publish(AgentStatusChanged(agent_id=agent_id, status="failed", reason=str(exc)))
                self.bus.publish(AgentFinished(agent_id=agent_id, reason=f"model backend unavailable: {exc}"))
                continue
            sandbox = create_sandbox(
                self.settings.sandbox,
                workdir=agent_workdir(self.run_dir, agent_id),
                data_files=files,
                shared_dir=self.forum.shared_root,
                isolation=self.settings.isolation,
                accept_risk=self.settings.accept_isolation_risk,
            )
            await sandbox.start()
            agent.sandbox, agent.backend = sandbox, backend
            agent.researcher = Researcher(
                agent_id,
                backend=backend,
                system=system_prompt(self.settings, agent_id=agent_id, n_agents=len(self._agents), direction=direction),
                direction=direction,
                brief=BRIEF,
                sandbox=sandbox,
                toolbox=Toolbox(agent_id, sandbox, services, exec_timeout_s=self.settings.exec_timeout_s),
                bus=self.bus,
                control=agent.control,
                budgets=self.budgets,
                price=price,
                limits=limits,
                on_sandbox_lost=self._hold_agent,
                on_budget_reached=self._budget_reached,
                approvals=self.approvals,
            )
            if self._restore is not None:
                self._continue(agent, self._restore.agents[agent_id])
            if agent.status_before_pause is not None:  # paused while the task was prepared
                agent.status_before_pause = agent.researcher.status
                agent.researcher.status = "paused"

    def _continue(self, agent: _Agent, state: AgentRestore) -> None:
        """Give a resumed agent its conversation back; answer calls the crash interrupted."""
        assert agent.researcher is not None
        conversation = list(state.conversation)
        for use in state.interrupted:
            finished = self.bus.publish(interrupted_result(use, state.agent_id))
            conversation.append(Message(role="user", content=(finished.result,), origin="tools"))
        agent.researcher.restore(conversation, turns=state.turns, last_context=state.last_context)
        if state.paused_by is not None and agent.status_before_pause is None:
            agent.control.running.clear()
            agent.status_before_pause = "thinking"
            self.bus.publish(AgentStatusChanged(agent_id=state.agent_id, status="paused",
                                                reason=f"{state.paused_by} (before the engine restarted)"))

    async def _run_agent(self, agent: _Agent) -> None:
        assert agent.researcher is not None and agent.sandbox is not None
        try:
            await agent.researcher.run()
        finally:
            await agent.sandbox.close()
            if agent.backend is not None:
                await agent.backend.aclose()

    async def _shutdown(self, reason: str) -> None:
        if self._reproducer is not None and reason == "all agents finished":
            await self._reproducer.drain(REPRODUCTION_DRAIN_S)  # verdicts belong in the log
        elif self._reproducer is not None:
            await self._reproducer.drain(0)
        for agent in self._agents.values():
            agent.control.stop_reason = agent.control.stop_reason or reason
            agent.control.running.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.gather(*(a.sandbox.close() for a in self._agents.values() if a.sandbox))
        self.bus.publish(CampaignFinished(reason=reason, seconds=time.monotonic() - self._started))
        await self.bus.close()
        self._done.set()

