"""Approvals: a policy per tool, one queue of requests across agents, and the decisions.

The policy is a list of rules (first match wins; no match: auto). A rule names a tool
(a glob), optionally a glob on a ``run_command`` command line or on a path argument,
and an action: ``auto`` (run), ``ask`` (the agent waits for the supervisor) or ``deny``.
An agent that asks awaits a future the engine resolves when a command decides the
request: approve (optionally "always", with its scope stated and revocable), deny with
a reason the model reads, or edit the arguments and approve (the model is told what
ran). Requests are withdrawn, with an event, when their agent is stopped. Everything
here is rebuilt from events after a crash (``replay``).
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from agents.bus import EventBus
from agents.commands import Approve, Deny, EditApprove
from agents.events import (
    ApprovalDecided,
    ApprovalRequested,
    ApprovalWithdrawn,
    BudgetName,
    GrantAdded,
    GrantRevoked,
)

if TYPE_CHECKING:
    from agents.resume import ApprovalsRestore

Action = Literal["auto", "ask", "deny"]
PATH_ARGUMENTS = ("path",)


class ApprovalRule(BaseModel):
    """One policy rule: which calls it matches and what happens to them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str = "*"
    command: str | None = None  # glob on run_command's command line, e.g. "pip *"
    path: str | None = None  # glob on a path argument, e.g. "data/*"
    action: Action = "ask"

    def matches(self, tool: str, arguments: dict[str, Any]) -> bool:
        if not fnmatch.fnmatchcase(tool, self.tool):
            return False
        if self.command is not None:
            if tool != "run_command" or not fnmatch.fnmatchcase(str(arguments.get("command", "")).strip(), self.command):
                return False
        if self.path is not None:
            paths = [str(arguments[key]) for key in PATH_ARGUMENTS if key in arguments]
            if not any(fnmatch.fnmatchcase(p, self.path) for p in paths):
                return False
        return True

    def describe(self) -> str:
        parts = [f"tool {self.tool}"]
        if self.command is not None:
            parts.append(f"command {self.command!r}")
        if self.path is not None:
            parts.append(f"path {self.path!r}")
        return f"{self.action}: " + ", ".join(parts)


def policy_action(rules: list[ApprovalRule], tool: str, arguments: dict[str, Any]) -> tuple[Action, str]:
    """What the policy says about one call, and the rule that said it."""
    for rule in rules:
        if rule.matches(tool, arguments):
            return rule.action, rule.describe()
    return "auto", "no rule matches: auto"


@dataclass(frozen=True)
class Decision:
    """What the agent does with a call: run it (with these arguments) or not (and why)."""

    run: bool
    arguments: dict[str, Any] | None = None
    reason: str = ""
    edited: bool = False
    withdrawn: bool = False


@dataclass(frozen=True)
class Grant:
    grant_id: int
    agent_id: str | None  # None: every agent
    tool: str
    prefix: str

    def covers(self, agent_id: str, tool: str, arguments: dict[str, Any]) -> bool:
        if self.agent_id is not None and self.agent_id != agent_id:
            return False
        if tool != self.tool:
            return False
        return not self.prefix or str(arguments.get("command", "")).strip().startswith(self.prefix)


@dataclass
class Pending:
    request_id: int
    agent_id: str
    kind: Literal["tool", "budget"]
    call_id: str = ""
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    budget: BudgetName | None = None
    future: asyncio.Future[Decision] | None = None


class DecisionRefused(Exception):
    """A decision that does not apply (unknown, decided or withdrawn request); nothing changed."""


class Approvals:
    """The engine's approval state: policy, pending requests (oldest first), grants."""

    def __init__(self, bus: EventBus, rules: list[ApprovalRule]) -> None:
        self._bus = bus
        self.rules = list(rules)
        self.pending: dict[int, Pending] = {}
        self.closed: dict[int, str] = {}  # request id -> what happened to it, for refusals
        self.grants: dict[int, Grant] = {}
        self._next_request = 1
        self._next_grant = 1
        self._unclaimed: dict[str, Decision] = {}  # call id -> a decision made before anyone waited

    # -- asking

    async def check(self, agent_id: str, call_id: str, tool: str, arguments: dict[str, Any],
                    on_ask: Callable[[], None] | None = None) -> Decision:
        """The decision on one call; waits for the supervisor when the policy asks
        (``on_ask`` is called first: the agent's status becomes "awaiting approval")."""
        action, rule = policy_action(self.rules, tool, arguments)
        if action == "auto":
            return Decision(run=True, arguments=arguments)
        if action == "deny":
            return Decision(run=False, reason=f"the campaign's policy does not allow this call ({rule})")
        for grant in self.grants.values():
            if grant.covers(agent_id, tool, arguments):
                return Decision(run=True, arguments=arguments)
        if call_id in self._unclaimed:  # decided, but the engine restarted before the call ran
            return self._unclaimed.pop(call_id)
        if on_ask is not None:
            on_ask()
        for waiting in self.pending.values():  # asked before the engine restarted: still waiting
            if waiting.kind == "tool" and waiting.call_id == call_id:
                return await self.wait(waiting.request_id)
        request = self._open(agent_id, "tool", tool=tool, arguments=arguments, call_id=call_id)
        self._bus.publish(ApprovalRequested(agent_id=agent_id, request_id=request.request_id, call_id=call_id,
                                            tool=tool, arguments=dict(arguments), rule=rule))
        return await self.wait(request.request_id)

    def ask_budget(self, agent_id: str, budget: BudgetName, why: str) -> int:
        """Put a budget checkpoint in the queue; the engine holds the agent meanwhile."""
        for request in self.pending.values():
            if request.agent_id == agent_id and request.kind == "budget":
                return request.request_id
        request = self._open(agent_id, "budget", budget=budget)
        self._bus.publish(ApprovalRequested(agent_id=agent_id, request_id=request.request_id, request_kind="budget",
                                            budget=budget, rule=why))
        return request.request_id

    def _open(self, agent_id: str, kind: Literal["tool", "budget"], **details: Any) -> Pending:
        request = Pending(self._next_request, agent_id, kind, **details)
        self._next_request += 1
        self.pending[request.request_id] = request
        return request

    async def wait(self, request_id: int) -> Decision:
        request = self.pending[request_id]
        if request.future is None:
            request.future = asyncio.get_running_loop().create_future()
        return await request.future

    # -- deciding (from commands)

    def request(self, request_id: int) -> Pending:
        if request_id in self.pending:
            return self.pending[request_id]
        if request_id in self.closed:
            raise DecisionRefused(f"request #{request_id} was already {self.closed[request_id]}")
        raise DecisionRefused(f"no request #{request_id}")

    def decide(self, command: Approve | Deny | EditApprove) -> Pending:
        """Apply a decision to a tool request (budget requests are decided by the engine)."""
        request = self.request(command.request_id)
        grant_id = None
        if isinstance(command, Approve):
            if command.always != "no" and request.kind == "tool":
                grant_id = self.add_grant(request, command)
            decision = Decision(run=True, arguments=request.arguments)
            self._close(request, "approved", command, grant_id=grant_id)
        elif isinstance(command, Deny):
            reason = command.reason.strip() or "denied by the supervisor"
            decision = Decision(run=False, reason=reason)
            self._close(request, "denied", command, reason=reason)
        else:
            decision = Decision(run=True, arguments=dict(command.arguments), edited=True)
            self._close(request, "edited", command, arguments=dict(command.arguments))
        self._resolve(request, decision)
        return request

    def add_grant(self, request: Pending, command: Approve) -> int:
        prefix = ""
        if command.match == "prefix":
            prefix = command.prefix.strip() or str(request.arguments.get("command", "")).strip().split(" ")[0]
        grant = Grant(self._next_grant, request.agent_id if command.always == "agent" else None, request.tool, prefix)
        self._next_grant += 1
        self.grants[grant.grant_id] = grant
        who = f"{request.agent_id} only" if grant.agent_id else "all agents"
        what = f"{grant.tool} calls" + (f" whose command starts with {prefix!r}" if prefix else "")
        self._bus.publish(GrantAdded(agent_id=grant.agent_id, grant_id=grant.grant_id, tool=grant.tool, prefix=prefix,
                                     scope=f"{what}, for {who}, until revoked"))
        return grant.grant_id

    def revoke(self, grant_id: int) -> None:
        if grant_id not in self.grants:
            raise DecisionRefused(f"no grant #{grant_id} (or it was revoked already)")
        grant = self.grants.pop(grant_id)
        self._bus.publish(GrantRevoked(agent_id=grant.agent_id, grant_id=grant_id))

    def close_budget(self, request_id: int, decision: Literal["approved", "denied"], command: Approve | Deny | None,
                     reason: str = "") -> None:
        """Record the end of a budget checkpoint (granted, or stopped)."""
        request = self.pending.get(request_id)
        if request is None:
            return
        if command is None:
            self.withdraw(request_id, reason or "settled by a grant")
            return
        self._close(request, decision, command, reason=reason)
        self._resolve(request, Decision(run=decision == "approved", reason=reason))

    def _close(self, request: Pending, decision: Literal["approved", "denied", "edited"],
               command: Approve | Deny | EditApprove, **details: Any) -> None:
        self.pending.pop(request.request_id, None)
        self.closed[request.request_id] = f"{decision} by {command.viewer}"
        self._bus.publish(ApprovalDecided(agent_id=request.agent_id, request_id=request.request_id, decision=decision,
                                          command_id=command.command_id, viewer=command.viewer, **details))

    def withdraw(self, request_id: int, reason: str) -> None:
        request = self.pending.pop(request_id, None)
        if request is None:
            return
        self.closed[request_id] = f"withdrawn ({reason})"
        self._bus.publish(ApprovalWithdrawn(agent_id=request.agent_id, request_id=request_id, reason=reason))
        self._resolve(request, Decision(run=False, reason=reason, withdrawn=True))

    def withdraw_agent(self, agent_id: str, reason: str) -> None:
        for request_id in [r for r, p in self.pending.items() if p.agent_id == agent_id]:
            self.withdraw(request_id, reason)

    def _resolve(self, request: Pending, decision: Decision) -> None:
        if request.future is not None:
            if not request.future.done():
                request.future.set_result(decision)
        elif request.call_id:
            # Nobody waits yet: a request restored after a restart, decided before its agent
            # reached the call again. The decision waits for the call instead.
            self._unclaimed[request.call_id] = decision

    def restore(self, state: ApprovalsRestore) -> None:
        """Take back the state at the end of the log (crash resume)."""
        for event in state.pending:
            self.pending[event.request_id] = Pending(event.request_id, event.agent_id or "", event.request_kind,
                                                     call_id=event.call_id, tool=event.tool,
                                                     arguments=dict(event.arguments), budget=event.budget)
        self.closed.update(state.closed)
        for grant in state.grants:
            self.grants[grant.grant_id] = Grant(grant.grant_id, grant.agent_id, grant.tool, grant.prefix)
        for asked, decided in state.unstarted:
            arguments = dict(decided.arguments if decided.arguments is not None else asked.arguments)
            self._unclaimed[asked.call_id] = Decision(run=decided.decision != "denied", arguments=arguments,
                                                      reason=decided.reason, edited=decided.decision == "edited")
        self._next_request = max(self._next_request, state.next_request)
        self._next_grant = max(self._next_grant, state.next_grant)

    def queue(self) -> list[Pending]:
        """Pending requests across agents, oldest first."""
        return [self.pending[r] for r in sorted(self.pending)]
