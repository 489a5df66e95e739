"""Measure the event store: publish+flush throughput, replay speed, bytes per event.

    python benchmarks/bench_store.py [--events 100000]

Events are ~300-byte tool-output lines spread over 9 agents, published through the
bus (numbering, subscriber fan-out, batching) as the engine does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.bus import EventBus  # noqa: E402
from agents.events import ToolOutputEmitted  # noqa: E402
from agents.store import EventStore  # noqa: E402
from agents.views import CampaignView, apply  # noqa: E402


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        line = "epoch  100  loss 0.5012  held-out agreement with weak labels 0.912 " * 3
        async with await EventStore.create(path) as store:
            bus = EventBus(store)
            view = CampaignView()
            bus.subscribe(lambda e: apply(view, e))
            bus.start()
            started = time.perf_counter()
            for i in range(n):
                bus.publish(ToolOutputEmitted(agent_id=f"agent-{i % 9}", call_id="c", stream="stdout", line=line))
                if i % 1000 == 999:
                    await asyncio.sleep(0)  # let the flusher run, as the engine's awaits do
            await bus.close()
            write_s = time.perf_counter() - started
        size = path.stat().st_size
        async with await EventStore.open(path) as store:
            started = time.perf_counter()
            everything = await store.read_all()
            replay_all_s = time.perf_counter() - started
            started = time.perf_counter()
            one = [e async for e in store.read(agent_id="agent-3")]
            replay_one_s = time.perf_counter() - started
        assert len(everything) == n
        print(f"publish + apply + batched write: {n / write_s:,.0f} events/s ({n} events, {write_s:.2f}s)")
        print(f"replay all: {n / replay_all_s:,.0f} events/s ({replay_all_s:.2f}s)")
        print(f"replay one agent ({len(one)} events): {replay_one_s:.2f}s")
        print(f"store size: {size / n:.0f} bytes/event, {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().events))
