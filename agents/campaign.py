"""The campaign: prepares the task, runs N researchers in parallel, applies commands.

This is the engine's service object. Views (TUI, headless printer) subscribe to its
bus and call its command methods; they never touch agent state. Every command is
recorded as an event before it is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from agents.backend import BackendError, ResearcherBackend, create_backend
from agents.budgets import CAMPAIGN, BudgetHit, BudgetKeeper
from agents.bus import EventBus
from agents.events import (
    AgentFinished,
    AgentStatus,
    AgentStatusChanged,
    BudgetGranted,
    BudgetName,
    BudgetReached,
    CampaignFinished,
    CampaignStarted,
    EngineDecided,
    ProgressReported,
    SupervisorCommandIssued,
    TaskPrepared,
)
from agents.forum import Forum, Notebooks
from agents.prompts import BRIEF, directions_for, system_prompt
from agents.reproduction import Reproducer
from agents.researcher import AgentControl, LoopLimits, Researcher
from agents.settings import AarSettings
from agents.store import EventStore
from agents.submissions import SubmissionDesk
from agents.tools import ResearchServices, Toolbox
from experiments import W2STask, prepare_task
from sandboxes import Sandbox, create_sandbox

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0
REPRODUCTION_DRAIN_S = 120.0


@dataclass
class _Agent:
    """The campaign's handle on one agent; it exists (and obeys commands) before it starts."""

    control: AgentControl = field(default_factory=AgentControl)
    researcher: Researcher | None = None
    sandbox: Sandbox | None = None
    backend: ResearcherBackend | None = None
    status_before_pause: AgentStatus | None = None
    budget_hit: BudgetHit | None = None  # why the engine holds it, until a grant clears it

    @property
    def status(self) -> AgentStatus:
        if self.status_before_pause is not None:
            return "paused"
        return self.researcher.status if self.researcher else "starting"

    @property
    def ended(self) -> bool:
        return self.status in ("finished", "failed")


class CommandRefused(Exception):
    """A supervisor command that does not apply now (unknown or finished agent)."""


class Campaign:
    """One research campaign over one event store."""

    def __init__(self, settings: AarSettings, store: EventStore, *, campaign_id: str | None = None) -> None:
        self.settings = settings
        self.campaign_id = campaign_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
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

    @property
    def run_dir(self) -> Path:
        return self.settings.home / "runs" / self.campaign_id

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    async def run(self) -> None:
        """Run to the end: every agent finished, stopped, or the wall-clock budget spent."""
        self.bus.start()
        self.bus.publish(
            CampaignStarted(
                campaign_id=self.campaign_id,
                testbed=self.settings.testbed,
                agent_ids=self.agent_ids,
                sandbox_backend=self.settings.sandbox,
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
            )
        )
        reason = "all agents finished"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_wall_s
        runners: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout_at(deadline):
                task = await self._prepare()
                await self._start_agents(task)
            runners = [asyncio.create_task(self._run_agent(a)) for a in self._agents.values() if a.researcher]
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
            await asyncio.shield(self._shutdown(reason))

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
        task = await asyncio.to_thread(
            prepare_task,
            self.settings.testbed,
            cache_dir=self.settings.cache_dir / "features",
            baseline_seeds=self.settings.baseline_seeds,
            limit=self.settings.testbed_limit,
            on_progress=on_progress,
        )
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
            self._reproducer = Reproducer(bus=self.bus, settings=self.settings, run_dir=self.run_dir)
        desk = SubmissionDesk(
            task.scorer(),
            self.bus,
            budgets=self.budgets,
            per_hour=self.settings.submissions_per_hour,
            reproducer=self._reproducer,
            require_command=self.settings.require_command,
        )
        services = ResearchServices(desk=desk, forum=self.forum, notebooks=self.notebooks)
        self.forum.shared_root.mkdir(parents=True, exist_ok=True)
        directions = directions_for(self.settings)
        price = self.settings.prices.get(self.settings.model) if self.settings.researcher == "claude" else None
        limits = LoopLimits(turn_attempts=self.settings.turn_attempts, context_window=self.settings.context_window,
                            compact_at=self.settings.compact_at, retry_base_s=self.settings.turn_retry_base_s)
        for index, (agent_id, agent) in enumerate(self._agents.items()):
            direction = directions[index % len(directions)]
            try:
                backend = create_backend(self.settings.researcher, self.settings, index, direction)
            except BackendError as exc:
                self.bus.publish(AgentStatusChanged(agent_id=agent_id, status="failed", reason=str(exc)))
                self.bus.publish(AgentFinished(agent_id=agent_id, reason=f"model backend unavailable: {exc}"))
                continue
            sandbox = create_sandbox(
                self.settings.sandbox,
                workdir=self.run_dir / agent_id,
                readonly_files={f"data/{name}": path for name, path in files.items()},
                shared_dirs={"shared": self.forum.shared_root},
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
            )
            if agent.status_before_pause is not None:  # paused while the task was prepared
                agent.status_before_pause = agent.researcher.status
                agent.researcher.status = "paused"

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

    # Supervisor commands. Each is recorded, then applied between the agent's steps.

    def _targets(self, agent_id: str | None) -> list[str]:
        if self.finished:
            raise CommandRefused("the campaign has finished")
        if agent_id is None:
            return [a for a, s in self._agents.items() if not s.ended]
        agent = self._agents.get(agent_id)
        if agent is None:
            raise CommandRefused(f"no agent {agent_id!r}")
        if agent.ended:
            raise CommandRefused(f"{agent_id} has already {agent.status}")
        return [agent_id]

    async def pause(self, agent_id: str | None = None) -> None:
        """Pause one agent (or all): its running command is frozen, no new step starts."""
        for target in self._targets(agent_id):
            if self._agents[target].status_before_pause is None:
                self.bus.publish(SupervisorCommandIssued(agent_id=target, command="pause"))
                await self._hold(target, "by supervisor", freeze_sandbox=True)

    async def _hold(self, agent_id: str, reason: str, *, freeze_sandbox: bool) -> None:
        agent = self._agents[agent_id]
        agent.control.running.clear()
        agent.status_before_pause = agent.status
        if agent.researcher:
            agent.researcher.status = "paused"
        if freeze_sandbox and agent.sandbox:
            await agent.sandbox.pause()
        self.bus.publish(AgentStatusChanged(agent_id=agent_id, status="paused", reason=reason))

    async def _hold_agent(self, agent_id: str, problem: str) -> None:
        """The sandbox went away under the agent: pause it (its state is kept) for the human."""
        if self._agents[agent_id].status_before_pause is None:
            await self._hold(agent_id, f"sandbox unavailable: {problem}", freeze_sandbox=False)

    async def resume(self, agent_id: str | None = None) -> None:
        for target in self._targets(agent_id):
            agent = self._agents[target]
            if agent.status_before_pause is None:
                continue
            self.bus.publish(SupervisorCommandIssued(agent_id=target, command="resume"))
            await self._release(target)

    async def _release(self, target: str) -> None:
        """Undo ``_hold``: thaw the sandbox and let the loop go on."""
        agent = self._agents[target]
        if agent.sandbox and agent.sandbox.paused:
            await agent.sandbox.resume()
        status, agent.status_before_pause = agent.status_before_pause or "thinking", None
        if agent.researcher:
            agent.researcher.status = status
        self.bus.publish(AgentStatusChanged(agent_id=target, status=status))
        agent.control.running.set()

    async def toggle_pause(self, agent_id: str) -> None:
        if agent_id in self._agents and self._agents[agent_id].status_before_pause is not None:
            await self.resume(agent_id)
        else:
            await self.pause(agent_id)

    async def redirect(self, agent_id: str, message: str) -> None:
        """Give an agent a message it reads before its next turn."""
        message = message.strip()
        if not message:
            raise CommandRefused("a redirect needs a message")
        for target in self._targets(agent_id):
            self.bus.publish(SupervisorCommandIssued(agent_id=target, command="redirect", message=message))
            self._agents[target].control.redirects.append(message)

    async def _budget_reached(self, agent_id: str, hit: BudgetHit) -> None:
        """A budget is reached: the engine pauses the agent, with the reason, until a grant."""
        agent = self._agents[agent_id]
        if agent.budget_hit == hit and agent.status_before_pause is not None:
            return
        agent.budget_hit = hit
        self.bus.publish(BudgetReached(agent_id=agent_id, budget=hit.name, limit=hit.limit, used=hit.used,
                                       scope="campaign" if hit.scope == CAMPAIGN else "agent"))
        self.bus.publish(EngineDecided(agent_id=agent_id, decision="pause", reason=hit.describe()))
        if agent.status_before_pause is None:
            await self._hold(agent_id, f"budget: {hit.describe()}", freeze_sandbox=False)

    async def grant(self, agent_id: str | None, budget: BudgetName, amount: float) -> float:
        """Raise a budget of one agent (or of the whole campaign, ``agent_id`` None) and let
        the agents it held go on; returns the new limit."""
        if self.finished:
            raise CommandRefused("the campaign has finished")
        if agent_id is not None and agent_id not in self._agents:
            raise CommandRefused(f"no agent {agent_id!r}")
        scope = CAMPAIGN if agent_id is None else agent_id
        try:
            new_limit = self.budgets.grant(scope, budget, amount)
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None
        self.bus.publish(SupervisorCommandIssued(agent_id=agent_id, command="grant", message=f"{budget} +{amount:g}"))
        self.bus.publish(BudgetGranted(agent_id=agent_id, budget=budget, amount=amount, new_limit=new_limit))
        for target, agent in self._agents.items():
            hit = agent.budget_hit
            if hit is not None and hit.name == budget and hit.scope == scope and not agent.ended:
                agent.budget_hit = None
                if agent.status_before_pause is not None:
                    await self._release(target)
        return new_limit

    async def grant_reached(self, agent_id: str) -> tuple[BudgetName, float]:
        """Grant half again the budget that holds ``agent_id`` (at least one unit); returns
        (budget, new limit). The supervisor's one-key answer to a budget checkpoint."""
        agent = self._agents.get(agent_id)
        if agent is None:
            raise CommandRefused(f"no agent {agent_id!r}")
        hit = agent.budget_hit
        if hit is None:
            raise CommandRefused(f"{agent_id} is not held by a budget")
        amount = max(1.0, hit.limit * 0.5) if hit.name != "dollars" else max(0.01, hit.limit * 0.5)
        scope = None if hit.scope == CAMPAIGN else agent_id
        return hit.name, await self.grant(scope, hit.name, amount)

    async def _engine_stop(self, reason: str) -> None:
        """The engine's own decision (its wall-clock budget ran out): recorded as such."""
        for target, agent in self._agents.items():
            if agent.ended:
                continue
            self.bus.publish(EngineDecided(agent_id=target, decision="stop", reason=reason))
            await self._halt(target, reason)

    async def stop(self, agent_id: str | None = None, reason: str = "by supervisor") -> None:
        for target in self._targets(agent_id):
            self.bus.publish(SupervisorCommandIssued(agent_id=target, command="stop", message=reason))
            await self._halt(target, reason)

    async def _halt(self, target: str, reason: str) -> None:
        agent = self._agents[target]
        agent.control.stop_reason = reason
        if agent.sandbox:
            if agent.status_before_pause is not None:
                await agent.sandbox.resume()
            await agent.sandbox.close()  # a running command ends now, not at its timeout
        agent.status_before_pause = None
        agent.control.running.set()

    async def wait(self) -> None:
        await self._done.wait()
