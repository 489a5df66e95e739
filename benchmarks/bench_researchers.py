"""Researcher loop costs: overhead per tool call, and 32 Claude agents streaming at once.

    python benchmarks/bench_researchers.py [--calls 200] [--agents 32] [--turns 4]

1. Loop overhead per tool call (target <= 20 ms): a scripted in-process model asks for
   one tool per turn; ``notebook`` calls measure the loop alone (validation, events,
   conversation), ``run_command true`` calls are measured against the local sandbox's
   own exec time for the same command, and the difference is the loop's share.
2. N Claude agents (the real anthropic client, the real Claude backend) streaming from
   the fake Messages API at once, each turn a long thinking block, a text block and a
   tool call, paced at ~100 stream events per second per agent. Prints stream deltas
   per second, the coalesced delta events per second that reach the store, and how far
   the store lags behind the bus (events published but not yet written; sampled every
   50 ms), and checks that every published event was stored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from agents.backend import AssistantTurn, TurnRequest, TurnSink  # noqa: E402
from agents.budgets import BudgetKeeper  # noqa: E402
from agents.bus import EventBus  # noqa: E402
from agents.claude import ClaudeResearcher  # noqa: E402
from agents.conversation import TextBlock, ToolUseBlock  # noqa: E402
from agents.events import BlockDelta, Event, TokenUsage, ToolCallFinished  # noqa: E402
from agents.forum import Forum, Notebooks  # noqa: E402
from agents.researcher import AgentControl, Researcher  # noqa: E402
from agents.settings import AarSettings  # noqa: E402
from agents.store import EventStore  # noqa: E402
from agents.submissions import SubmissionDesk  # noqa: E402
from agents.tools import ResearchServices, Toolbox  # noqa: E402
from experiments import Scorer, TaskBaselines  # noqa: E402
from sandboxes import SandboxLimits, create_sandbox  # noqa: E402
from tests.fakes.messages_api import FakeMessagesAPI, Stream, text, thinking, tool_use  # noqa: E402

TARGET_OVERHEAD_MS = 20.0


class ToolPerTurn:
    """A model that asks for the same tool every turn, ``calls`` times, then stops."""

    name = "bench"
    model = ""

    def __init__(self, tool: str, arguments: dict[str, object], calls: int) -> None:
        self._tool, self._arguments, self._calls = tool, arguments, calls

    async def stream_turn(self, request: TurnRequest, sink: TurnSink) -> AssistantTurn:
        if request.turn > self._calls:
            return AssistantTurn((TextBlock(text="done"),), "end_turn", TokenUsage())
        use = ToolUseBlock(id=f"toolu_{request.turn}", name=self._tool, input=self._arguments)
        sink.block(0, use)
        return AssistantTurn((use,), "tool_use", TokenUsage())

    async def summarize(self, request: TurnRequest) -> tuple[str, TokenUsage]:
        return "", TokenUsage()

    async def aclose(self) -> None:
        return None


def _services(bus: EventBus, root: Path) -> tuple[ResearchServices, BudgetKeeper]:
    budgets = BudgetKeeper(agent_limits={}, campaign_limits={})
    n = 100
    scorer = Scorer([f"t{i}" for i in range(n)], np.zeros(n, dtype=int), np.arange(n) % 2 == 0,
                    TaskBaselines(0.6, 0.8, 0.6, 0.8))
    desk = SubmissionDesk(scorer, bus, budgets=budgets, per_hour=10)
    return ResearchServices(desk, Forum(bus, root / "shared"), Notebooks(bus)), budgets


async def _loop_run(root: Path, backend: object, agent: str) -> tuple[float, list[Event]]:
    async with await EventStore.create(root / f"{agent}.db") as store:
        bus = EventBus(store)
        bus.start()
        events: list[Event] = []
        bus.subscribe(events.append)
        services, budgets = _services(bus, root)
        sandbox = create_sandbox("local", workdir=root / agent, limits=SandboxLimits(timeout_s=30))
        await sandbox.start()
        researcher = Researcher(agent, backend=backend, system="", direction="", brief="", sandbox=sandbox,  # type: ignore[arg-type]
                                toolbox=Toolbox(agent, sandbox, services, exec_timeout_s=30), bus=bus,
                                control=AgentControl(), budgets=budgets)
        started = time.perf_counter()
        await researcher.run()
        elapsed = time.perf_counter() - started
        await sandbox.close()
        await bus.close()
    return elapsed, events


async def bench_overhead(calls: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        elapsed, _ = await _loop_run(root, ToolPerTurn("notebook", {"action": "read"}, calls), "notebook")
        per_call = elapsed / calls * 1000
        print(f"loop overhead, notebook tool (no sandbox): {per_call:.2f} ms per call over {calls} calls")
        elapsed, events = await _loop_run(root, ToolPerTurn("run_command", {"command": "true"}, calls), "shell")
        tool_ms = [e.duration_s * 1000 for e in events if isinstance(e, ToolCallFinished)]
        sandbox = create_sandbox("local", workdir=root / "direct", limits=SandboxLimits(timeout_s=30))
        await sandbox.start()
        direct = []
        for _ in range(calls):
            t = time.perf_counter()
            await sandbox.exec(["bash", "-c", "true"], timeout_s=30)
            direct.append((time.perf_counter() - t) * 1000)
        await sandbox.close()
        total_ms = elapsed / calls * 1000
        overhead = total_ms - statistics.median(direct)
        verdict = "ok" if overhead <= TARGET_OVERHEAD_MS else "MISSED"
        print(f"run_command `true`: {total_ms:.2f} ms per turn+call; tool p50 {statistics.median(tool_ms):.2f} ms; "
              f"bare sandbox exec p50 {statistics.median(direct):.2f} ms")
        print(f"loop overhead per tool call: {overhead:.2f} ms (target <= {TARGET_OVERHEAD_MS:.0f} ms: {verdict})")


def _streaming_script(words: int) -> object:
    body_text = " ".join(f"w{i}" for i in range(words))

    def script(body: dict[str, object], n: int) -> Stream:
        messages = body["messages"]  # type: ignore[index]
        turns = sum(1 for m in messages if m["role"] == "assistant")  # type: ignore[union-attr]
        if turns >= SCRIPT_TURNS[0]:
            return Stream([text("done")], event_delay_s=0.01)
        return Stream([thinking(body_text), text(body_text[: words * 2]),
                       tool_use("notebook", {"action": "append", "text": f"turn {turns}"})],
                      event_delay_s=0.01, words_per_delta=3)

    return script


SCRIPT_TURNS = [4]


async def bench_streaming(agents: int, turns: int, words: int) -> None:
    SCRIPT_TURNS[0] = turns
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-bench")
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        async with FakeMessagesAPI(_streaming_script(words)) as api:  # type: ignore[arg-type]
            settings = AarSettings(home=root, base_url=api.base_url, researcher="claude", api_max_retries=0)
            async with await EventStore.create(root / "c.db") as store:
                bus = EventBus(store)
                bus.start()
                published: list[Event] = []
                bus.subscribe(published.append)
                services, budgets = _services(bus, root)
                lag: list[int] = []
                researchers = []
                sandboxes = []
                for i in range(agents):
                    sandbox = create_sandbox("local", workdir=root / f"agent-{i}", limits=SandboxLimits(timeout_s=30))
                    await sandbox.start()
                    sandboxes.append(sandbox)
                    researchers.append(Researcher(
                        f"agent-{i}", backend=ClaudeResearcher(settings), system=f"You are agent-{i}", direction="d",
                        brief="b", sandbox=sandbox, toolbox=Toolbox(f"agent-{i}", sandbox, services, exec_timeout_s=30),
                        bus=bus, control=AgentControl(), budgets=budgets))
                done = asyncio.Event()

                async def sample() -> None:
                    while not done.is_set():
                        lag.append(store.pending)
                        await asyncio.sleep(0.05)

                sampler = asyncio.create_task(sample())
                started = time.perf_counter()
                await asyncio.gather(*(r.run() for r in researchers))
                elapsed = time.perf_counter() - started
                done.set()
                await sampler
                await bus.flush()
                stored = await store.last_seq()
                for sandbox in sandboxes:
                    await sandbox.close()
                await bus.close()
            sse_deltas = 0
            for request in api.message_requests:
                reply = request.reply
                if isinstance(reply, Stream):
                    sse_deltas += sum(max(1, len(getattr(b, "thinking", getattr(b, "text", "")).split()) // 3)
                                      for b in reply.blocks if hasattr(b, "thinking") or hasattr(b, "text"))
        deltas = [e for e in published if isinstance(e, BlockDelta)]
        print(f"{agents} Claude agents x {turns} turns streaming at once: {elapsed:.1f} s")
        print(f"  stream deltas received: ~{sse_deltas / elapsed:.0f}/s; coalesced delta events into the store: "
              f"{len(deltas) / elapsed:.0f}/s ({len(deltas) / elapsed / agents:.1f}/s per agent, target <= ~10)")
        print(f"  events published {len(published)}, stored {stored}: {'nothing dropped' if stored == len(published) else 'LOST'}")
        print(f"  store lag behind the bus (events not yet written): p50 {statistics.median(lag):.0f}, "
              f"p99 {sorted(lag)[int(0.99 * (len(lag) - 1))]:.0f}, max {max(lag)} "
              f"(flush every 100 ms; {len(published) / elapsed:.0f} events/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--words", type=int, default=300, help="words of each thinking block")
    args = parser.parse_args()
    asyncio.run(bench_overhead(args.calls))
    asyncio.run(bench_streaming(args.agents, args.turns, args.words))


if __name__ == "__main__":
    main()
