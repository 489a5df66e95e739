"""Supervisor commands as data: one frozen model per kind, a discriminated union.

A viewer (the TUI in the engine's process, or one attached to its store from another
terminal) sends a typed command through a control channel (``agents.control``); every
command becomes a row of the store's commands table, so the table is the one ordered
sequence of commands whatever channel they came by. The engine applies each row once,
in order, and answers with a ``CommandApplied`` or ``CommandRefused`` event naming it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

BudgetName = Literal["tokens", "dollars", "wall_s", "turns", "submissions"]
MAX_MESSAGE_CHARS = 20_000


class CommandBase(BaseModel):
    """Fields of every command: who sent it and when; ``command_id`` is its row in the store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: int = 0
    viewer: str = "tui"
    issued_at: float = Field(default_factory=time.time)


class Pause(CommandBase):
    """Freeze one agent (or all): its running sandbox process stops, no new step starts."""

    kind: Literal["pause"] = "pause"
    agent_id: str | None = None


class Resume(CommandBase):
    kind: Literal["resume"] = "resume"
    agent_id: str | None = None


class Redirect(CommandBase):
    """A message the agent reads before its next turn (a user turn marked as the supervisor's)."""

    kind: Literal["redirect"] = "redirect"
    agent_id: str
    message: str


class Stop(CommandBase):
    kind: Literal["stop"] = "stop"
    agent_id: str | None = None
    reason: str = "by supervisor"


class GrantBudget(CommandBase):
    """Raise a budget of one agent (or the campaign's, ``agent_id`` None). Without ``budget``
    and ``amount``: half again the budget that holds ``agent_id``."""

    kind: Literal["grant_budget"] = "grant_budget"
    agent_id: str | None = None
    budget: BudgetName | None = None
    amount: float | None = None


class Approve(CommandBase):
    """Approve a pending request; ``always`` also grants its like from now on, for this agent
    or all agents, matching the same tool or the same command prefix (``match``)."""

    kind: Literal["approve"] = "approve"
    request_id: int
    always: Literal["no", "agent", "all"] = "no"
    match: Literal["tool", "prefix"] = "tool"
    prefix: str = ""


class Deny(CommandBase):
    """Deny a pending request; the model reads ``reason`` as the call's result."""

    kind: Literal["deny"] = "deny"
    request_id: int
    reason: str = "denied by the supervisor"


class EditApprove(CommandBase):
    """Run the call with these arguments instead; the model is told what actually ran."""

    kind: Literal["edit_approve"] = "edit_approve"
    request_id: int
    arguments: dict[str, Any]


class SetApprovalPolicy(CommandBase):
    """Replace the approval policy, live: rules {tool, command, path, action}, first match wins."""

    kind: Literal["set_approval_policy"] = "set_approval_policy"
    rules: list[dict[str, Any]]


class PostToForum(CommandBase):
    """A forum post by the supervisor: every agent reads it with the forum tool."""

    kind: Literal["post_forum"] = "post_forum"
    text: str
    post_kind: Literal["result", "hypothesis", "negative_result", "note"] = "note"


class RevokeGrant(CommandBase):
    kind: Literal["revoke_grant"] = "revoke_grant"
    grant_id: int


Command = Annotated[
    Union[Pause, Resume, Redirect, Stop, GrantBudget, Approve, Deny, EditApprove, RevokeGrant, SetApprovalPolicy,
          PostToForum],
    Field(discriminator="kind"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


def command_from_json(data: str | bytes) -> Command:
    return COMMAND_ADAPTER.validate_json(data)


def command_to_json(command: Command) -> str:
    return command.model_dump_json()


def describe(command: Command) -> str:
    """A few words for a transcript line."""
    match command:
        case Redirect():
            return f"redirect: {command.message}"
        case Stop():
            return f"stop ({command.reason})"
        case GrantBudget():
            what = command.budget or "the budget that holds it"
            return f"grant {what}" + (f" +{command.amount:g}" if command.amount else "")
        case Approve():
            scope = "" if command.always == "no" else f", always for {'this agent' if command.always == 'agent' else 'all agents'}"
            return f"approve request #{command.request_id}{scope}"
        case Deny():
            return f"deny request #{command.request_id}: {command.reason}"
        case EditApprove():
            return f"edit and approve request #{command.request_id}"
        case PostToForum():
            return f"forum post: {command.text[:200]}"
        case RevokeGrant():
            return f"revoke grant #{command.grant_id}"
        case SetApprovalPolicy():
            return f"set the approval policy ({len(command.rules)} rule(s))"
        case _:
            return command.kind
