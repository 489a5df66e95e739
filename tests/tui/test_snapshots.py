"""Snapshots of the control room: what must not regress on screen.

Regenerate after an intended change with ``pytest tests/tui/test_snapshots.py
--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Input

from agents.store import EventStore
from agents.items import ToolCallItem
from tests.tui.sample_log import RecordingControl, control_room_events
from tui.app import AarApp
from tui.transcript import TranscriptView

SIZE = (180, 48)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch):
    """Times on screen are local; snapshots are taken in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def live_room() -> AarApp:
    return AarApp(None, RecordingControl(), events=control_room_events(), viewer="tester")


async def _settled(pilot) -> None:
    await pilot.pause(0.7)  # the tables refresh at 2 Hz


async def _on_agent_3(pilot) -> None:
    await _settled(pilot)
    pilot.app.select_agent("agent-3")
    await pilot.pause(0.2)


def test_campaign_screen(snap_compare) -> None:
    assert snap_compare(live_room(), terminal_size=SIZE, run_before=_settled)


def test_thinking_and_markdown_text(snap_compare) -> None:
    async def open_thinking(pilot) -> None:
        await _on_agent_3(pilot)
        await pilot.press("t")
        await pilot.pause(0.1)

    assert snap_compare(live_room(), terminal_size=SIZE, run_before=open_thinking)


def test_tool_call_folded(snap_compare) -> None:
    async def on_call(pilot) -> None:
        await _on_agent_3(pilot)
        stream = pilot.app.query_one(TranscriptView)
        call = next(i for i in stream._items if isinstance(i, ToolCallItem) and i.state == "succeeded")
        stream.go_to(call, unfold=False)
        await pilot.pause(0.1)

    assert snap_compare(live_room(), terminal_size=SIZE, run_before=on_call)


def test_tool_call_open(snap_compare) -> None:
    async def open_call(pilot) -> None:
        await _on_agent_3(pilot)
        stream = pilot.app.query_one(TranscriptView)
        call = next(i for i in stream._items if isinstance(i, ToolCallItem) and i.state == "succeeded")
        stream.go_to(call)
        await pilot.pause(0.1)

    assert snap_compare(live_room(), terminal_size=SIZE, run_before=open_call)


def test_approval_prompt(snap_compare) -> None:
    async def ask(pilot) -> None:
        await _settled(pilot)
        await pilot.press("A")
        await pilot.pause(0.2)

    assert snap_compare(live_room(), terminal_size=SIZE, run_before=ask)


def test_redirect_box_with_a_refusal(snap_compare) -> None:
    async def redirect(pilot) -> None:
        await _on_agent_3(pilot)
        await pilot.press("r")
        await pilot.pause(0.1)
        await pilot.press("enter")  # empty: refused in the box
        await pilot.pause(0.1)

    assert snap_compare(live_room(), terminal_size=SIZE, run_before=redirect)


def test_leaderboard_with_flags_by_private_pgr(snap_compare) -> None:
    async def private(pilot) -> None:
        await _settled(pilot)
        await pilot.press("o")
        await pilot.pause(0.1)

    assert snap_compare(live_room(), terminal_size=SIZE, run_before=private)


def test_approvals_queue(snap_compare) -> None:
    async def queue(pilot) -> None:
        await _settled(pilot)
        pilot.app.query_one("#tabs").active = "tab-approvals"
        await pilot.pause(0.7)

    assert snap_compare(live_room(), terminal_size=SIZE, run_before=queue)


def test_review_search(snap_compare, tmp_path: Path) -> None:
    app = AarApp(events=control_room_events())

    async def search(pilot) -> None:
        store = await EventStore.create(tmp_path / "c.db")
        for event in control_room_events():
            store.append(event)
        await store.flush()
        app.store = store
        await _settled(pilot)
        await pilot.press("slash")
        await pilot.pause(0.1)
        app.screen.query_one(Input).value = "python"
        await pilot.press("enter")
        for _ in range(100):  # the search runs in a worker
            await pilot.pause(0.05)
            if "hit(s)" in str(app.screen.query_one("#modal-error").render()):
                break
        await pilot.pause(0.2)
        await store.close()  # the hits are on screen; an open store would outlive the test

    assert snap_compare(app, terminal_size=SIZE, run_before=search)


def test_terminal_too_narrow(snap_compare) -> None:
    assert snap_compare(live_room(), terminal_size=(70, 20), run_before=_settled)


def test_forum_and_budgets(snap_compare) -> None:
    async def forum(pilot) -> None:
        await _settled(pilot)
        pilot.app.query_one("#tabs").active = "tab-budgets"
        await pilot.pause(0.7)

    assert snap_compare(live_room(), terminal_size=SIZE, run_before=forum)

