"""Supervision: how the engine applies commands, holds and releases agents, and grants.

The half of the campaign engine that answers the supervisor. Every command is a row of
the store's commands table (``agents.commands``); ``apply_pending`` applies each once,
in row order, and answers it with a ``CommandApplied`` or ``CommandRefused`` event.
``Campaign`` (``agents.campaign``) mixes this in; nothing else uses it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from agents.approvals import ApprovalRule, Approvals, DecisionRefused
from agents.backend import ResearcherBackend
from agents.budgets import CAMPAIGN, BudgetHit, BudgetKeeper
from agents.bus import EventBus
from agents.forum import Forum
from agents.commands import (
    MAX_MESSAGE_CHARS,
    Approve,
    Command,
    Deny,
    EditApprove,
    GrantBudget,
    Pause,
    PostToForum,
    Redirect,
    Resume,
    RevokeGrant,
    SetApprovalPolicy,
    Stop,
)
from agents.events import (
    AgentStatus,
    AgentStatusChanged,
    BudgetGranted,
    BudgetName,
    BudgetReached,
    CommandApplied,
    EngineDecided,
)
from agents.events import CommandRefused as CommandRefused_
from agents.researcher import AgentControl, Researcher
from sandboxes import Sandbox

if TYPE_CHECKING:
    from agents.store import EventStore

log = logging.getLogger(__name__)

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


class Supervision:
    """Command application for the campaign engine (a mixin of ``Campaign``)."""

    bus: EventBus
    budgets: BudgetKeeper
    approvals: Approvals
    forum: Forum
    _store: EventStore
    _agents: dict[str, _Agent]
    _command_lock: asyncio.Lock
    _last_command_id: int
    _outcomes: dict[int, CommandOutcome]
    _done: asyncio.Event

    @property
    def finished(self) -> bool:
        raise NotImplementedError

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
            case PostToForum():
                text = command.text.strip()
                if not text:
                    raise CommandRefused("a forum post needs text")
                if len(text) > MAX_MESSAGE_CHARS:
                    raise CommandRefused(f"a forum post of {len(text):,} characters is too long "
                                         f"(at most {MAX_MESSAGE_CHARS:,})")
                self._applied(command)
                self.forum.post("", command.post_kind, text, attachments=[], workdir=None)
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
        """Stop one agent or all; stopping the whole campaign once it has finished is a no-op
        (a caller racing the campaign's own end has nothing left to stop)."""
        try:
            await self._send_checked(Stop(agent_id=agent_id, reason=reason, viewer="api"))
        except CommandRefused:
            if agent_id is None and self.finished:
                return
            raise

    async def grant_reached(self, agent_id: str) -> tuple[BudgetName, float]:
        hit = self._agents[agent_id].budget_hit if agent_id in self._agents else None
        await self._send_checked(GrantBudget(agent_id=agent_id, viewer="api"))
        assert hit is not None
        limit = self.budgets.limit(hit.scope, hit.name)
        assert limit is not None
        return hit.name, limit

    async def wait(self) -> None:
        await self._done.wait()
