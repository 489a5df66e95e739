"""Viewers attached to a headless engine's store from other processes' point of view:
both see the same events; a command from one is applied once and both see it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agents.commands import Pause, Redirect, Resume
from agents.control import StoreControl, StoreTail
from agents.events import AgentStatusChanged, CommandApplied, CommandRefused, Event
from agents.lock import engine_running
from agents.settings import AarSettings
from agents.store import EventStore

ROOT = Path(__file__).resolve().parents[2]


async def _wait(predicate, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_two_viewers_see_the_same_events_and_one_command_applies_once(
    settings: AarSettings, tmp_path: Path
) -> None:
    env = {**os.environ, "AAR_HOME": str(tmp_path / "home"), "AAR_CACHE_DIR": str(settings.cache_dir),
           "AAR_CONFIG": str(tmp_path / "none.toml"), "AAR_BASELINE_SEEDS": "2", "AAR_REPRODUCE": "false"}
    db = tmp_path / "c.db"
    engine = subprocess.Popen([sys.executable, "-m", "tui.cli", "run", "--headless", "--agents", "2",
                               "--experiments", "4", "--db", str(db)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        await _wait(lambda: db.exists() and engine_running(db))
        a_store, b_store = await EventStore.attach(db), await EventStore.attach(db)
        seen_a: list[Event] = []
        seen_b: list[Event] = []
        tail_a, tail_b = StoreTail(a_store), StoreTail(b_store)
        tail_a.subscribe(seen_a.append)
        tail_b.subscribe(seen_b.append)
        tail_a.start()
        tail_b.start()
        control_a = StoreControl(a_store, tail_a)
        control_b = StoreControl(b_store, tail_b)
        try:
            await _wait(lambda: any(e.kind == "agent_started" for e in seen_a))
            outcome = await control_a.send(Pause(agent_id="agent-1", viewer="alice"))
            assert outcome.applied and outcome.command.command_id > 0
            paused = lambda seen: any(isinstance(e, AgentStatusChanged) and e.agent_id == "agent-1"  # noqa: E731
                                      and e.status == "paused" for e in seen)
            await _wait(lambda: paused(seen_a) and paused(seen_b))
            refused = await control_b.send(Redirect(agent_id="agent-1", message=""))
            assert not refused.applied and "needs a message" in refused.reason
            assert (await control_b.send(Resume(agent_id="agent-1", viewer="bob"))).applied
            await asyncio.sleep(0.5)
            assert engine.poll() is None, "closing or commanding viewers never stops the engine"
        finally:
            await tail_a.close()
            await tail_b.close()
        common = min(len(seen_a), len(seen_b))
        assert common > 10 and seen_a[:common] == seen_b[:common], "both viewers see the same events"
        answers = [e for e in seen_a if isinstance(e, (CommandApplied, CommandRefused))]
        assert [(e.kind, e.command.viewer) for e in answers] == [
            ("command_applied", "alice"), ("command_refused", "tui"), ("command_applied", "bob")]
        assert len({e.command_id for e in answers}) == 3, "each command answered exactly once"
        await a_store.close()
        await b_store.close()
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=30)
