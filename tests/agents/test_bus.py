"""The event bus's flusher: closing it never hangs, whatever it was waiting on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agents.bus import EventBus
from agents.events import NoteAdded
from agents.store import EventStore


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_close_right_after_a_wake_stops_the_flusher(tmp_path: Path, turns: int) -> None:
    # On Python 3.11, wait_for() swallows a cancel that lands just after what it waits on
    # completed: a flusher waiting so would ignore close() and run forever.
    me = asyncio.current_task()
    assert me is not None
    watchdog = asyncio.get_running_loop().call_later(5, me.cancel)  # (close() would absorb this cancel)
    try:
        async with await EventStore.create(tmp_path / "c.db") as store:
            bus = EventBus(store, batch_size=5)
            bus.start()
            for _ in range(3):
                await asyncio.sleep(0)  # the flusher is waiting for a wake
            for i in range(5):
                bus.publish(NoteAdded(text=f"n{i}"))  # the fifth wakes it
            for _ in range(turns):
                await asyncio.sleep(0)
            started = time.monotonic()
            await bus.close()
            assert time.monotonic() - started < 2, "close() waited on a flusher that ignored its cancel"
            assert [e.seq for e in await store.read_all()] == [1, 2, 3, 4, 5]
    finally:
        watchdog.cancel()
