"""The researcher loop, driven directly by scripted backends: blocks become events, a broken
turn is retried whole and runs none of its tools, deltas are coalesced, budgets pause,
tool arguments are validated, and the conversation is rebuilt from the log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from agents.backend import AssistantTurn, TurnBroken, TurnRequest, TurnSink
from agents.budgets import BudgetHit, BudgetKeeper
from agents.bus import EventBus
from agents.conversation import (
    SUPERVISOR_PREFIX,
    AssistantBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    to_api_messages,
)
from agents.events import (
    AgentFinished,
    BlockDelta,
    Compacted,
    Event,
    TokenUsage,
    ToolCallFinished,
    TurnCompleted,
    TurnFailed,
)
from agents.forum import Forum, Notebooks
from agents.replay import rebuild_conversation
from agents.researcher import AgentControl, LoopLimits, Researcher, TurnRecorder, cost_usd
from agents.settings import DEFAULT_PRICES
from agents.store import EventStore
from agents.submissions import SubmissionDesk
from agents.tools import TOOL_SPECS, ResearchServices, Toolbox
from experiments import Scorer, TaskBaselines
from sandboxes import SandboxLimits, create_sandbox

Plan = Callable[[TurnRequest, int], tuple[list[AssistantBlock], str] | Exception]


@dataclass
class ScriptedBackend:
    """Answers each call from ``plan(request, call_number)``; records every request it got."""

    plan: Plan
    name: str = "scripted"
    model: str = "claude-opus-4-6"
    requests: list[TurnRequest] = field(default_factory=list)

    async def stream_turn(self, request: TurnRequest, sink: TurnSink) -> AssistantTurn:
        self.requests.append(request)
        outcome = self.plan(request, len(self.requests))
        if isinstance(outcome, Exception):
            sink.block(0, TextBlock(text="half a thought"))  # streamed before the break
            raise outcome
        blocks, stop = outcome
        for index, block in enumerate(blocks):
            if isinstance(block, TextBlock):
                for word in block.text.split():
                    sink.delta(index, "text", word + " ")
            sink.block(index, block)
        return AssistantTurn(tuple(blocks), stop, TokenUsage(input_tokens=100, output_tokens=50, cache_read_tokens=900),
                             self.model)

    async def summarize(self, request: TurnRequest) -> tuple[str, TokenUsage]:
        return "summary: tried ls", TokenUsage(input_tokens=10, output_tokens=5)

    async def aclose(self) -> None:
        return None


N = 200
LABELS = np.random.default_rng(0).integers(0, 2, N)
IDS = [f"t{i:05d}" for i in range(N)]


@dataclass
class Rig:
    events: list[Event]
    make: Callable[..., Researcher]
    control: AgentControl
    budgets: BudgetKeeper


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = await EventStore.create(tmp_path / "c.db")
    bus = EventBus(store)
    events: list[Event] = []
    bus.subscribe(events.append)
    budgets = BudgetKeeper(agent_limits={"submissions": 5, "turns": 20, "tokens": None}, campaign_limits={})
    scorer = Scorer(IDS, LABELS, np.arange(N) % 2 == 0, TaskBaselines(0.6, 0.8, 0.6, 0.8))
    desk = SubmissionDesk(scorer, bus, budgets=budgets, per_hour=10)
    services = ResearchServices(desk, Forum(bus, tmp_path / "shared"), Notebooks(bus))
    sandbox = create_sandbox("local", workdir=tmp_path / "agent-1", limits=SandboxLimits(timeout_s=30.0))
    await sandbox.start()
    control = AgentControl()

    def make(backend: ScriptedBackend, **kwargs: object) -> Researcher:
        kwargs.setdefault("limits", LoopLimits(turn_attempts=3))
        return Researcher("agent-1", backend=backend, system="sys", direction="d", brief="brief", sandbox=sandbox,
                          toolbox=Toolbox("agent-1", sandbox, services, exec_timeout_s=30), bus=bus,
                          control=control, budgets=budgets, price=DEFAULT_PRICES["claude-opus-4-6"], **kwargs)  # type: ignore[arg-type]

    async with store:
        try:
            yield Rig(events, make, control, budgets)
        finally:
            await sandbox.close()


def _use(name: str, **args: object) -> ToolUseBlock:
    return ToolUseBlock(id=f"toolu_{name}_{len(args)}", name=name, input=dict(args))


async def test_blocks_tool_results_and_rebuild(rig: Rig) -> None:
    def plan(request: TurnRequest, n: int) -> tuple[list[AssistantBlock], str]:
        if n == 1:
            return [ThinkingBlock(thinking="look first", signature="sig-1"), TextBlock(text="listing"),
                    ToolUseBlock(id="toolu_a", name="run_command", input={"command": "echo hi"}),
                    ToolUseBlock(id="toolu_b", name="notebook", input={"action": "append", "text": "n1"})], "tool_use"
        return [TextBlock(text="done")], "end_turn"

    backend = ScriptedBackend(plan)
    researcher = rig.make(backend)
    await researcher.run()
    finished = [e for e in rig.events if isinstance(e, ToolCallFinished)]
    assert [(e.call_id, e.ok) for e in finished] == [("toolu_a", True), ("toolu_b", True)]
    assert "hi" in finished[0].result.content
    # The second request carries the thinking block (signature intact) and both results.
    second = to_api_messages(backend.requests[1].messages)
    assert second[1]["content"][0] == {"type": "thinking", "thinking": "look first", "signature": "sig-1"}
    assert [b["tool_use_id"] for b in second[2]["content"]] == ["toolu_a", "toolu_b"]
    rebuilt = rebuild_conversation(rig.events, "agent-1")
    assert rebuilt == researcher.conversation
    assert tuple(rebuilt[: len(backend.requests[1].messages)]) == backend.requests[1].messages
    turns = [e for e in rig.events if isinstance(e, TurnCompleted)]
    assert [t.usage.cache_read_tokens for t in turns] == [900, 900]
    assert turns[0].cost_usd == pytest.approx(cost_usd(turns[0].usage, DEFAULT_PRICES["claude-opus-4-6"]))
    assert turns[0].cost_usd == pytest.approx((100 * 5 + 50 * 25 + 900 * 0.5) / 1e6)


async def test_a_broken_turn_is_retried_whole_and_runs_none_of_its_tools(rig: Rig) -> None:
    def plan(request: TurnRequest, n: int) -> tuple[list[AssistantBlock], str] | Exception:
        if n == 1:
            return TurnBroken("stream cut mid-block")
        if n == 2:
            return [ToolUseBlock(id="toolu_once", name="run_command", input={"command": "echo ran >> log.txt"})], "tool_use"
        return [TextBlock(text="done")], "end_turn"

    backend = ScriptedBackend(plan)
    researcher = rig.make(backend)
    await researcher.run()
    failed = [e for e in rig.events if isinstance(e, TurnFailed)]
    assert [(f.turn, f.attempt, f.will_retry) for f in failed] == [(1, 1, True)]
    assert backend.requests[0].messages == backend.requests[1].messages, "the retry asks the same question"
    calls = [e.call_id for e in rig.events if isinstance(e, ToolCallFinished)]
    assert calls == ["toolu_once"]
    rebuilt = rebuild_conversation(rig.events, "agent-1")
    assert all("half a thought" not in m.text() for m in rebuilt), "blocks of the broken attempt are dropped"
    assert rebuilt == researcher.conversation


async def test_a_turn_broken_every_time_fails_the_agent_with_the_reason(rig: Rig) -> None:
    backend = ScriptedBackend(lambda request, n: TurnBroken("overloaded"))
    await rig.make(backend).run()
    assert [f.will_retry for f in rig.events if isinstance(f, TurnFailed)] == [True, True, False]
    finished = [e for e in rig.events if isinstance(e, AgentFinished)]
    assert "turn 1 failed 3 times" in finished[0].reason and "overloaded" in finished[0].reason


async def test_invalid_arguments_come_back_as_a_readable_tool_error(rig: Rig) -> None:
    def plan(request: TurnRequest, n: int) -> tuple[list[AssistantBlock], str]:
        if n == 1:
            return [ToolUseBlock(id="toolu_bad", name="run_command", input={"cmd": "ls"}),
                    ToolUseBlock(id="toolu_none", name="teleport", input={})], "tool_use"
        return [TextBlock(text="done")], "end_turn"

    await rig.make(ScriptedBackend(plan)).run()
    bad, unknown = [e.result for e in rig.events if isinstance(e, ToolCallFinished)]
    assert bad.is_error and "invalid arguments for run_command" in bad.content and "command" in bad.content
    assert unknown.is_error and "unknown tool 'teleport'" in unknown.content


async def test_a_bug_in_aar_is_not_blamed_on_the_arguments(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_render(self: Forum, **kwargs: object) -> str:
        raise KeyError("oops")

    monkeypatch.setattr(Forum, "render", broken_render)

    def plan(request: TurnRequest, n: int) -> tuple[list[AssistantBlock], str]:
        if n == 1:
            return [ToolUseBlock(id="toolu_f", name="read_forum", input={})], "tool_use"
        return [TextBlock(text="done")], "end_turn"

    await rig.make(ScriptedBackend(plan)).run()
    (finished,) = [e for e in rig.events if isinstance(e, ToolCallFinished)]
    assert finished.result.is_error and "internal error in aar" in finished.result.content
    assert "not because of your arguments" in finished.result.content
    assert finished.summary.startswith("aar internal error: KeyError")


async def test_deltas_are_coalesced_to_about_ten_a_second(tmp_path: Path) -> None:
    bus_events: list[Event] = []
    store = await EventStore.create(tmp_path / "d.db")
    bus = EventBus(store)
    bus.subscribe(bus_events.append)
    recorder = TurnRecorder(bus, "agent-1", 1, 1)
    started = time.monotonic()
    for i in range(1000):
        recorder.delta(0, "thinking", f"w{i} ")
        if i % 50 == 0:
            await asyncio.sleep(0.025)
    await asyncio.sleep(0.15)
    recorder.close()
    elapsed = time.monotonic() - started
    deltas = [e for e in bus_events if isinstance(e, BlockDelta)]
    assert "".join(d.text for d in deltas) == "".join(f"w{i} " for i in range(1000)), "nothing lost"
    assert len(deltas) <= 10 * elapsed + 2, (len(deltas), elapsed)
    await store.close()


async def test_a_reached_budget_pauses_until_a_grant(rig: Rig) -> None:
    rig.budgets.agent_limits["turns"] = 1
    paused: list[BudgetHit] = []

    async def on_budget(agent_id: str, hit: BudgetHit) -> None:
        paused.append(hit)
        rig.control.running.clear()

        async def grant_later() -> None:
            await asyncio.sleep(0.2)
            rig.budgets.grant(agent_id, "turns", 1)
            rig.control.running.set()

        asyncio.get_running_loop().create_task(grant_later())

    def plan(request: TurnRequest, n: int) -> tuple[list[AssistantBlock], str]:
        if n == 1:
            return [ToolUseBlock(id="toolu_1", name="notebook", input={"action": "read"})], "tool_use"
        return [TextBlock(text="done")], "end_turn"

    backend = ScriptedBackend(plan)
    await rig.make(backend, on_budget_reached=on_budget).run()
    assert [(h.name, h.limit, h.used) for h in paused] == [("turns", 1.0, 1.0)]
    assert len(backend.requests) == 2, "the second turn ran only after the grant"


async def test_a_supervisor_message_is_a_marked_user_turn(rig: Rig) -> None:
    rig.control.redirects.append("focus on calibration")

    def plan(request: TurnRequest, n: int) -> tuple[list[AssistantBlock], str]:
        return [TextBlock(text="ok")], "end_turn"

    backend = ScriptedBackend(plan)
    await rig.make(backend).run()
    first = backend.requests[0].messages
    assert [m.origin for m in first] == ["task", "supervisor"]
    assert first[1].text() == f"{SUPERVISOR_PREFIX} focus on calibration"
    assert to_api_messages(first)[0]["role"] == "user" and len(to_api_messages(first)) == 1, "merged user turn"


def test_every_tool_has_a_schema_the_api_accepts() -> None:
    names = [spec.name for spec in TOOL_SPECS]
    assert names == ["run_command", "write_file", "read_file", "list_files", "submit_predictions", "post_to_forum",
                     "read_forum", "view_leaderboard", "read_shared_file", "notebook"]
    for spec in TOOL_SPECS:
        schema = spec.input_schema
        assert schema["type"] == "object" and "title" not in schema and spec.description
        assert all("title" not in prop for prop in schema.get("properties", {}).values())


async def test_a_conversation_near_the_window_is_compacted_and_the_log_says_so(rig: Rig) -> None:
    def plan(request: TurnRequest, n: int) -> tuple[list[AssistantBlock], str]:
        if n <= 2:
            return [ToolUseBlock(id=f"toolu_{n}", name="notebook", input={"action": "read"})], "tool_use"
        return [TextBlock(text="done")], "end_turn"

    backend = ScriptedBackend(plan)  # each turn reports 1,000 prompt tokens: over 80% of a 1,100 window
    await rig.make(backend, limits=LoopLimits(context_window=1_100, compact_at=0.8)).run()
    compactions = [e for e in rig.events if isinstance(e, Compacted)]
    assert compactions and compactions[0].tokens_before == 1_050 and compactions[0].tokens_after < 100
    after = backend.requests[1].messages
    assert [m.origin for m in after] == ["task", "harness"] and "summary: tried ls" in after[1].text()
    assert rebuild_conversation(rig.events, "agent-1")[:2] == list(compactions[-1].messages)
