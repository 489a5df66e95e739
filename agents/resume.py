"""Crash resume: the engine's state rebuilt from the event log alone.

``aar run --resume DB`` after the engine died at any moment: the campaign's settings
come from its ``CampaignStarted`` event; each agent continues from its last complete
turn with its conversation rebuilt (``agents.replay``); the desk's counts, quotas and
public board, budgets and spend, grants and pending approvals, forum posts and notes,
the reproducer's queue and the last applied command all come back from their events.
A tool call that was running when the engine died is never run again: the model is
told it was interrupted and that its effects are unknown. Sequence numbers continue
from the last stored event, so the log has no gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.conversation import Message, ToolResultBlock, ToolUseBlock
from agents.events import (
    AgentFinished,
    AgentStatusChanged,
    ApprovalDecided,
    ApprovalRequested,
    ApprovalWithdrawn,
    BudgetGranted,
    CampaignFinished,
    CampaignStarted,
    CommandApplied,
    CommandRefused,
    Event,
    ForumPosted,
    GrantAdded,
    GrantRevoked,
    NoteAdded,
    ToolCallFinished,
    ToolCallStarted,
    TurnCompleted,
)
from agents.replay import rebuild_conversation

INTERRUPTED = ("This call was interrupted: the engine running the campaign stopped while it ran (a crash or a "
               "restart), so it did not finish and its effects are unknown. Check your files before relying on "
               "them; the call was not run again.")


class ResumeRefused(Exception):
    """A store that cannot be resumed (finished, empty, or not a campaign); the message says why."""


@dataclass
class AgentRestore:
    """One agent's state at the end of the log."""

    agent_id: str
    finished: str | None = None  # its AgentFinished reason, when it had ended
    turns: int = 0
    last_context: int = 0
    conversation: list[Message] = field(default_factory=list)
    interrupted: list[ToolUseBlock] = field(default_factory=list)
    paused_by: str | None = None  # the reason, when the supervisor had paused it


@dataclass
class CampaignRestore:
    """Everything the engine needs back, computed from the log."""

    started: CampaignStarted
    last_seq: int
    elapsed_s: float
    agents: dict[str, AgentRestore]
    last_command_id: int


def _unanswered(conversation: list[Message]) -> list[ToolUseBlock]:
    last = max((i for i, m in enumerate(conversation) if m.role == "assistant"), default=None)
    if last is None:
        return []
    answered = {b.tool_use_id for m in conversation[last + 1:] for b in m.content if isinstance(b, ToolResultBlock)}
    return [use for use in conversation[last].tool_uses() if use.id not in answered]


def plan_restore(events: list[Event]) -> CampaignRestore:
    """Read the log; refuses a finished or empty campaign."""
    started = next((e for e in events if isinstance(e, CampaignStarted)), None)
    if started is None:
        raise ResumeRefused("the store holds no campaign (no campaign_started event)")
    finished = next((e for e in events if isinstance(e, CampaignFinished)), None)
    if finished is not None:
        raise ResumeRefused(f"campaign {started.campaign_id} has finished ({finished.reason}); there is nothing to "
                            "resume: review it with `aar review`")
    if not started.settings:
        raise ResumeRefused("the store was written by an aar that did not record its settings; it cannot be resumed")
    restores = {agent_id: AgentRestore(agent_id) for agent_id in started.agent_ids}
    started_calls: set[str] = set()
    finished_calls: set[str] = set()
    last_command = 0
    for event in events:
        agent = restores.get(event.agent_id or "")
        match event:
            case AgentFinished() if agent is not None:
                agent.finished = event.reason
            case TurnCompleted() if agent is not None:
                agent.turns = max(agent.turns, event.turn)
                agent.last_context = event.usage.context + event.usage.output_tokens
            case ToolCallStarted():
                started_calls.add(event.call_id)
            case ToolCallFinished():
                finished_calls.add(event.call_id)
            case AgentStatusChanged() if agent is not None:
                paused = event.status == "paused" and event.reason.startswith("paused by")
                agent.paused_by = event.reason if paused else None
            case CommandApplied() | CommandRefused():
                last_command = max(last_command, event.command_id)
            case _:
                pass
    for agent in restores.values():
        if agent.finished is not None:
            continue
        agent.conversation = rebuild_conversation(events, agent.agent_id)
        agent.interrupted = [u for u in _unanswered(agent.conversation)
                             if u.id in started_calls and u.id not in finished_calls]
    return CampaignRestore(started=started, last_seq=events[-1].seq, elapsed_s=max(0.0, events[-1].ts - started.ts),
                           agents=restores, last_command_id=last_command)


def interrupted_result(use: ToolUseBlock, agent_id: str) -> ToolCallFinished:
    """The event that answers a call the engine's death interrupted."""
    return ToolCallFinished(agent_id=agent_id, call_id=use.id, tool=use.name, ok=False, duration_s=0.0,
                            summary="interrupted: the engine stopped while it ran (not run again)",
                            result=ToolResultBlock(tool_use_id=use.id, content=INTERRUPTED, is_error=True))


@dataclass
class ApprovalsRestore:
    """The approvals state at the end of the log."""

    pending: list[ApprovalRequested]
    closed: dict[int, str]
    grants: list[GrantAdded]
    unstarted: list[tuple[ApprovalRequested, ApprovalDecided]]  # decided tool calls that never began
    next_request: int
    next_grant: int


def approvals_state(events: list[Event]) -> ApprovalsRestore:
    requests: dict[int, ApprovalRequested] = {}
    asked: dict[int, ApprovalRequested] = {}
    decided: list[ApprovalDecided] = []
    began: set[str] = set()
    closed: dict[int, str] = {}
    grants: dict[int, GrantAdded] = {}
    top_request = top_grant = 0
    for event in events:
        match event:
            case ApprovalRequested():
                requests[event.request_id] = asked[event.request_id] = event
                top_request = max(top_request, event.request_id)
            case ApprovalDecided():
                requests.pop(event.request_id, None)
                decided.append(event)
                closed[event.request_id] = f"{event.decision} by {event.viewer}"
            case ApprovalWithdrawn():
                requests.pop(event.request_id, None)
                closed[event.request_id] = f"withdrawn ({event.reason})"
            case GrantAdded():
                grants[event.grant_id] = event
                top_grant = max(top_grant, event.grant_id)
            case GrantRevoked():
                grants.pop(event.grant_id, None)
            case ToolCallStarted() | ToolCallFinished():
                began.add(event.call_id)
            case _:
                pass
    unstarted = [(asked[d.request_id], d) for d in decided if d.request_id in asked
                 and asked[d.request_id].request_kind == "tool" and asked[d.request_id].call_id not in began]
    return ApprovalsRestore(pending=[requests[r] for r in sorted(requests)], closed=closed,
                            grants=list(grants.values()), unstarted=unstarted, next_request=top_request + 1,
                            next_grant=top_grant + 1)


def forum_and_notes(events: list[Event]) -> tuple[list[ForumPosted], list[NoteAdded]]:
    return ([e for e in events if isinstance(e, ForumPosted)], [e for e in events if isinstance(e, NoteAdded)])


def budget_events(events: list[Event]) -> tuple[list[TurnCompleted], list[ToolCallFinished], list[BudgetGranted]]:
    return ([e for e in events if isinstance(e, TurnCompleted)], [e for e in events if isinstance(e, ToolCallFinished)],
            [e for e in events if isinstance(e, BudgetGranted)])
