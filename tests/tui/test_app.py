"""The control room driven like a person drives it, through Textual's Pilot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.campaign import Campaign
from agents.control import EngineControl
from agents.events import CommandApplied
from agents.settings import AarSettings
from agents.store import EventStore
from tests.tui.sample_log import sample_events
from tui.app import AarApp
from textual.widgets import Label, TabbedContent

from tui.widgets import AgentTable, Leaderboard


async def _until(predicate, pilot, timeout: float = 300.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await pilot.pause(0.1)


async def test_select_an_agent_and_pause_then_resume_it(settings: AarSettings, tmp_path: Path) -> None:
    async with await EventStore.create(tmp_path / "c.db") as store:
        campaign = Campaign(settings.model_copy(update={"experiments_per_agent": 3}), store)
        app = AarApp(campaign.bus, EngineControl(campaign))
        engine = asyncio.create_task(campaign.run())
        try:
            async with app.run_test(size=(180, 50)) as pilot:
                await _until(lambda: app.view.phase == "running" and "agent-2" in app.query_one(AgentTable).rows, pilot)
                assert app.selected == "agent-1"

                await pilot.press("down")
                assert app.selected == "agent-2"
                await pilot.press("p")
                await _until(lambda: app.view.agents["agent-2"].status == "paused", pilot)
                await pilot.pause(0.7)  # the table refreshes at 2 Hz
                assert "paused" in str(app.query_one(AgentTable).get_row("agent-2")[1])
                assert "paused" in str(app.query_one("#stream-title").render())
                assert app.view.agents["agent-1"].status != "paused"

                await pilot.press("p")
                await _until(lambda: app.view.agents["agent-2"].status != "paused", pilot)
                await pilot.press("q")
        finally:
            engine.cancel()
            await asyncio.gather(engine, return_exceptions=True)
    async with await EventStore.open(tmp_path / "c.db") as reopened:
        stored = await reopened.read_all()
    commands = [(e.command.agent_id, e.command.kind, e.command.viewer) for e in stored if isinstance(e, CommandApplied)]
    assert commands[:2] == [("agent-2", "pause", app.viewer), ("agent-2", "resume", app.viewer)]


async def test_review_shows_the_stored_leaderboard_and_refuses_commands() -> None:
    events = sample_events()
    app = AarApp(events=events)
    async with app.run_test(size=(180, 50)) as pilot:
        await pilot.pause(0.6)
        board = app.query_one(Leaderboard)
        rows = [board.get_row_at(i) for i in range(board.row_count)]
        assert [(r[1], r[2], r[4]) for r in rows] == [("agent-2", "0.50", "0.10"), ("agent-1", "0.30", "0.25")]
        await pilot.press("p")
        await pilot.pause(0.2)
        assert any("read-only" in n.message for n in app._notifications)
        assert app.view.agents["agent-2"].status == "thinking"


def test_review_screen_snapshot(snap_compare) -> None:
    async def settle(pilot) -> None:
        await pilot.pause(0.6)

    assert snap_compare(AarApp(events=sample_events()), terminal_size=(160, 40), run_before=settle)


async def test_o_ranks_the_leaderboard_by_private_pgr_and_back() -> None:
    app = AarApp(events=sample_events())
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.3)
        board = app.query_one(Leaderboard)
        by_public = [board.get_row_at(i)[1] for i in range(board.row_count)]
        await pilot.press("o")
        assert "private" in str(app.query_one(TabbedContent).get_tab("tab-leaderboard").label)
        by_private = [board.get_row_at(i)[1] for i in range(board.row_count)]
        expected = [r.agent_id for r in app.view.leaderboard(by="private")]
        assert by_private == expected != by_public
        await pilot.press("o")
        assert [board.get_row_at(i)[1] for i in range(board.row_count)] == by_public
