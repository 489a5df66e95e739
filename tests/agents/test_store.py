"""The event store: round trip, order, batching, and refusing what is not a store."""

import sqlite3
from pathlib import Path

import pytest

from agents.bus import EventBus
from agents.events import AgentStatusChanged, NoteAdded, SubmissionScored
from agents.store import EventStore, StoreError


async def test_round_trip_keeps_every_event_in_publish_order(tmp_path: Path) -> None:
    async with await EventStore.create(tmp_path / "c.db") as store:
        bus = EventBus(store)
        published = []
        for i in range(2500):
            agent = f"agent-{i % 3}"
            if i % 7 == 0:
                event = SubmissionScored(agent_id=agent, submission_id=i, method="m", valid=True, public_pgr=i / 2500)
            else:
                event = NoteAdded(agent_id=agent, text=f"line {i}")
            published.append(bus.publish(event))
        await bus.close()

    async with await EventStore.open(tmp_path / "c.db") as reopened:
        stored = await reopened.read_all()
        only_agent_1 = [e async for e in reopened.read(agent_id="agent-1")]
        tail = [e async for e in reopened.read(after_seq=2490)]
    assert [e.seq for e in stored] == list(range(1, 2501))
    assert stored == published
    assert only_agent_1 == [e for e in published if e.agent_id == "agent-1"]
    assert [e.seq for e in tail] == list(range(2491, 2501))


async def test_nothing_reaches_disk_before_flush_and_everything_after(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with await EventStore.create(path) as store:
        store.append(AgentStatusChanged(seq=1, agent_id="a", status="thinking"))
        with sqlite3.connect(path) as raw:
            before = raw.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        flushed = await store.flush()
        with sqlite3.connect(path) as raw:
            after = raw.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            journal = raw.execute("PRAGMA journal_mode").fetchone()[0]
    assert (before, flushed, after, journal) == (0, 1, 1, "wal")


async def test_read_only_store_refuses_appends(tmp_path: Path) -> None:
    await (await EventStore.create(tmp_path / "c.db")).close()
    async with await EventStore.open(tmp_path / "c.db") as store:
        with pytest.raises(StoreError, match="read-only"):
            store.append(NoteAdded(agent_id="a", text="x"))


async def test_missing_file_is_refused_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such campaign store"):
        await EventStore.open(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


async def test_non_store_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database\n" * 100)
    with pytest.raises(StoreError, match="not an aar campaign store"):
        await EventStore.open(text)
    other_db = tmp_path / "other.db"
    with sqlite3.connect(other_db) as raw:
        raw.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not an aar campaign store"):
        await EventStore.open(other_db)


async def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "c.db").write_text("precious")
    with pytest.raises(StoreError, match="already exists"):
        await EventStore.create(tmp_path / "c.db")
    assert (tmp_path / "c.db").read_text() == "precious"
