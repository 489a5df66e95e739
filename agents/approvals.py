"""Approvals: a policy per tool, one queue of requests across agents, and the decisions.

The policy is a list of rules (first match wins; no match: auto). A rule names a tool
(a glob), optionally a glob on a path argument or on a command, and an action: ``auto``
(run), ``ask`` (the agent waits for the supervisor) or ``deny``. A ``run_command`` line
is judged by what it runs: each of its simple commands, read with a bash parser
(``agents.shell``), meets the rules on its own, and a line the parser cannot see
through asks wherever the policy judges commands. "Approve always" grants a tool, or a
token-exact prefix of the commands' words (``python train.py`` covers
``python train.py --lr 3``, not ``python -c ...``, ``pythonic`` or ``python train.py; x``).
An agent that asks awaits a future the engine resolves when a command decides the
request: approve (optionally "always", with its scope stated and revocable), deny with
a reason the model reads, or edit the arguments and approve (the model is told what
ran). Requests are withdrawn, with an event, when their agent is stopped. Everything
here is rebuilt from events after a crash (``replay``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

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
from agents.shell import Command, join_words, normalize_path, parse_line, split_words

if TYPE_CHECKING:
    from agents.resume import ApprovalsRestore

Action = Literal["auto", "ask", "deny"]
PATH_ARGUMENTS = ("path",)


class ApprovalRule(BaseModel):
    """One policy rule: which calls it matches and what happens to them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str = "*"
    command: str | None = None  # glob on one simple command of a run_command line, e.g. "pip *"
    path: str | None = None  # glob on a path argument, normalised (``./notes/x`` is ``notes/x``), e.g. "data/*"
    action: Action = "ask"

    def matches(self, tool: str, arguments: dict[str, Any]) -> bool:
        """Whether this rule applies to a call whose ``command`` is one simple command's text."""
        if not fnmatch.fnmatchcase(tool, self.tool):
            return False
        if self.command is not None:
            if tool != "run_command" or not fnmatch.fnmatchcase(str(arguments.get("command", "")).strip(), self.command):
                return False
        if self.path is not None:
            paths = [normalize_path(str(arguments[key])) for key in PATH_ARGUMENTS if key in arguments]
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


SEVERITY: dict[Action, int] = {"auto": 0, "ask": 1, "deny": 2}


@dataclass(frozen=True)
class Judgement:
    """What the policy says about one call, the rule that said it, and what needs approval."""

    action: Action
    rule: str
    needs: tuple[Command, ...] = ()
    """The simple commands a grant must cover for the call to run without asking (a
    command of no words stands for what no prefix can cover: a substitution, a parse error)."""


def command_line(arguments: dict[str, Any]) -> str:
    """A ``run_command`` call's command as one bash line: its ``command``, or its ``argv``
    quoted word by word (which bash reads back as the same words)."""
    argv = arguments.get("argv")
    if isinstance(argv, list) and argv:
        return join_words([str(word) for word in argv])
    return str(arguments.get("command", "")).strip()


def _first_rule(rules: list[ApprovalRule], tool: str, arguments: dict[str, Any]) -> tuple[Action, str]:
    for rule in rules:
        if rule.matches(tool, arguments):
            return rule.action, rule.describe()
    return "auto", "no rule matches: auto"


def _judges_commands(rules: list[ApprovalRule], tool: str) -> bool:
    """Whether any rule could stop a line of ``tool``: then what cannot be seen must ask."""
    return any(r.action != "auto" and r.path is None and fnmatch.fnmatchcase(tool, r.tool) for r in rules)


def judge(rules: list[ApprovalRule], tool: str, arguments: dict[str, Any]) -> Judgement:
    """The policy on one call (first matching rule wins, per simple command for ``run_command``).

    A ``run_command`` line is parsed (``agents.shell``): it is denied if any of its commands
    is, asks if any asks, and, where the policy judges commands at all, asks when the parser
    cannot see what it runs.
    """
    if tool != "run_command":
        return Judgement(*_first_rule(rules, tool, arguments))
    text = command_line(arguments)
    line = parse_line(text)
    commands = line.commands or (Command((text,)),)
    action: Action = "auto"
    said = "no rule matches: auto"
    needs: list[Command] = []
    for command in commands:
        verdict, rule = _first_rule(rules, tool, {**arguments, "command": command.text})
        if verdict == "deny":
            return Judgement("deny", f"{rule}, for `{command.text}`")
        if verdict == "ask":
            needs.append(command)
            if action == "auto":
                action, said = "ask", f"{rule}, for `{command.text}`"
    reasons = line.reasons
    if reasons and _judges_commands(rules, tool):
        needs += [c for c in commands if c.opaque and c not in needs]
        needs += [Command((), static=False, opaque=reason) for reason in line.opaque]
        if action == "auto":
            action, said = "ask", f"the policy judges commands, and cannot see what this line runs: {reasons[0]}"
    return Judgement(action, said, tuple(needs))


def policy_action(rules: list[ApprovalRule], tool: str, arguments: dict[str, Any]) -> tuple[Action, str]:
    """What the policy says about one call, and the rule that said it."""
    judged = judge(rules, tool, arguments)
    return judged.action, judged.rule


def default_prefix(command: str) -> tuple[str, ...] | None:
    """What "approve always" grants for a line by default: its one command's name and
    options up to its first operand (``python train.py`` of ``python train.py --lr 3``);
    None when the line is not one command of known words."""
    words = split_words(command)
    if not words:
        return None
    for end, word in enumerate(words[1:], start=2):
        if not word.startswith("-"):
            return words[:end]
    return words


def grant_scope(words: Sequence[str]) -> str:
    """What a prefix grant covers, with what it does not (for the prompt and the event)."""
    prefix = join_words(words)
    return (f"every command of the line starts with the words `{prefix}`: `{prefix} --seed 1` runs, "
            f"`{words[0]} -c ...` (other words) and `{prefix}; other` (another command) still ask")


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
    """An "approve always": every call of ``tool`` (``prefix`` empty), or each command that
    needs approval starting with the words of ``prefix`` (a shell line), token by token."""

    grant_id: int
    agent_id: str | None  # None: every agent
    tool: str
    prefix: str

    @functools.cached_property
    def words(self) -> tuple[str, ...]:
        return tuple(shlex.split(self.prefix)) if self.prefix else ()

    def covers(self, agent_id: str, tool: str, judged: Judgement) -> bool:
        if self.agent_id is not None and self.agent_id != agent_id:
            return False
        if tool != self.tool:
            return False
        return not self.prefix or all(command.starts_with(self.words) for command in judged.needs)


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
        judged = judge(self.rules, tool, arguments)
        action, rule = judged.action, judged.rule
        if action == "auto":
            return Decision(run=True, arguments=arguments)
        if action == "deny":
            return Decision(run=False, reason=f"the campaign's policy does not allow this call ({rule})")
        for grant in self.grants.values():
            if grant.covers(agent_id, tool, judged):
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
            words = split_words(command.prefix) if command.prefix.strip() else default_prefix(
                command_line(request.arguments))
            if not words:
                raise DecisionRefused(f"cannot grant {command.prefix or 'a prefix'!r}: a prefix is one command of "
                                      "plain words, e.g. `python train.py`")
            prefix = join_words(words)
        grant = Grant(self._next_grant, request.agent_id if command.always == "agent" else None, request.tool, prefix)
        self._next_grant += 1
        self.grants[grant.grant_id] = grant
        who = f"{request.agent_id} only" if grant.agent_id else "all agents"
        what = f"{grant.tool} calls" + (f" where {grant_scope(grant.words)}" if prefix else "")
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
