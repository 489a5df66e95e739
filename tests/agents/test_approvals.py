"""The approvals state on its own: policy matching, and decisions that outlive a restart."""

from __future__ import annotations

from pathlib import Path

from agents.approvals import ApprovalRule, Approvals, policy_action
from agents.bus import EventBus
from agents.commands import Approve, EditApprove
from agents.events import ApprovalDecided, ApprovalRequested, Event, ToolCallStarted
from agents.resume import approvals_state
from agents.store import EventStore

RULES = [ApprovalRule(tool="run_command", command="pip *", action="ask"),
         ApprovalRule(tool="write_file", path="data/*", action="deny"),
         ApprovalRule(tool="submit_*", action="ask")]


def test_first_matching_rule_wins_and_no_match_is_auto() -> None:
    assert policy_action(RULES, "run_command", {"command": "pip install x"})[0] == "ask"
    assert policy_action(RULES, "run_command", {"command": "python train.py"})[0] == "auto"
    assert policy_action(RULES, "write_file", {"path": "data/x.npy", "content": ""})[0] == "deny"
    assert policy_action(RULES, "submit_predictions", {"path": "p.json", "method": "m"})[0] == "ask"


async def _log_of_a_restart(tmp_path: Path, *, started: bool) -> list[Event]:
    """Request #1 (decided: edited) and #2 (pending); #1's call began only if ``started``."""
    async with await EventStore.create(tmp_path / f"c{started}.db") as store:
        events: list[Event] = []
        bus = EventBus(store)
        bus.subscribe(events.append)
        approvals = Approvals(bus, RULES)
        for n in (1, 2):
            approvals._open("agent-1", "tool", tool="run_command", arguments={"command": f"pip install p{n}"},
                            call_id=f"toolu_{n}")
            bus.publish(ApprovalRequested(agent_id="agent-1", request_id=n, call_id=f"toolu_{n}", tool="run_command",
                                          arguments={"command": f"pip install p{n}"}))
        approvals.decide(EditApprove(command_id=7, request_id=1, arguments={"command": "pip install safe"}))
        if started:
            bus.publish(ToolCallStarted(agent_id="agent-1", call_id="toolu_1", tool="run_command", arguments={}))
        return events


async def test_a_decision_made_before_a_crash_is_kept_for_the_call_that_never_ran(tmp_path: Path) -> None:
    events = await _log_of_a_restart(tmp_path, started=False)
    assert any(isinstance(e, ApprovalDecided) for e in events)
    async with await EventStore.create(tmp_path / "after.db") as store:
        approvals = Approvals(EventBus(store), RULES)
        approvals.restore(approvals_state(events))
        decision = await approvals.check("agent-1", "toolu_1", "run_command", {"command": "pip install p1"})
        assert decision.run and decision.edited and decision.arguments == {"command": "pip install safe"}
        assert [p.request_id for p in approvals.queue()] == [2], "the undecided one still waits, once"


async def test_a_call_that_began_is_not_given_its_decision_again(tmp_path: Path) -> None:
    events = await _log_of_a_restart(tmp_path, started=True)
    assert approvals_state(events).unstarted == []


async def test_a_restored_request_decided_before_its_agent_comes_back(tmp_path: Path) -> None:
    events = await _log_of_a_restart(tmp_path, started=False)
    async with await EventStore.create(tmp_path / "after.db") as store:
        approvals = Approvals(EventBus(store), RULES)
        approvals.restore(approvals_state(events))
        approvals.decide(Approve(command_id=8, request_id=2))  # nobody waits on #2 yet
        decision = await approvals.check("agent-1", "toolu_2", "run_command", {"command": "pip install p2"})
        assert decision.run and not decision.edited
        assert approvals.queue() == [], "not asked a second time"
