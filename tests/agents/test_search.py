"""Full-text search over the event store: what each event kind makes findable, filters,
query errors, older stores (searched in memory, migrated on resume) and live viewers."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from agents.commands import Redirect, Stop
from agents.conversation import (
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    user_text,
)
from agents.events import (
    AgentStarted,
    AgentStatusChanged,
    ApprovalDecided,
    ApprovalRequested,
    BlockCompleted,
    BlockDelta,
    BudgetReached,
    CommandApplied,
    CommandRefused,
    EngineDecided,
    Event,
    ForumAttachment,
    ForumPosted,
    MessageAdded,
    NoteAdded,
    ReproductionJudged,
    SubmissionScored,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutputEmitted,
    TurnFailed,
)
from agents.search import MATCH_END, MATCH_START, SearchError, search_text, snippet_parts
from agents.store import EventStore, StoreError


def _block(seq: int, block: object) -> BlockCompleted:
    return BlockCompleted.model_validate({"seq": seq, "agent_id": "agent-0", "turn": 1, "attempt": 1, "index": 0,
                                          "block": block})


def _every_kind() -> tuple[list[Event], dict[str, list[int]]]:
    """One event of each searchable kind (and some that must not be found), numbered from
    1, and the seqs each query must find."""
    attachment = ForumAttachment(path="plots/ibex.png", shared_path="forum/1/ibex.png", size=3, sha256="0" * 64)
    events: list[Event] = [
        _block(1, ThinkingBlock(thinking="pondering the quasar", signature="sig")),
        _block(2, TextBlock(text="the answer is nebula")),
        _block(3, ToolUseBlock(id="t1", name="run_experiment", input={"script": "train_pulsar.py", "seed": 7})),
        _block(4, RedactedThinkingBlock(data="opaqueblob")),
        BlockDelta(seq=5, agent_id="agent-0", turn=1, attempt=1, index=0, block_type="text", text="zebra deltaonly"),
        _block(6, TextBlock(text="zebra crossing")),
        ToolOutputEmitted(seq=7, agent_id="agent-0", call_id="c1", stream="stdout", line="epoch 3 magnetar 0.42"),
        ToolCallFinished(seq=8, agent_id="agent-0", call_id="c1", tool="inspect", ok=True, summary="read quokka",
                         duration_s=0.1, result=ToolResultBlock(tool_use_id="c1", content="wombat inside")),
        ToolCallStarted(seq=9, agent_id="agent-0", call_id="c2", tool="bash", arguments={"command": "ls capybara"}),
        MessageAdded(seq=10, agent_id="agent-0", message=user_text("the brief about axolotl", "task")),
        MessageAdded(seq=11, agent_id="agent-0", message=user_text("look at narwhal", "supervisor")),
        MessageAdded(seq=12, agent_id="agent-0", message=user_text("harness says pangolin", "harness")),
        ForumPosted(seq=13, agent_id="agent-1", post_id=1, post_kind="result", text="forum okapi",
                    attachments=[attachment]),
        NoteAdded(seq=14, agent_id="agent-1", text="remember the tapir"),
        SubmissionScored(seq=15, agent_id="agent-1", submission_id=1, method="gecko method", valid=False,
                         error="kiwi error", feedback="lemur feedback",
                         flags=[{"code": "split_divergence", "reason": "marmot reason"}]),
        ReproductionJudged(seq=16, agent_id="agent-1", submission_id=1, verdict="not reproduced",
                           reason="meerkat variance"),
        ApprovalRequested(seq=17, agent_id="agent-1", request_id=1, tool="bash", arguments={"command": "rm jackal"},
                          rule="hyena rule"),
        ApprovalDecided(seq=18, agent_id="agent-1", request_id=1, decision="denied", command_id=1,
                        reason="mongoose reason"),
        TurnFailed(seq=19, agent_id="agent-1", turn=2, attempt=1, error="stream cut ocelot", will_retry=True),
        CommandApplied(seq=20, agent_id="agent-1", command_id=1, command=Redirect(agent_id="agent-1",
                                                                                  message="platypus focus")),
        CommandRefused(seq=21, command_id=2, command=Stop(reason="wolverine"), reason="badger refusal"),
        AgentStarted(seq=22, agent_id="agent-2", backend="baseline", direction="try echidna", sandbox_workdir="/w",
                     sandbox_isolation="none"),
        BudgetReached(seq=23, agent_id="agent-2", budget="dollars", limit=5, used=5.25),
        EngineDecided(seq=24, agent_id="agent-2", decision="pause", reason="chinchilla clock"),
        AgentStatusChanged(seq=25, agent_id="agent-2", status="paused", reason="vicuna"),
    ]
    expected = {
        "quasar": [1], "nebula": [2], "pulsar": [3], "run_experiment": [3], "opaqueblob": [], "deltaonly": [],
        "zebra": [6], "magnetar": [7], "quokka": [8], "wombat": [8], "capybara": [9], "axolotl": [10],
        "narwhal": [11], "pangolin": [12], "okapi": [13], "ibex": [13], "tapir": [14], "gecko": [15], "kiwi": [15],
        "lemur": [15], "marmot": [15], "split_divergence": [15], "meerkat": [16], '"not reproduced"': [16],
        "jackal": [17], "hyena": [17], "mongoose": [18], "ocelot": [19], "platypus": [20], "wolverine": [21],
        "badger": [21], "echidna": [22], '"dollars budget reached"': [23], "chinchilla": [24], "vicuna": [],
        "bash": [17, 9],
    }
    return events, expected


async def _store_with(path: Path, events: list[Event]) -> EventStore:
    store = await EventStore.create(path)
    for event in events:
        store.append(event)
    await store.flush()
    return store


async def _found(store: EventStore, queries: dict[str, list[int]]) -> dict[str, list[int]]:
    return {query: [hit.seq for hit in await store.search(query)] for query in queries}


async def _older_store(path: Path, events: list[Event], version: int) -> None:
    await (await _store_with(path, events)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE search")
        if version < 2:
            raw.execute("DROP TABLE commands")
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))


def _raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        return raw.execute(sql).fetchall()


def _tables(path: Path) -> set[object]:
    return {name for (name,) in _raw(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _files_digest(path: Path) -> dict[str, str]:
    """The store's bytes: the database and any write-ahead log with frames in it (opening a
    WAL store creates an empty log and a shared-memory index, which hold no data)."""
    files = [path, path.with_name(path.name + "-wal")]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.exists() and p.stat().st_size}


async def test_every_kind_is_findable_by_its_text_and_deltas_are_not(tmp_path: Path) -> None:
    events, expected = _every_kind()
    async with await _store_with(tmp_path / "c.db", events) as store:
        assert await _found(store, expected) == expected
        [hit] = await store.search("quasar")
    assert (hit.seq, hit.agent_id, hit.kind, hit.ts) == (1, "agent-0", "block_completed", events[0].ts)
    assert hit.snippet == f"pondering the {MATCH_START}quasar{MATCH_END}"
    assert snippet_parts(hit.snippet) == [("pondering the ", False), ("quasar", True)]


def test_search_text_of_deltas_and_redacted_thinking_is_none_and_markers_are_blanked() -> None:
    delta = BlockDelta(turn=1, attempt=1, index=0, block_type="thinking", text="hidden")
    assert search_text(delta) is None
    assert search_text(_block(1, RedactedThinkingBlock(data="x"))) is None
    assert search_text(NoteAdded(text=f"a{MATCH_START}b{MATCH_END}c")) == "a b c"
    assert search_text(ToolCallStarted(call_id="c", tool="bash", arguments={"command": "ls"})) == \
        'bash\n{"command": "ls"}'


async def test_agent_kind_and_limit_filters(tmp_path: Path) -> None:
    events: list[Event] = []
    for seq in range(1, 31):
        agent = f"agent-{seq % 3}"
        if seq % 2:
            events.append(NoteAdded(seq=seq, agent_id=agent, text=f"common note {seq}"))
        else:
            events.append(ToolOutputEmitted(seq=seq, agent_id=agent, call_id="c", stream="stdout",
                                            line=f"common output {seq}"))
    async with await _store_with(tmp_path / "c.db", events) as store:
        everything = [h.seq for h in await store.search("common")]
        agent_1 = [h.seq for h in await store.search("common", agent_id="agent-1")]
        notes = [h.seq for h in await store.search("common", kinds=["note_added"])]
        both = [h.seq for h in await store.search("common", agent_id="agent-1", kinds=["note_added", "block_delta"])]
        newest = [h.seq for h in await store.search("common", limit=3)]
        nobody = await store.search("common", agent_id="agent-9")
        with pytest.raises(ValueError):
            await store.search("common", limit=0)
    assert everything == list(range(30, 0, -1))
    assert agent_1 == [28, 25, 22, 19, 16, 13, 10, 7, 4, 1]
    assert notes == list(range(29, 0, -2))
    assert both == [25, 19, 13, 7, 1]
    assert newest == [30, 29, 28]
    assert nobody == []


async def test_query_syntax_words_phrases_boolean_and_prefix(tmp_path: Path) -> None:
    events: list[Event] = [NoteAdded(seq=1, text="loss went down after warmup"),
                           NoteAdded(seq=2, text="loss went up"),
                           NoteAdded(seq=3, text="warm restart, accuracy 0.91")]
    async with await _store_with(tmp_path / "c.db", events) as store:
        found = await _found(store, {"loss": [], '"went down"': [], "loss NOT up": [], "up OR restart": [],
                                     "warm*": [], '"0.91"': [], "LOSS": [], "NEAR(loss warmup, 4)": []})
    assert found == {"loss": [2, 1], '"went down"': [1], "loss NOT up": [1], "up OR restart": [3, 2],
                     "warm*": [3, 1], '"0.91"': [3], "LOSS": [2, 1], "NEAR(loss warmup, 4)": [1]}


BAD_QUERIES = [
    ('foo"', "not closed"),
    ("AND", 'near "AND"'),
    ("(", "ends too early"),
    ("NEAR(", "ends too early"),
    ("*", "stands alone"),
    ("loss=0.5", 'near "="'),
    ("foo-bar", '"bar" reads as a column name'),
    ("", "empty"),
    ("  \n\t", "empty"),
    ("x" * 1001, "1,001 characters"),
]


@pytest.mark.parametrize("version", [3, 2])
async def test_bad_queries_raise_search_error_and_change_nothing(tmp_path: Path, version: int) -> None:
    path = tmp_path / "c.db"
    events: list[Event] = [NoteAdded(seq=1, agent_id="a", text="loss 0.5"), NoteAdded(seq=2, text="other")]
    if version == 2:
        await _older_store(path, events, 2)
    else:
        await (await _store_with(path, events)).close()
    before = _files_digest(path)
    async with await EventStore.open(path) as store:
        for query, needle in BAD_QUERIES:
            with pytest.raises(SearchError) as caught:
                await store.search(query)
            message = str(caught.value)
            assert needle in message and "\n" not in message and message.startswith("search: "), message
            if query.strip() and len(query) <= 1000:
                assert "quote text with punctuation" in message, message
        assert _files_digest(path) == before, "a failed search writes nothing"
        assert [h.seq for h in await store.search('"loss 0.5"')] == [1]
    assert _files_digest(path) == before
    assert _raw(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(version),)]


@pytest.mark.parametrize("version", [2, 1])
async def test_an_older_store_is_searchable_in_review_and_attached(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.db"
    events, expected = _every_kind()
    await _older_store(path, events, version)
    before = _files_digest(path)
    async with await EventStore.open(path) as review:
        assert review.version == version
        assert await _found(review, expected) == expected
    async with await EventStore.attach(path) as viewer:
        assert await _found(viewer, expected) == expected
        assert viewer.readonly == (version == 1), "a schema-2 store still takes commands"
        if version == 2:
            await viewer.add_command(Stop(agent_id="agent-0"))
    if version == 1:
        assert _files_digest(path) == before, "review and viewers of a schema-1 store write nothing"
    assert "search" not in _tables(path)
    assert _raw(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(version),)]


async def test_the_in_memory_index_of_an_older_store_follows_new_events(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    await _older_store(path, [NoteAdded(seq=1, agent_id="a", text="kestrel one")], 2)
    async with await EventStore.open(path) as review:
        assert [h.seq for h in await review.search("kestrel")] == [1]
        with sqlite3.connect(path) as raw:  # an older engine still writing: events, no index
            raw.executemany("INSERT INTO events (seq, ts, kind, agent_id, body) VALUES (?, ?, ?, ?, ?)",
                            [(e.seq, e.ts, e.kind, e.agent_id, e.model_dump_json())
                             for e in (NoteAdded(seq=2, agent_id="b", text="kestrel two"),
                                       NoteAdded(seq=3, agent_id="b", text="falcon"))])
        assert [h.seq for h in await review.search("kestrel")] == [2, 1]
        assert [h.seq for h in await review.search("kestrel OR falcon", agent_id="b")] == [3, 2]


async def test_a_search_cancelled_while_indexing_leaves_the_viewer_reading_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.store

    monkeypatch.setattr(agents.store, "INDEX_BATCH", 100)
    path = tmp_path / "old.db"
    await _older_store(path, [NoteAdded(seq=seq, agent_id="a", text=f"grebe {seq}") for seq in range(1, 1001)], 2)
    async with await EventStore.attach(path) as viewer:
        calls = 0
        executemany = viewer._conn.executemany

        async def cancel_the_search_during_a_batch(sql: str, rows: object) -> object:
            nonlocal calls
            calls += 1
            if calls == 3:
                searching.cancel()
            return await executemany(sql, rows)  # type: ignore[arg-type]

        monkeypatch.setattr(viewer._conn, "executemany", cancel_the_search_during_a_batch)
        searching = asyncio.create_task(viewer.search("grebe"))
        with pytest.raises(asyncio.CancelledError):
            await searching
        monkeypatch.undo()
        for seq in (1001, 1002):  # the engine writes on; the viewer's tail must see each event
            with sqlite3.connect(path) as raw:
                late = NoteAdded(seq=seq, agent_id="a", text="grebe late")
                raw.execute("INSERT INTO events (seq, ts, kind, agent_id, body) VALUES (?, ?, ?, ?, ?)",
                            (late.seq, late.ts, late.kind, late.agent_id, late.model_dump_json()))
            assert [e.seq async for e in viewer.read(after_seq=seq - 1)] == [seq], "a transaction left open"
        hits = await viewer.search("grebe", limit=2000)
    assert [h.seq for h in hits] == list(range(1002, 0, -1))


async def test_resuming_a_schema_2_store_migrates_and_indexes_new_events(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    events, expected = _every_kind()
    await _older_store(path, events, 2)
    async with await EventStore.reopen(path) as engine:
        assert engine.version == 3
        assert _raw(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("3",)]
        assert _raw(path, "SELECT COUNT(*) FROM search") == [(sum(1 for e in events if search_text(e)),)]
        assert await _found(engine, expected) == expected
        engine.append(NoteAdded(seq=26, agent_id="agent-0", text="quasar again"))
        await engine.flush()
        assert [h.seq for h in await engine.search("quasar")] == [26, 1]
    async with await EventStore.open(path) as review:
        assert review.version == 3
        assert [h.seq for h in await review.search("quasar")] == [26, 1]
    assert "search" in _tables(path)


async def test_a_failed_migration_leaves_the_store_at_schema_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agents.store

    path = tmp_path / "old.db"
    await _older_store(path, [NoteAdded(seq=1, text="a"), NoteAdded(seq=2, text="b")], 2)

    def broken(rows: object) -> list[tuple[int, str]]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(agents.store, "_texts", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        await EventStore.reopen(path)
    assert "search" not in _tables(path)
    assert _raw(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]


async def test_a_viewer_sees_events_flushed_since_its_last_search(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with await _store_with(path, [NoteAdded(seq=1, agent_id="a", text="heron")]) as engine:
        viewer, review = await EventStore.attach(path), await EventStore.open(path)
        try:
            assert [h.seq for h in await viewer.search("heron")] == [1]
            assert [h.seq for h in await review.search("heron")] == [1]
            engine.append(NoteAdded(seq=2, agent_id="b", text="heron again"))
            engine.append(BlockDelta(seq=3, agent_id="b", turn=1, attempt=1, index=0, block_type="text", text="heron"))
            assert engine.pending == 2 and [h.seq for h in await engine.search("heron")] == [1], "flushed only"
            await engine.flush()
            assert [h.seq for h in await viewer.search("heron")] == [2, 1]
            assert [h.seq for h in await review.search("heron", agent_id="b")] == [2]
        finally:
            await viewer.close()
            await review.close()


async def test_a_flush_cancelled_mid_write_still_writes_its_events_and_their_index(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with await EventStore.create(path) as store:
        for seq in range(1, 5001):
            store.append(NoteAdded(seq=seq, agent_id="a", text=f"plover {seq}"))
        flushing = asyncio.create_task(store.flush())
        await asyncio.sleep(0.001)  # the bus's flusher, cancelled by its close mid-batch
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing
        assert store.pending == 0 and await store.flush() == 0  # (waits for the write under way)
        assert [h.seq for h in await store.search("plover", limit=2)] == [5000, 4999]
    assert _raw(path, "SELECT COUNT(*) FROM events") == [(5000,)]
    assert _raw(path, "SELECT COUNT(*) FROM search WHERE search MATCH 'plover'") == [(5000,)]


async def test_newer_schema_is_refused_and_schema_1_is_not_resumed(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    await (await EventStore.create(newer)).close()
    with sqlite3.connect(newer) as raw:
        raw.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    for opener in (EventStore.open, EventStore.attach, EventStore.reopen):
        with pytest.raises(StoreError, match="newer aar"):
            await opener(newer)
    older = tmp_path / "older.db"
    await _older_store(older, [NoteAdded(seq=1, text="a")], 1)
    with pytest.raises(StoreError, match="not resumed"):
        await EventStore.reopen(older)
    assert _raw(older, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
