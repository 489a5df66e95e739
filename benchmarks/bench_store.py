"""Measure the event store: publish+flush throughput (with and without the search index),
replay speed, bytes per event, search latency, and what an older store costs to search.

    python benchmarks/bench_store.py [--events 100000] [--repeat 40]

Events are ~300-byte tool-output lines spread over 9 agents, published through the
bus (numbering, subscriber fan-out, batching) as the engine does. Each line carries a
word of its own (``step<i>``) so that rare words have something to find.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.bus import EventBus  # noqa: E402
from agents.events import ToolOutputEmitted  # noqa: E402
from agents.store import EventStore  # noqa: E402
from agents.views import CampaignView, apply  # noqa: E402

LINE = "epoch  100  loss 0.5012  held-out agreement with weak labels 0.912 " * 3
QUERIES: list[tuple[str, str, dict[str, object]]] = [
    # (label, query, filters)
    ("common word, newest 100", "loss", {}),
    ("one event's word", "step54321", {}),
    ("phrase", '"weak labels"', {}),
    ("prefix", "agree*", {}),
    ("AND of a rare and a common word", "step777 AND loss", {}),
    ("common word, one agent", "loss", {"agent_id": "agent-3"}),
    ("no match", "nonexistentword", {}),
    ("common word, a kind none has (scans every match)", "loss", {"kinds": ["note_added"]}),
]


async def write(path: Path, n: int) -> float:
    async with await EventStore.create(path) as store:
        bus = EventBus(store)
        view = CampaignView()
        bus.subscribe(lambda e: apply(view, e))
        bus.start()
        started = time.perf_counter()
        for i in range(n):
            bus.publish(ToolOutputEmitted(agent_id=f"agent-{i % 9}", call_id="c", stream="stdout",
                                          line=f"{LINE} step{i}"))
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let the flusher run, as the engine's awaits do
        await bus.close()
        return time.perf_counter() - started


async def watch_loop(stalls: list[float]) -> None:
    """Record how late each 1 ms sleep wakes: how long something else held the event loop."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        stalls.append(time.perf_counter() - started - 0.001)


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), cuts[18]


async def main(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        write_s = await write(path, n)
        with mock.patch("agents.store.search_text", lambda event: None):  # the same store, nothing indexed
            bare_s = await write(Path(tmp) / "bare.db", n)
        size = path.stat().st_size
        bare_size = (Path(tmp) / "bare.db").stat().st_size
        async with await EventStore.open(path) as store:
            started = time.perf_counter()
            everything = await store.read_all()
            replay_all_s = time.perf_counter() - started
            started = time.perf_counter()
            one = [e async for e in store.read(agent_id="agent-3")]
            replay_one_s = time.perf_counter() - started
            latencies = {}
            for label, query, filters in QUERIES:
                samples, hits = [], 0
                for _ in range(repeat):
                    started = time.perf_counter()
                    hits = len(await store.search(query, **filters))  # type: ignore[arg-type]
                    samples.append(time.perf_counter() - started)
                latencies[label] = (query, hits, *percentiles(samples))
        assert len(everything) == n
        print(f"publish + apply + batched write, search index on:  {n / write_s:,.0f} events/s ({write_s:.2f}s)")
        print(f"publish + apply + batched write, search index off: {n / bare_s:,.0f} events/s ({bare_s:.2f}s)")
        print(f"replay all: {n / replay_all_s:,.0f} events/s ({replay_all_s:.2f}s)")
        print(f"replay one agent ({len(one)} events): {replay_one_s:.2f}s")
        print(f"store size: {size / n:.0f} bytes/event, {size / 2**20:.1f} MiB "
              f"(without the index: {bare_size / n:.0f} bytes/event)")
        print(f"search latency over {n:,} events ({repeat} runs each, limit 100):")
        for label, (query, hits, p50, p95) in latencies.items():
            print(f"  {label:<50} {query!r:<22} {hits:>3} hits  p50 {p50 * 1e3:7.2f} ms  p95 {p95 * 1e3:7.2f} ms")

        older = Path(tmp) / "older.db"
        shutil.copy(path, older)
        with sqlite3.connect(older) as raw:
            raw.execute("DROP TABLE search")
            raw.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        async with await EventStore.open(older) as review:
            stalls: list[float] = []
            ticking = asyncio.create_task(watch_loop(stalls))
            started = time.perf_counter()
            await review.search("loss")
            first_s = time.perf_counter() - started
            ticking.cancel()
            started = time.perf_counter()
            await review.search("loss")
            second_s = time.perf_counter() - started
        started = time.perf_counter()
        await (await EventStore.reopen(older)).close()
        migrate_s = time.perf_counter() - started
        print(f"schema-2 store in review: first search (builds the in-memory index) {first_s:.2f}s "
              f"(longest event-loop stall meanwhile {max(stalls) * 1e3:.0f} ms), next {second_s * 1e3:.1f} ms; "
              f"resume migrates it in {migrate_s:.2f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.repeat))
