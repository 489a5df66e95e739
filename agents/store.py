"""The append-only event store: SQLite through aiosqlite, WAL, batched writes.

One database file holds one campaign. Appends are buffered in memory and written in
batches (one transaction per batch: tens of thousands of events/s, see
benchmarks/bench_store.py, versus ~3k/s with a commit per event); `flush()` is the
durability point. Nothing is ever updated or deleted, so a crash loses at most the
unflushed tail.

Schema 3 adds ``search``, an FTS5 index of each event's text (``agents.search``) whose
rowid is the event's seq, written in the same transaction as the events. The engine
resuming a schema-2 store migrates it; review and viewers of an older store search a
temporary in-memory index built from its events on the first search.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiosqlite
from pydantic import ValidationError

from agents.commands import Command, command_from_json, command_to_json
from agents.events import Event, event_from_json, event_to_json
from agents.search import (
    MATCH_END,
    MATCH_START,
    SNIPPET_ELLIPSIS,
    SNIPPET_TOKENS,
    SearchHit,
    check_query,
    query_error,
    search_text,
)

SCHEMA_VERSION = 3
# 1: before the commands table (its campaigns open for review); 2: before the search index
READABLE_VERSIONS = (1, 2, 3)
APP_ID = "aar"
BUSY_TIMEOUT_MS = 5000  # the engine and attached viewers write one file from several processes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    agent_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_agent ON events (agent_id, seq);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    viewer TEXT NOT NULL,
    body TEXT NOT NULL
);
"""
# Words split at anything not a letter or digit (so run_experiment is "run experiment"),
# accents folded. The table holds the text itself: snippet() needs it.
_SEARCH_TABLE = "CREATE VIRTUAL TABLE {schema}.search USING fts5(text, tokenize='unicode61 remove_diacritics 2')"
INDEX_BATCH = 1000  # events parsed and indexed per step when building an index from the log


class StoreError(Exception):
    """A store that cannot be used, with a message fit for the user."""


class EventStore:
    """Append-only event log of one campaign."""

    def __init__(self, path: Path, conn: aiosqlite.Connection, *, readonly: bool, version: int = SCHEMA_VERSION,
                 events_writable: bool | None = None) -> None:
        self.path = path
        self.readonly = readonly
        self.version = version
        self.events_writable = (not readonly) if events_writable is None else events_writable
        self._conn = conn
        self._pending: list[Event] = []
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._index_lock = asyncio.Lock()
        self._indexed_seq: int | None = None  # temporary index (schema < 3): events indexed up to here

    @classmethod
    async def create(cls, path: Path) -> EventStore:
        """Create a new store; refuses to append to an existing file by accident."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists; choose a new --db path")
        if not path.parent.is_dir():
            raise StoreError(f"directory {path.parent} does not exist")
        conn = await aiosqlite.connect(path)
        try:
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.executescript(_SCHEMA)
            await conn.execute(_SEARCH_TABLE.format(schema="main"))
            await conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("app", APP_ID), ("schema_version", str(SCHEMA_VERSION))],
            )
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        return cls(path, conn, readonly=False)

    @classmethod
    async def open(cls, path: Path) -> EventStore:
        """Open an existing store read-only (review), checking that it really is one."""
        return await cls._open(path, mode="review")

    @classmethod
    async def attach(cls, path: Path) -> EventStore:
        """Open a store as a viewer: read its events and append commands (never events).
        A store of schema 1 (no commands table) opens for reading only."""
        return await cls._open(path, mode="viewer")

    @classmethod
    async def reopen(cls, path: Path) -> EventStore:
        """Open an existing store for its engine again (``--resume``): events append after the last."""
        return await cls._open(path, mode="engine")

    @classmethod
    async def _open(cls, path: Path, *, mode: str) -> EventStore:
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no such campaign store")
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
        uri = f"file:{path}?mode=ro" if mode == "review" else f"file:{path}?mode=rw"
        conn = await aiosqlite.connect(uri, uri=True)
        try:
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            rows = await conn.execute_fetchall("SELECT key, value FROM meta")
            meta = {str(k): str(v) for k, v in rows}
        except sqlite3.DatabaseError:
            await conn.close()
            raise StoreError(f"{path} is not an aar campaign store") from None
        if meta.get("app") != APP_ID:
            await conn.close()
            raise StoreError(f"{path} is not an aar campaign store")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            await conn.close()
            raise StoreError(f"{path} was written by a newer aar (store schema {version}); this aar reads "
                             f"schema {SCHEMA_VERSION} and older: upgrade aar to open it")
        if version not in READABLE_VERSIONS:
            await conn.close()
            raise StoreError(f"{path} has schema version {version}; this aar reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))}")
        if mode == "engine" and version < 2:
            await conn.close()
            raise StoreError(f"{path} is a campaign of an older aar (store schema {version}): it can be "
                             "reviewed and exported, not resumed")
        if mode == "engine" and version == 2:
            try:
                await _add_search_index(conn)
            except BaseException:
                await conn.close()
                raise
            version = 3
        readonly = mode == "review" or (mode == "viewer" and version < 2)  # schema 1 has no commands table
        return cls(path, conn, readonly=readonly, version=version, events_writable=mode == "engine")

    def append(self, event: Event) -> None:
        """Buffer one event; it is written by the next `flush()`."""
        if not self.events_writable:
            raise StoreError(f"{self.path} is open read-only" if self.readonly else
                             f"{self.path} is open as a viewer: only its engine appends events")
        if self._closed:
            raise StoreError(f"{self.path} is closed")
        self._pending.append(event)

    @property
    def pending(self) -> int:
        """Events buffered but not yet written."""
        return len(self._pending)

    async def flush(self) -> int:
        """Write every buffered event, and its search text, in one transaction; returns how
        many. A flush once begun finishes even if its caller is cancelled (the bus's flusher
        is, at close): its batch has left the buffer and is written, or rolled back on error."""
        return await asyncio.shield(self._write_pending())

    async def _write_pending(self) -> int:
        async with self._write_lock:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            rows = [(e.seq, e.ts, e.kind, e.agent_id, event_to_json(e)) for e in batch]
            texts = [(e.seq, text) for e in batch if (text := search_text(e)) is not None]
            try:
                await self._conn.executemany(
                    "INSERT INTO events (seq, ts, kind, agent_id, body) VALUES (?, ?, ?, ?, ?)", rows)
                await self._conn.executemany("INSERT INTO main.search (rowid, text) VALUES (?, ?)", texts)
                await self._conn.commit()
            except Exception:
                await self._conn.rollback()  # events and their index: both or neither
                raise
            return len(batch)

    async def read(
        self, *, after_seq: int = 0, agent_id: str | None = None, kinds: Sequence[str] = ()
    ) -> AsyncIterator[Event]:
        """Stream stored events in `seq` order."""
        sql = "SELECT body FROM events WHERE seq > ?"
        params: list[object] = [after_seq]
        if agent_id is not None:
            sql += " AND agent_id = ?"
            params.append(agent_id)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        sql += " ORDER BY seq"
        async with self._conn.execute(sql, params) as cursor:
            while rows := await cursor.fetchmany(1000):
                for (body,) in rows:
                    yield event_from_json(body)

    async def read_all(self) -> list[Event]:
        """Every stored event, in order."""
        return [e async for e in self.read()]

    async def search(
        self, query: str, *, agent_id: str | None = None, kinds: Sequence[str] = (), limit: int = 100
    ) -> list[SearchHit]:
        """Flushed events whose text matches ``query``, newest first (seq descending), at
        most ``limit``; optionally only ``agent_id``'s and only these ``kinds``.

        ``query`` is FTS5 syntax (words, "phrases", AND / OR / NOT, prefix*, NEAR(),
        parentheses); an empty, overlong or malformed one raises SearchError, and changes
        nothing. Snippets mark matches with ``agents.search.MATCH_START`` / ``MATCH_END``.
        A store older than schema 3 is indexed in memory on the first search (off the
        event loop), then brought up to date on each later one."""
        check_query(query)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if self._closed:
            raise StoreError(f"{self.path} is closed")
        if self.version < 3:
            await self._update_temporary_index()
        sql = ("SELECT s.rowid, e.ts, e.kind, e.agent_id, snippet(s.search, 0, ?, ?, ?, ?) "
               "FROM search AS s CROSS JOIN events AS e ON e.seq = s.rowid WHERE s.search MATCH ?")
        # CROSS JOIN keeps the index outermost: matches come newest first and stop at the limit
        params: list[object] = [MATCH_START, MATCH_END, SNIPPET_ELLIPSIS, SNIPPET_TOKENS, query]
        if agent_id is not None:
            sql += " AND e.agent_id = ?"
            params.append(agent_id)
        if kinds:
            sql += f" AND e.kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        sql += " ORDER BY s.rowid DESC LIMIT ?"
        params.append(limit)
        try:
            rows = await self._conn.execute_fetchall(sql, params)
        except sqlite3.OperationalError as exc:
            error = query_error(query, str(exc))
            if error is None:
                raise StoreError(f"{self.path}: search failed ({exc})") from None
            raise error from None
        return [SearchHit(seq=int(seq), agent_id=agent, kind=str(kind), ts=float(ts), snippet=str(snippet))
                for seq, ts, kind, agent, snippet in rows]

    async def _update_temporary_index(self) -> None:
        async with self._index_lock:
            if self._indexed_seq is None:
                await self._conn.execute("PRAGMA temp_store=MEMORY")
                await self._conn.execute(_SEARCH_TABLE.format(schema="temp"))
                self._indexed_seq = 0
            async for last_seq, texts in _unindexed(self._conn, self._indexed_seq):
                await asyncio.shield(self._add_to_temporary_index(texts, last_seq))

    async def _add_to_temporary_index(self, texts: list[tuple[int, str]], last_seq: int) -> None:
        # Shielded and committed batch by batch: a search cancelled midway must not leave a
        # transaction open (it would pin this connection's snapshot: a viewer's tail would
        # stop seeing new events). OR REPLACE: a batch indexed twice after a cancel is harmless.
        await self._conn.executemany("INSERT OR REPLACE INTO temp.search (rowid, text) VALUES (?, ?)", texts)
        await self._conn.commit()
        self._indexed_seq = max(self._indexed_seq or 0, last_seq)

    async def add_command(self, command: Command) -> Command:
        """Append a command to the commands table (committed at once); returns it with its id."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only: commands cannot be sent")
        body = command_to_json(command.model_copy(update={"command_id": 0}))
        async with self._write_lock:
            cursor = await self._conn.execute(
                "INSERT INTO commands (ts, viewer, body) VALUES (?, ?, ?)", (command.issued_at, command.viewer, body)
            )
            await self._conn.commit()
        row_id = cursor.lastrowid
        assert row_id is not None
        return command.model_copy(update={"command_id": int(row_id)})

    async def read_commands(self, after_id: int = 0) -> list[Command]:
        """Commands with a row id above ``after_id``, in order (none in a schema-1 store)."""
        if self.version < 2:
            return []
        rows = await self._conn.execute_fetchall("SELECT id, body FROM commands WHERE id > ? ORDER BY id", (after_id,))
        return [command_from_json(body).model_copy(update={"command_id": int(row_id)}) for row_id, body in rows]

    async def last_seq(self) -> int:
        rows = list(await self._conn.execute_fetchall("SELECT MAX(seq) FROM events"))
        return int(rows[0][0] or 0)

    async def __aenter__(self) -> EventStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Flush and close; idempotent. (aiosqlite runs a non-daemon thread per
        connection: an unclosed store keeps the process alive.)"""
        if self._closed:
            return
        try:
            if self.events_writable:
                await asyncio.shield(self.flush())
        finally:
            self._closed = True
            await self._conn.close()


def _texts(rows: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    texts = []
    for seq, body in rows:
        try:
            text = search_text(event_from_json(body))
        except ValidationError:
            continue  # an event this aar cannot parse is left out of the index, not fatal to search
        if text is not None:
            texts.append((seq, text))
    return texts


async def _unindexed(conn: aiosqlite.Connection, after_seq: int) -> AsyncIterator[tuple[int, list[tuple[int, str]]]]:
    """The search texts of the stored events after ``after_seq``, a batch at a time, each
    with the last seq it covers."""
    while True:
        rows = await conn.execute_fetchall(
            "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, INDEX_BATCH))
        if not rows:
            return
        batch = [(int(seq), str(body)) for seq, body in rows]
        after_seq = batch[-1][0]
        yield after_seq, await asyncio.to_thread(_texts, batch)  # parsing is the slow part: off the loop


async def _add_search_index(conn: aiosqlite.Connection) -> None:
    """Migrate a schema-2 store to 3: the search table, backfilled, in one transaction."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(_SEARCH_TABLE.format(schema="main"))
        async for _, texts in _unindexed(conn, 0):
            await conn.executemany("INSERT INTO main.search (rowid, text) VALUES (?, ?)", texts)
        await conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        await conn.commit()
    except BaseException:
        await asyncio.shield(conn.rollback())
        raise
