"""Every supervisor command and every approval decision, on both researcher backends (the
offline baseline, and Claude through the real client against the fake Messages API)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agents.approvals import ApprovalRule, command_line
from agents.campaign import Campaign
from agents.commands import (
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
    AgentFinished,
    AgentStatusChanged,
    ApprovalDecided,
    ApprovalRequested,
    ApprovalWithdrawn,
    CommandApplied,
    CommandRefused,
    Event,
    ForumPosted,
    GrantAdded,
    GrantRevoked,
    SubmissionScored,
    ToolCallFinished,
    ToolCallStarted,
)
from agents.settings import AarSettings
from agents.store import EventStore
from tests.fakes.messages_api import FakeMessagesAPI
from tests.fakes.research_script import research


@asynccontextmanager
async def running(settings: AarSettings, db: Path) -> AsyncIterator[tuple[Campaign, list[Event], asyncio.Task[None]]]:
    async with await EventStore.create(db) as store:
        campaign = Campaign(settings, store)
        events: list[Event] = []
        campaign.bus.subscribe(events.append)
        engine = asyncio.create_task(campaign.run())
        try:
            yield campaign, events, engine
        finally:
            if not engine.done():
                await campaign.stop()
            await asyncio.wait_for(asyncio.shield(engine), 120)


async def until(events: list[Event], predicate: Callable[[Event], bool], engine: asyncio.Task[None],
                timeout: float = 240.0) -> Event:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = 0
    while True:
        for event in events[seen:]:
            if predicate(event):
                return event
        seen = len(events)
        assert not engine.done(), "the campaign ended first"
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def _ask(settings: AarSettings, *rules: ApprovalRule, **update: object) -> AarSettings:
    return settings.model_copy(update={"approvals": list(rules), "reproduce": False, **update})


@pytest.fixture(params=["baseline", "claude"])
async def backend_settings(request: pytest.FixtureRequest, settings: AarSettings,
                           monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AarSettings]:
    if request.param == "baseline":
        yield settings.model_copy(update={"agents": 1, "experiments_per_agent": 3})
        return
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    async with FakeMessagesAPI(research) as api:
        yield settings.model_copy(update={"researcher": "claude", "agents": 2, "experiments_per_agent": 2,
                                          "base_url": api.base_url, "turn_retry_base_s": 0.01})


async def test_approve_deny_edit_and_always(backend_settings: AarSettings, tmp_path: Path) -> None:
    """Asked calls wait; approve runs them, deny runs nothing and the model reads the reason,
    edit runs the edited call and says so, "always" grants the rest (scope stated), and a
    revoked grant asks again."""
    rules = (ApprovalRule(tool="run_command", command="python *", action="ask"),
             ApprovalRule(tool="submit_predictions", action="ask"))
    settings = _ask(backend_settings, *rules)
    decided: dict[str, list[int]] = {"approve": [], "deny": [], "edit": [], "always": []}
    async with running(settings, tmp_path / "c.db") as (campaign, events, engine):
        first = await until(events, lambda e: isinstance(e, ApprovalRequested), engine)
        assert isinstance(first, ApprovalRequested)
        status = await until(events, lambda e: isinstance(e, AgentStatusChanged) and e.agent_id == first.agent_id
                             and e.status == "awaiting_approval", engine)
        assert status is not None
        handled = 0
        while True:
            pending = [e for e in events if isinstance(e, ApprovalRequested)
                       and not any(isinstance(d, (ApprovalDecided, ApprovalWithdrawn)) and d.request_id == e.request_id
                                   for d in events)]
            if not pending:
                finished = {e.agent_id for e in events if isinstance(e, AgentFinished)}
                if engine.done() or len(finished) == settings.agents:
                    break
                await asyncio.sleep(0.05)
                continue
            request = pending[0]
            step = ("approve", "deny", "edit", "always")[min(handled, 3)] if handled < 4 else "approve"
            if step == "approve":
                outcome = await campaign.send(Approve(request_id=request.request_id, viewer="alice"))
            elif step == "deny":
                outcome = await campaign.send(Deny(request_id=request.request_id, reason="not now, try a smaller grid",
                                                   viewer="bob"))
            elif step == "edit":
                edited = {k: v for k, v in request.arguments.items() if k != "argv"}
                if request.tool == "run_command":  # an argv call becomes a shell line
                    edited["command"] = f"echo edited && {command_line(request.arguments)}"
                else:
                    edited["method"] = "edited by the supervisor"
                outcome = await campaign.send(EditApprove(request_id=request.request_id, arguments=edited))
            else:
                outcome = await campaign.send(Approve(request_id=request.request_id, always="all", viewer="alice"))
            assert outcome.applied, outcome
            decided[step].append(request.request_id)
            handled += 1
            again = await campaign.send(Approve(request_id=request.request_id))
            assert not again.applied and "already" in again.reason, "a decided request cannot be decided again"
    results = {e.call_id: e for e in events if isinstance(e, ToolCallFinished)}
    started = {e.call_id: e for e in events if isinstance(e, ToolCallStarted)}
    requests = {e.request_id: e for e in events if isinstance(e, ApprovalRequested)}
    for request_id in decided["approve"]:
        assert requests[request_id].call_id in started
    for request_id in decided["deny"]:
        call = requests[request_id].call_id
        assert call not in started, "a denied call never runs"
        assert results[call].result.is_error and "not now, try a smaller grid" in results[call].result.content
    for request_id in decided["edit"]:
        call = requests[request_id].call_id
        assert call in started and started[call].arguments != requests[request_id].arguments
        assert "The supervisor edited this call" in results[call].result.content
    grants = [e for e in events if isinstance(e, GrantAdded)]
    if decided["always"]:
        assert grants and "all agents" in grants[0].scope and "until revoked" in grants[0].scope
        granted_tool = requests[decided["always"][0]].tool
        later = [r for r in requests.values() if r.request_id > decided["always"][0] and r.tool == granted_tool]
        assert not later, "an approve-always grant covers the same tool from then on"
    applied = [e.command.viewer for e in events if isinstance(e, CommandApplied) and isinstance(e.command, Approve)]
    assert "alice" in applied
    decisions = [e for e in events if isinstance(e, ApprovalDecided)]
    assert {d.viewer for d in decisions} >= {"alice", "bob"}


async def test_control_commands_and_refusals(backend_settings: AarSettings, tmp_path: Path) -> None:
    settings = _ask(backend_settings, ApprovalRule(tool="submit_predictions", action="ask"), agents=2,
                    experiments_per_agent=2)
    async with running(settings, tmp_path / "c.db") as (campaign, events, engine):
        request = await until(events, lambda e: isinstance(e, ApprovalRequested), engine)
        assert isinstance(request, ApprovalRequested)
        cases: list[tuple[Command, str]] = [
            (Pause(agent_id="agent-9"), "no agent 'agent-9'"),
            (Redirect(agent_id="agent-1", message="   "), "needs a message"),
            (Redirect(agent_id="agent-1", message="x" * 1_000_000), "too long"),
            (Approve(request_id=999), "no request #999"),
            (EditApprove(request_id=request.request_id, arguments={"path": 3}), "not valid"),
            (GrantBudget(agent_id="agent-1"), "not held by a budget"),
            (RevokeGrant(grant_id=5), "no grant #5"),
            (SetApprovalPolicy(rules=[{"tool": "*", "action": "maybe"}]), "bad approval rule"),
            (PostToForum(text=" \n "), "needs text"),
            (PostToForum(text="x" * 1_000_000), "too long"),
        ]
        for command, reason in cases:
            outcome = await campaign.send(command)
            assert not outcome.applied and reason in outcome.reason, (command, outcome)
        refused = [e for e in events if isinstance(e, CommandRefused)]
        assert [e.command.kind for e in refused] == [c.kind for c, _ in cases], "each refusal is an event"
        # Stopping the agent withdraws its pending request; a decision on it is refused.
        owner = request.agent_id or ""
        assert (await campaign.send(Stop(agent_id=owner, reason="enough"))).applied
        withdrawn = await until(events, lambda e: isinstance(e, ApprovalWithdrawn), engine)
        assert isinstance(withdrawn, ApprovalWithdrawn) and withdrawn.request_id == request.request_id
        late = await campaign.send(Approve(request_id=request.request_id))
        assert not late.applied and "withdrawn" in late.reason
        other = "agent-2" if owner == "agent-1" else "agent-1"
        assert (await campaign.send(Pause(agent_id=other))).applied
        assert (await campaign.send(Redirect(agent_id=other, message="focus on calibration"))).applied
        assert (await campaign.send(Resume(agent_id=other))).applied
        # Approve-always with its scope, then revoke it; the policy changes live.
        theirs = await until(events, lambda e: isinstance(e, ApprovalRequested) and e.agent_id == other, engine)
        assert isinstance(theirs, ApprovalRequested)
        assert (await campaign.send(Approve(request_id=theirs.request_id, always="agent"))).applied
        grant = await until(events, lambda e: isinstance(e, GrantAdded), engine)
        assert isinstance(grant, GrantAdded) and f"{other} only" in grant.scope and grant.agent_id == other
        assert (await campaign.send(RevokeGrant(grant_id=grant.grant_id))).applied
        await until(events, lambda e: isinstance(e, GrantRevoked) and e.grant_id == grant.grant_id, engine)
        assert (await campaign.send(SetApprovalPolicy(rules=[{"tool": "submit_predictions", "action": "deny"}]))).applied
        assert campaign.approvals.rules[0].action == "deny"
        assert (await campaign.send(PostToForum(text="check the private split", viewer="sup"))).applied
        post = await until(events, lambda e: isinstance(e, ForumPosted) and e.author == "supervisor", engine)
        assert isinstance(post, ForumPosted) and post.agent_id is None and post.text == "check the private split"
        assert campaign.forum.posts[-1] is post  # agents read it with the forum tool
        stopped_again = await campaign.send(Stop(agent_id=owner))
        assert not stopped_again.applied
        await campaign.send(Stop(agent_id=other))
    applied = [e for e in events if isinstance(e, CommandApplied)]
    assert all(e.command_id > 0 for e in applied)
    ids = [e.command_id for e in events if isinstance(e, (CommandApplied, CommandRefused))]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), "each command answered once, in order"
    assert not any(isinstance(e, SubmissionScored) and e.agent_id == owner for e in events)
