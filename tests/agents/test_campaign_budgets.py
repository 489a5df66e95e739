"""Budgets and the engine's own decisions in a real (offline) campaign."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.campaign import Campaign
from agents.events import (
    AgentFinished,
    AgentStatusChanged,
    BudgetGranted,
    BudgetReached,
    EngineDecided,
    Event,
    CommandApplied,
    TurnCompleted,
)
from agents.settings import AarSettings
from agents.store import EventStore


async def _until(events: list[Event], predicate, engine: asyncio.Task[None], timeout: float = 240.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(predicate(e) for e in events):
        assert not engine.done(), "the campaign ended first"
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_turn_budget_pauses_the_agent_until_the_supervisor_grants_more(
    settings: AarSettings, tmp_path: Path
) -> None:
    events: list[Event] = []
    async with await EventStore.create(tmp_path / "c.db") as store:
        campaign = Campaign(settings.model_copy(update={"agents": 1, "max_turns": 2, "reproduce": False}), store)
        campaign.bus.subscribe(events.append)
        engine = asyncio.create_task(campaign.run())
        try:
            await _until(events, lambda e: isinstance(e, BudgetReached), engine)
            reached = next(e for e in events if isinstance(e, BudgetReached))
            assert (reached.agent_id, reached.budget, reached.limit, reached.used) == ("agent-1", "turns", 2, 2)
            await asyncio.sleep(0.5)
            turns_while_held = sum(isinstance(e, TurnCompleted) for e in events)
            assert turns_while_held == 2, "nothing runs past the budget"
            statuses = [e for e in events if isinstance(e, AgentStatusChanged) and e.status == "paused"]
            assert statuses and "turns budget is reached" in statuses[-1].reason

            budget, limit = await campaign.grant_reached("agent-1")
            assert (budget, limit) == ("turns", 3)
            await _until(events, lambda e: isinstance(e, TurnCompleted) and e.turn == 3, engine)
            await campaign.stop("agent-1")
            await asyncio.wait_for(engine, 60)
        finally:
            engine.cancel()
            await asyncio.gather(engine, return_exceptions=True)
    granted = [e for e in events if isinstance(e, BudgetGranted)]
    assert [(g.budget, g.amount, g.new_limit) for g in granted] == [("turns", 1.0, 3.0)]
    commands = [e.command.kind for e in events if isinstance(e, CommandApplied)]
    assert commands == ["grant_budget", "stop"]
    assert [e.decision for e in events if isinstance(e, EngineDecided)][:1] == ["pause"]


async def test_the_engines_own_stop_is_its_decision_not_a_supervisor_command(
    settings: AarSettings, tmp_path: Path
) -> None:
    events: list[Event] = []
    async with await EventStore.create(tmp_path / "c.db") as store:
        campaign = Campaign(settings.model_copy(update={"agents": 2, "reproduce": False}), store)
        campaign.bus.subscribe(events.append)
        engine = asyncio.create_task(campaign.run())
        try:
            await _until(events, lambda e: isinstance(e, TurnCompleted) and e.agent_id == "agent-2", engine)
            await campaign._engine_stop("wall-clock budget of 1s spent")
            await asyncio.wait_for(engine, 60)
        finally:
            engine.cancel()
            await asyncio.gather(engine, return_exceptions=True)
    assert not [e for e in events if isinstance(e, CommandApplied)]
    decided = [(e.agent_id, e.decision) for e in events if isinstance(e, EngineDecided)]
    assert sorted(decided) == [("agent-1", "stop"), ("agent-2", "stop")]
    reasons = {e.agent_id: e.reason for e in events if isinstance(e, AgentFinished)}
    assert all("wall-clock budget" in r for r in reasons.values()), reasons
