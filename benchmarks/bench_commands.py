"""Latency from a supervisor command to its effect, in-process and attached, 9 agents running.

    python benchmarks/bench_commands.py [--agents 9] [--rounds 15]

In-process: the TUI's channel (``EngineControl``): pause -> the agent's ``paused`` status
event on the bus; approve -> the approved call's ``tool_call_started``. Attached: the
engine runs headless in another process; a viewer's ``StoreControl`` appends to the
commands table and its ``StoreTail`` sees the effect in the store. Every tool call the
baseline agents make asks for approval (``approvals`` rule on ``run_command``), and a
helper approves each one, so the agents keep busy. Target: p95 <= 250 ms attached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.approvals import ApprovalRule  # noqa: E402
from agents.campaign import Campaign  # noqa: E402
from agents.commands import Approve, Command, Pause, Resume  # noqa: E402
from agents.control import Control, EngineControl, StoreControl, StoreTail  # noqa: E402
from agents.events import AgentStatusChanged, ApprovalRequested, Event, ToolCallStarted  # noqa: E402
from agents.lock import engine_running  # noqa: E402
from agents.settings import AarSettings  # noqa: E402
from agents.store import EventStore  # noqa: E402

TARGET_P95_MS = 250.0
ROOT = Path(__file__).resolve().parents[1]


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Watch:
    """Events as they arrive, with a way to wait for the first matching one after a moment."""

    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        self.events.append((time.perf_counter(), event))

    async def first(self, predicate: Callable[[Event], bool], after: float, timeout: float = 30.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, event in reversed(self.events):
                if at < after:
                    break
                if predicate(event):
                    return at
            await asyncio.sleep(0.002)
        raise TimeoutError("the effect never arrived")


async def _measure(control: Control, watch: Watch, agents: list[str], rounds: int) -> dict[str, list[float]]:
    pause_ms: list[float] = []
    approve_ms: list[float] = []
    for i in range(rounds):
        agent = agents[i % len(agents)]
        sent = time.perf_counter()
        await control.send(Pause(agent_id=agent, viewer="bench"))
        at = await watch.first(lambda e: isinstance(e, AgentStatusChanged) and e.agent_id == agent
                               and e.status == "paused", sent)
        pause_ms.append((at - sent) * 1000)
        await control.send(Resume(agent_id=agent, viewer="bench"))
        await asyncio.sleep(0.05)
    answered: set[int] = set()
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        fresh = time.perf_counter() - 0.5
        pending = [e for at, e in watch.events if isinstance(e, ApprovalRequested) and e.request_id not in answered
                   and at > fresh]
        if not pending:
            await asyncio.sleep(0.05)
            continue
        request = pending[0]
        answered.add(request.request_id)
        sent = time.perf_counter()
        outcome = await control.send(Approve(request_id=request.request_id, viewer="bench"))
        if not outcome.applied:
            continue
        at = await watch.first(lambda e: isinstance(e, ToolCallStarted) and e.call_id == request.call_id, sent)
        approve_ms.append((at - sent) * 1000)
        if len(approve_ms) >= rounds:
            break
    return {"pause": pause_ms, "approve": approve_ms}


async def _auto_approver(control: Control, watch: Watch, stop: asyncio.Event, taken: set[int]) -> None:
    """Approves what the measurement does not, so no agent waits for long."""
    while not stop.is_set():
        await asyncio.sleep(1.0)
        now = time.perf_counter()
        for at, event in list(watch.events):
            if isinstance(event, ApprovalRequested) and now - at > 2.0 and event.request_id not in taken:
                taken.add(event.request_id)
                await control.send(Approve(request_id=event.request_id, viewer="auto"))


def _print(label: str, results: dict[str, list[float]]) -> None:
    for what, samples in results.items():
        if not samples:
            print(f"{label:<10} {what:<8} no samples")
            continue
        p95 = _pct(samples, 0.95)
        verdict = f"  p95 <= {TARGET_P95_MS:.0f}: {'ok' if p95 <= TARGET_P95_MS else 'MISSED'}" if label == "attached" else ""
        print(f"{label:<10} {what:<8} n={len(samples):<3} p50 {_pct(samples, 0.5):7.1f} ms  p95 {p95:7.1f} ms  "
              f"max {max(samples):7.1f} ms{verdict}")


async def in_process(tmp: Path, agents: int, rounds: int) -> None:
    settings = AarSettings(home=tmp / "home-a", agents=agents, experiments_per_agent=5, reproduce=False,
                           approvals=[ApprovalRule(tool="run_command", command="python *", action="ask")])
    async with await EventStore.create(tmp / "a.db") as store:
        campaign = Campaign(settings, store)
        watch = Watch()
        campaign.bus.subscribe(watch)
        engine = asyncio.create_task(campaign.run())
        control = EngineControl(campaign)
        await watch.first(lambda e: e.kind == "agent_started", 0.0, timeout=600)
        stop = asyncio.Event()
        helper = asyncio.create_task(_auto_approver(control, watch, stop, set()))
        results = await _measure(control, watch, campaign.agent_ids, rounds)
        stop.set()
        await helper
        await campaign.stop()
        await engine
    _print("in-process", results)


async def attached(tmp: Path, agents: int, rounds: int) -> None:
    campaign_file = tmp / "bench.toml"
    campaign_file.write_text('reproduce = false\nexperiments_per_agent = 5\n'
                             '[[approvals]]\ntool = "run_command"\ncommand = "python *"\naction = "ask"\n')
    db = tmp / "b.db"
    env = {**os.environ, "AAR_HOME": str(tmp / "home-b")}
    engine = subprocess.Popen([sys.executable, "-m", "tui.cli", "run", "--headless", "--agents", str(agents),
                               "--campaign", str(campaign_file), "--db", str(db)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    try:
        while not (db.exists() and engine_running(db)):
            await asyncio.sleep(0.1)
        store = await EventStore.attach(db)
        tail = StoreTail(store)
        watch = Watch()
        tail.subscribe(watch)
        tail.start()
        control = StoreControl(store, tail)
        await watch.first(lambda e: e.kind == "agent_started", 0.0, timeout=600)
        stop = asyncio.Event()
        helper = asyncio.create_task(_auto_approver(control, watch, stop, set()))
        results = await _measure(control, watch, [f"agent-{i + 1}" for i in range(agents)], rounds)
        stop.set()
        await helper
        await tail.close()
        await store.close()
    finally:
        engine.kill()
        engine.wait(timeout=30)
    _print("attached", results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        asyncio.run(in_process(tmp, args.agents, args.rounds))
        asyncio.run(attached(tmp, args.agents, args.rounds))


if __name__ == "__main__":
    main()
