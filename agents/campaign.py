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
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from agents.approvals import ApprovalRule, Approvals, DecisionRefused
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
    CampaignResumed,
    CampaignStarted,
    CommandApplied,
    Event,
    SubmissionScored,
    EngineDecided,
    ProgressReported,
    TaskPrepared,
)
from agents.events import CommandRefused as CommandRefused_
from agents.commands import (
    MAX_MESSAGE_CHARS,
    Approve,
    Command,
    Deny,
    EditApprove,
    GrantBudget,
    Pause,
    Redirect,
    Resume,
    RevokeGrant,
    SetApprovalPolicy,
    Stop,
)
from agents.conversation import Message
from agents.forum import Forum, Notebooks
from agents.resume import (
    AgentRestore,
    CampaignRestore,
    approvals_state,
    budget_events,
    forum_and_notes,
    interrupted_result,
    plan_restore,
)
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
COMMAND_POLL_S = 0.05  # how often the engine looks for commands from attached viewers


@dataclass
class _Agent:
    """The campaign's handle on one agent; it exists (and obeys commands) before it starts."""

    control: AgentControl = field(default_factory=AgentControl)
    researcher: Researcher | None = None
    sandbox: Sandbox | None = None
    backend: ResearcherBackend | None = None
    status_before_pause: AgentStatus | None = None
    budget_hit: BudgetHit | None = None  # why the engine holds it, until a grant clears it
    budget_request: int | None = None  # its checkpoint in the approvals queue
    done: str | None = None  # it had finished before the engine was resumed (the reason)

    @property
    def status(self) -> AgentStatus:
        if self.done is not None:
            return "finished"
        if self.status_before_pause is not None:
            return "paused"
        return self.researcher.status if self.researcher else "starting"

    @property
    def ended(self) -> bool:
        return self.status in ("finished", "failed")


class CommandRefused(Exception):
    """A supervisor command that does not apply now; the message says why."""


@dataclass(frozen=True)
class CommandOutcome:
    """What became of one command: applied, or refused with the reason."""

    command: Command
    applied: bool
    reason: str = ""


class Campaign:
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
        for event in self._log:
            if isinstance(event, SubmissionScored):
                desk.replay(event)
        if self._reproducer is not None and self._log:
            self._reproducer.replay(self._log, lambda agent_id: self.run_dir / agent_id)
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

    # Supervisor commands: rows of the store's commands table, applied once each, in order.

    async def send(self, command: Command) -> CommandOutcome:
        """The in-process control channel: record ``command`` in the commands table, apply
        every command not applied yet (in row order), and return this one's outcome."""
        stored = await self._store.add_command(command)
        await self.apply_pending()
        outcome = self._outcomes.pop(stored.command_id, None)
        if outcome is None:  # applied by the polling loop in the meantime: look it up
            raise AssertionError(f"command {stored.command_id} was not applied")
        return outcome

    async def apply_pending(self) -> None:
        """Apply the commands viewers (or ``send``) added since the last one applied."""
        async with self._command_lock:
            commands = await self._store.read_commands(self._last_command_id)
            for command in commands:
                self._last_command_id = command.command_id
                try:
                    await self._apply(command)
                except CommandRefused as refused:
                    self.bus.publish(CommandRefused_(agent_id=getattr(command, "agent_id", None),
                                                     command_id=command.command_id, command=command,
                                                     reason=str(refused)))
                    self._outcomes[command.command_id] = CommandOutcome(command, False, str(refused))
                else:
                    self._outcomes.setdefault(command.command_id, CommandOutcome(command, True))
                while len(self._outcomes) > 1000:  # nobody waits for old outcomes
                    self._outcomes.pop(next(iter(self._outcomes)))
            if commands:
                self.bus.flush_soon()

    async def _poll_commands(self) -> None:
        while True:
            await asyncio.sleep(COMMAND_POLL_S)
            try:
                await self.apply_pending()
            except Exception:  # a failing poll must not end the campaign; it is retried
                log.exception("applying commands failed")

    def _applied(self, command: Command, agent_id: str | None = None) -> None:
        self.bus.publish(CommandApplied(agent_id=agent_id, command_id=command.command_id, command=command))
        self._outcomes[command.command_id] = CommandOutcome(command, True)

    async def _apply(self, command: Command) -> None:
        if self.finished:
            raise CommandRefused("the campaign has finished")
        match command:
            case Pause():
                targets = self._targets(command.agent_id)
                self._applied(command, command.agent_id)
                for target in targets:
                    if self._agents[target].status_before_pause is None:
                        await self._hold(target, f"paused by {command.viewer}", freeze_sandbox=True)
            case Resume():
                targets = self._targets(command.agent_id)
                self._applied(command, command.agent_id)
                for target in targets:
                    if self._agents[target].status_before_pause is not None:
                        await self._release(target)
            case Redirect():
                message = command.message.strip()
                if not message:
                    raise CommandRefused("a redirect needs a message")
                if len(message) > MAX_MESSAGE_CHARS:
                    raise CommandRefused(f"a redirect of {len(message):,} characters is too long "
                                         f"(at most {MAX_MESSAGE_CHARS:,})")
                targets = self._targets(command.agent_id)
                self._applied(command, command.agent_id)
                for target in targets:
                    self._agents[target].control.redirects.append(message)
            case Stop():
                targets = self._targets(command.agent_id)
                self._applied(command, command.agent_id)
                for target in targets:
                    await self._halt(target, command.reason or f"stopped by {command.viewer}")
            case GrantBudget():
                await self._grant(command)
            case Approve() | Deny() | EditApprove():
                await self._decide(command)
            case SetApprovalPolicy():
                try:
                    rules = [ApprovalRule.model_validate(rule) for rule in command.rules]
                except ValidationError as exc:
                    first = exc.errors()[0]
                    raise CommandRefused(f"bad approval rule: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
                self._applied(command)
                self.approvals.rules = rules
            case RevokeGrant():
                if command.grant_id not in self.approvals.grants:
                    raise CommandRefused(f"no grant #{command.grant_id} (or it was revoked already)")
                self._applied(command)
                self.approvals.revoke(command.grant_id)

    async def _decide(self, command: Approve | Deny | EditApprove) -> None:
        try:
            request = self.approvals.request(command.request_id)
        except DecisionRefused as exc:
            raise CommandRefused(str(exc)) from None
        if request.kind == "budget":
            if isinstance(command, EditApprove):
                raise CommandRefused(f"request #{command.request_id} is a budget checkpoint: approve or deny it")
            self._applied(command, request.agent_id)
            if isinstance(command, Approve):
                self.approvals.close_budget(request.request_id, "approved", command)
                await self._grant_reached(request.agent_id, command)
            else:
                self.approvals.close_budget(request.request_id, "denied", command, reason=command.reason)
                await self._halt(request.agent_id, f"budget not granted: {command.reason}")
            return
        if isinstance(command, EditApprove):
            spec_error = self._tool_arguments_error(request.tool, command.arguments)
            if spec_error:
                raise CommandRefused(spec_error)
        self._applied(command, request.agent_id)
        self.approvals.decide(command)

    @staticmethod
    def _tool_arguments_error(tool: str, arguments: dict[str, object]) -> str | None:
        from agents.tools import TOOLS_BY_NAME, validation_message

        spec = TOOLS_BY_NAME.get(tool)
        if spec is None:
            return None
        try:
            spec.args.model_validate(arguments)
        except ValidationError as exc:
            return "the edited call is not valid: " + validation_message(tool, exc)
        return None

    async def _grant(self, command: GrantBudget) -> None:
        if command.agent_id is not None and command.agent_id not in self._agents:
            raise CommandRefused(f"no agent {command.agent_id!r}")
        if command.budget is None or command.amount is None:
            if command.agent_id is None:
                raise CommandRefused("name the budget and the amount for a campaign-wide grant")
            await self._grant_reached(command.agent_id, command)
            return
        scope = CAMPAIGN if command.agent_id is None else command.agent_id
        try:
            new_limit = self.budgets.grant(scope, command.budget, command.amount)
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None
        self._applied(command, command.agent_id)
        self._granted(scope, command.budget, command.amount, new_limit)

    async def _grant_reached(self, agent_id: str, command: Command) -> None:
        """Half again the budget that holds ``agent_id`` (at least one unit)."""
        agent = self._agents[agent_id]
        hit = agent.budget_hit
        if hit is None:
            raise CommandRefused(f"{agent_id} is not held by a budget")
        amount = max(1.0, hit.limit * 0.5) if hit.name != "dollars" else max(0.01, hit.limit * 0.5)
        new_limit = self.budgets.grant(hit.scope, hit.name, amount)
        if not isinstance(command, Approve):
            self._applied(command, agent_id)
        self._granted(hit.scope, hit.name, amount, new_limit)

    def _granted(self, scope: str, budget: BudgetName, amount: float, new_limit: float) -> None:
        self.bus.publish(BudgetGranted(agent_id=None if scope == CAMPAIGN else scope, budget=budget, amount=amount,
                                       new_limit=new_limit))
        for target, agent in self._agents.items():
            hit = agent.budget_hit
            if hit is not None and hit.name == budget and hit.scope == scope and not agent.ended:
                agent.budget_hit = None
                if agent.budget_request is not None:
                    self.approvals.close_budget(agent.budget_request, "approved", None)
                    agent.budget_request = None
                if agent.status_before_pause is not None:
                    asyncio.get_running_loop().create_task(self._release(target))

    def _targets(self, agent_id: str | None) -> list[str]:
        if agent_id is None:
            return [a for a, s in self._agents.items() if not s.ended and s.control.stop_reason is None]
        agent = self._agents.get(agent_id)
        if agent is None:
            raise CommandRefused(f"no agent {agent_id!r} (agents: {', '.join(self._agents)})")
        if agent.ended:
            raise CommandRefused(f"{agent_id} has already {agent.status}")
        if agent.control.stop_reason is not None:
            raise CommandRefused(f"{agent_id} is stopped ({agent.control.stop_reason})")
        return [agent_id]

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

    async def _release(self, target: str) -> None:
        """Undo ``_hold``: thaw the sandbox and let the loop go on."""
        agent = self._agents[target]
        if agent.status_before_pause is None:
            return
        if agent.sandbox and agent.sandbox.paused:
            await agent.sandbox.resume()
        status, agent.status_before_pause = agent.status_before_pause or "thinking", None
        if agent.researcher:
            agent.researcher.status = status
        self.bus.publish(AgentStatusChanged(agent_id=target, status=status))
        agent.control.running.set()

    async def _budget_reached(self, agent_id: str, hit: BudgetHit) -> None:
        """A budget is reached: the engine pauses the agent, with the reason, until a grant;
        the checkpoint waits in the approvals queue."""
        agent = self._agents[agent_id]
        if agent.budget_hit == hit and agent.status_before_pause is not None:
            return
        agent.budget_hit = hit
        self.bus.publish(BudgetReached(agent_id=agent_id, budget=hit.name, limit=hit.limit, used=hit.used,
                                       scope="campaign" if hit.scope == CAMPAIGN else "agent"))
        self.bus.publish(EngineDecided(agent_id=agent_id, decision="pause", reason=hit.describe()))
        agent.budget_request = self.approvals.ask_budget(agent_id, hit.name, hit.describe())
        if agent.status_before_pause is None:
            await self._hold(agent_id, f"budget: {hit.describe()}", freeze_sandbox=False)

    async def _engine_stop(self, reason: str) -> None:
        """The engine's own decision (its wall-clock budget ran out): recorded as such."""
        for target, agent in self._agents.items():
            if agent.ended:
                continue
            self.bus.publish(EngineDecided(agent_id=target, decision="stop", reason=reason))
            await self._halt(target, reason)

    async def _halt(self, target: str, reason: str) -> None:
        agent = self._agents[target]
        agent.control.stop_reason = reason
        self.approvals.withdraw_agent(target, f"{target} was stopped")
        if agent.sandbox:
            if agent.status_before_pause is not None:
                await agent.sandbox.resume()
            await agent.sandbox.close()  # a running command ends now, not at its timeout
        agent.status_before_pause = None
        agent.control.running.set()

    # Convenience for code in this process (tests, the headless runner): commands by name.

    async def _send_checked(self, command: Command) -> None:
        outcome = await self.send(command)
        if not outcome.applied:
            raise CommandRefused(outcome.reason)

    async def pause(self, agent_id: str | None = None) -> None:
        await self._send_checked(Pause(agent_id=agent_id, viewer="api"))

    async def resume(self, agent_id: str | None = None) -> None:
        await self._send_checked(Resume(agent_id=agent_id, viewer="api"))

    async def redirect(self, agent_id: str, message: str) -> None:
        await self._send_checked(Redirect(agent_id=agent_id, message=message, viewer="api"))

    async def stop(self, agent_id: str | None = None, reason: str = "by supervisor") -> None:
        await self._send_checked(Stop(agent_id=agent_id, reason=reason, viewer="api"))

    async def grant_reached(self, agent_id: str) -> tuple[BudgetName, float]:
        hit = self._agents[agent_id].budget_hit if agent_id in self._agents else None
        await self._send_checked(GrantBudget(agent_id=agent_id, viewer="api"))
        assert hit is not None
        limit = self.budgets.limit(hit.scope, hit.name)
        assert limit is not None
        return hit.name, limit

    async def wait(self) -> None:
        await self._done.wait()
