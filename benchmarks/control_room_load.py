"""Synthetic campaign traffic for the control-room benchmark: real event classes, paced.

Each synthetic agent follows the researcher loop's order of events (``agents.researcher``):
status ``thinking``, coalesced ``BlockDelta`` thinking then text (at most ~10 a second,
as ``TurnRecorder`` coalesces them), a ``BlockCompleted`` per block (thinking with its
signature, text, tool_use), ``TurnCompleted`` with usage, status ``running``,
``ToolCallStarted``, ``ToolOutputEmitted`` lines (a training log), ``ToolCallFinished``;
every few cycles the call is ``submit_predictions`` and a ``SubmissionScored`` (public and
private PGR with intervals, feedback, predictions) comes before it finishes.

An agent is a generator of ``(due_s, cls, fields)``; the ``Producer`` builds each event
when it is due (so construction costs what the engine's costs) and publishes it to a
``Feed`` that calls its subscribers, as ``agents.bus.EventBus`` does. ``SyntheticSource``
and ``ClaudeSource`` (a real campaign of Claude researchers on the fake Messages API) are
what the benchmark runs the app against.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.conversation import TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock
from agents.events import (
    AgentStarted,
    AgentStatusChanged,
    BlockCompleted,
    BlockDelta,
    CampaignStarted,
    Event,
    SubmissionScored,
    TaskPrepared,
    TokenUsage,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutputEmitted,
    TurnCompleted,
)
from agents.items import OUTPUT_LINES_KEPT, ToolCallItem
from tui.app import AarApp

Step = tuple[float, type, dict[str, object]]

WORDS = ("the weak labels", "confidence", "auxiliary loss", "the strong model", "overfits", "early stopping",
         "PGR", "teacher errors", "calibration", "held-out split", "bootstrap", "seed noise", "logit margin",
         "hard labels", "soft labels", "weight decay", "probe", "linear head", "disagreement", "entropy",
         "so", "but", "which suggests", "let me check", "because", "if", "then", "that means", "maybe")
METHODS = ("aux_conf", "hard_labels", "self_train", "confidence_weighted", "bootstrap_ensemble", "entropy_min")
PREDICTIONS = base64.b64encode(bytes(4 * 1000)).decode()  # 1,000 float32 probabilities, as the desk sends


@dataclass(frozen=True)
class Shape:
    """The pace of one synthetic agent: a turn of streamed thinking and text, then a tool
    call that prints ``lines_per_s`` lines for ``tool_s`` seconds."""

    think_s: float  # thinking deltas, one every 0.1 s
    text_s: float  # text deltas, one every 0.1 s
    tool_s: float
    lines_per_s: float
    submit_every: int = 3  # every n-th call submits predictions (a SubmissionScored)

    @property
    def cycle_s(self) -> float:
        return self.think_s + self.text_s + self.tool_s


def steady_shape(total_lines_per_s: float, agents: int) -> Shape:
    """Long experiments printing logs: ``total_lines_per_s`` across ``agents`` on average."""
    think_s, text_s, tool_s = 2.0, 0.5, 8.0
    per_agent = total_lines_per_s / agents
    return Shape(think_s, text_s, tool_s, per_agent * (think_s + text_s + tool_s) / tool_s)


CAMPAIGN_SHAPE = Shape(think_s=0.7, text_s=0.2, tool_s=0.1, lines_per_s=40.0, submit_every=5)
"""One model turn a second: 10 deltas, three blocks, a short call with four output lines."""


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + rng.choice((". ", ", ", "; ", ".\n"))


def agent_steps(agent_id: str, shape: Shape, rng: random.Random, start_s: float, first_turn: int = 1) -> Iterator[Step]:
    """The events of one agent from ``start_s`` on, forever, in the researcher loop's order;
    turns (and calls, and submissions) are numbered from ``first_turn``."""
    t = start_s
    turn = call = first_turn - 1
    submission = (first_turn - 1) // shape.submit_every
    while True:
        turn += 1
        yield t, AgentStatusChanged, {"status": "thinking"}
        thinking: list[str] = []
        for _ in range(max(1, round(shape.think_s / 0.1))):
            t += 0.1
            thinking.append(_sentence(rng, rng.randint(8, 20)))
            yield t, BlockDelta, {"turn": turn, "attempt": 1, "index": 0, "block_type": "thinking",
                                 "text": thinking[-1]}
        yield t, BlockCompleted, {"turn": turn, "attempt": 1, "index": 0,
                                  "block": ThinkingBlock(thinking="".join(thinking), signature="sig" * 40)}
        text: list[str] = []
        for _ in range(max(1, round(shape.text_s / 0.1))):
            t += 0.1
            text.append(_sentence(rng, rng.randint(5, 12)))
            yield t, BlockDelta, {"turn": turn, "attempt": 1, "index": 1, "block_type": "text", "text": text[-1]}
        yield t, BlockCompleted, {"turn": turn, "attempt": 1, "index": 1, "block": TextBlock(text="".join(text))}
        call += 1
        call_id = f"toolu_{agent_id}_{call}"
        method = rng.choice(METHODS)
        submits = call % shape.submit_every == 0
        if submits:
            tool, arguments = "submit_predictions", {"path": "preds.npy", "method": method,
                                                     "command": f"python train.py --method {method}"}
        else:
            tool, arguments = "run_command", {"command": f"python train.py --method {method} --alpha "
                                              f"{rng.choice((0.25, 0.5, 0.75))} --seed {rng.randint(0, 9)}"}
        yield t, BlockCompleted, {"turn": turn, "attempt": 1, "index": 2,
                                  "block": ToolUseBlock(id=call_id, name=tool, input=arguments)}
        usage = TokenUsage(input_tokens=rng.randint(200, 2_000), output_tokens=rng.randint(300, 1_500),
                           cache_read_tokens=rng.randint(10_000, 60_000), cache_write_tokens=rng.randint(0, 3_000))
        yield t, TurnCompleted, {"turn": turn, "attempt": 1, "stop_reason": "tool_use", "model": "claude-bench",
                                 "usage": usage, "cost_usd": usage.total * 3e-6,
                                 "seconds": shape.think_s + shape.text_s}
        yield t, AgentStatusChanged, {"status": "running"}
        yield t, ToolCallStarted, {"call_id": call_id, "tool": tool, "arguments": arguments}
        lines = max(1, round(shape.tool_s * shape.lines_per_s))
        for step in range(1, lines + 1):
            t += shape.tool_s / lines
            stream = "stderr" if rng.random() < 0.03 else "stdout"
            line = (f"UserWarning: weak label confidence clipped at 0.99 (batch {step})" if stream == "stderr" else
                    f"epoch {step // 50} step {step * 20}/20000 loss {rng.uniform(0.2, 0.9):.4f} "
                    f"acc {rng.uniform(0.6, 0.9):.4f} lr 3.0e-05 ({rng.uniform(8, 14):.1f} it/s)")
            yield t, ToolOutputEmitted, {"call_id": call_id, "stream": stream, "line": line}
        if submits:
            submission += 1
            public = rng.uniform(0.1, 0.8)
            private = public - rng.uniform(-0.05, 0.2)
            yield t, SubmissionScored, {
                "submission_id": int(agent_id.rsplit("-", 1)[-1]) * 100_000 + submission, "method": method,
                "valid": True, "public_pgr": public, "private_pgr": private, "public_acc": 0.7, "private_acc": 0.7,
                "public_pgr_interval": (public - 0.05, public + 0.05),
                "private_pgr_interval": (private - 0.05, private + 0.05),
                "flags": [{"code": "probing", "reason": "many near-identical submissions"}] if rng.random() < 0.1
                else [], "feedback": f"public PGR {public:.3f}", "command": arguments.get("command", ""),
                "predictions": PREDICTIONS}
        result = f"exit 0\n... {lines} lines ...\nfinal acc {rng.uniform(0.7, 0.9):.4f}"
        yield t, ToolCallFinished, {"call_id": call_id, "tool": tool, "ok": True,
                                    "summary": f"exit 0 after {shape.tool_s:.1f}s", "duration_s": shape.tool_s,
                                    "result": ToolResultBlock(tool_use_id=call_id, content=result)}


def start_events(agent_ids: list[str]) -> list[tuple[type, dict[str, object]]]:
    """Campaign and agent start-up, in the engine's order."""
    out: list[tuple[type, dict[str, object]]] = [
        (CampaignStarted, {"campaign_id": "bench", "testbed": "sentiment", "agent_ids": agent_ids,
                           "sandbox_backend": "local", "budget": {"max_wall_s": 36_000.0, "agent_dollars": 50.0},
                           "researcher": "claude", "model": "claude-bench"}),
        (TaskPrepared, {"testbed": "sentiment", "acc_weak": 0.68, "acc_ceiling": 0.91, "private_acc_weak": 0.67,
                        "private_acc_ceiling": 0.9, "n_train": 8_000, "n_test": 2_000, "seconds": 3.0}),
    ]
    for i, agent_id in enumerate(agent_ids):
        out.append((AgentStarted, {"agent_id": agent_id, "backend": "claude",
                                   "direction": f"direction {i}: {METHODS[i % len(METHODS)]} with a twist",
                                   "sandbox_workdir": f"/tmp/bench/{agent_id}", "sandbox_isolation": "bwrap (pid ns)"}))
    return out


class Feed:
    """What the app subscribes to: calls every subscriber with each published event."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Event], None]] = []
        self.seq = 0
        self.published = 0

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, cls: type, fields: dict[str, object], agent_id: str | None = None) -> Event:
        self.seq += 1
        self.published += 1
        if agent_id is not None:
            fields = {**fields, "agent_id": agent_id}
        event: Event = cls(seq=self.seq, **fields)
        for subscriber in self._subscribers:
            subscriber(event)
        return event


def history(agent_ids: list[str], shape: Shape, turns: int, seed: int = 1) -> list[Event]:
    """Earlier turns of every agent, as the app replays them at start-up (``events=``):
    completed blocks and a few output lines per call, no deltas."""
    feed = Feed()
    out: list[Event] = []
    feed.subscribe(out.append)
    for cls, fields in start_events(agent_ids):
        feed.publish(cls, fields)
    short_shape = Shape(think_s=0.1, text_s=0.1, tool_s=1.0, lines_per_s=20.0, submit_every=shape.submit_every)
    for agent_id in agent_ids:
        rng = random.Random(f"{seed}-{agent_id}")
        for _, cls, fields in agent_steps(agent_id, short_shape, rng, 0.0):
            if cls is BlockDelta:
                continue
            feed.publish(cls, fields, agent_id)
            if cls is ToolCallFinished and fields["call_id"] == f"toolu_{agent_id}_{turns}":
                break
    return out


class Producer:
    """Publishes every agent's due events in 10 ms batches, on an absolute schedule (a late
    batch catches up: the rate stays the same); counts its own CPU time."""

    def __init__(self, feed: Feed, agent_ids: list[str], shape: Shape, first_turn: int, seed: int = 7) -> None:
        self.feed = feed
        self._first_turn = first_turn
        self.cpu_s = 0.0
        self.lines = 0
        self._agents = agent_ids
        self._shape = shape
        self._seed = seed

    async def run(self, stop: asyncio.Event) -> None:
        rngs = {a: random.Random(f"{self._seed}-{a}") for a in self._agents}
        # Each agent starts somewhere in its cycle (what came before is skipped) so the total
        # rate is steady from the start rather than in waves.
        steps = {a: agent_steps(a, self._shape, rngs[a], -i * self._shape.cycle_s / len(self._agents),
                                self._first_turn) for i, a in enumerate(self._agents)}
        due = {}
        for agent_id, gen in steps.items():
            step = next(gen)
            while step[0] < 0:
                step = next(gen)
            due[agent_id] = step
        start = time.perf_counter()
        tick = 0
        while not stop.is_set():
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.01 - time.perf_counter()))
            cpu = time.thread_time()
            now = time.perf_counter() - start
            for agent_id, gen in steps.items():
                step = due[agent_id]
                while step[0] <= now:
                    self.feed.publish(step[1], step[2], agent_id)
                    self.lines += step[1] is ToolOutputEmitted
                    step = next(gen)
                due[agent_id] = step
            self.cpu_s += time.thread_time() - cpu


class SyntheticSource:
    """The synthetic campaign: earlier turns replayed at start, then a paced producer."""

    def __init__(self, agents: int, shape: Shape, history_turns: int) -> None:
        self.agent_ids = [f"agent-{i}" for i in range(agents)]
        self.past = history(self.agent_ids, shape, history_turns) if history_turns else [
            cls(seq=i + 1, **fields) for i, (cls, fields) in enumerate(start_events(self.agent_ids))]
        self.feed = Feed()
        self.feed.seq = self.past[-1].seq
        self.lines_by_call: Counter[str] = Counter()
        self.feed.subscribe(self._count_lines)
        self.producer = Producer(self.feed, self.agent_ids, shape, first_turn=history_turns + 1)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _count_lines(self, event: Event) -> None:
        if isinstance(event, ToolOutputEmitted):
            self.lines_by_call[event.call_id] += 1

    def make_app(self) -> AarApp:
        return AarApp(self.feed, None, self.past)

    @property
    def published(self) -> int:
        return self.feed.published

    @property
    def lines(self) -> int:
        return self.producer.lines

    @property
    def cpu_s(self) -> float:
        return self.producer.cpu_s

    async def start(self, app: AarApp) -> None:
        self._task = asyncio.create_task(self.producer.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def checks(self, app: AarApp, delivered: int) -> list[str]:
        """Everything reached the model (the screen may coalesce): counts and caps."""
        live = delivered - len(self.past)
        out = [f"events published {self.feed.published:,}, delivered to the app {live:,}: "
               f"{'all' if live == self.feed.published else 'MISMATCH'}; view.last_seq {app.view.last_seq} "
               f"(feed {self.feed.seq})"]
        out += retained(app, self.lines_by_call)
        return out


def retained(app: AarApp, lines_by_call: Counter[str]) -> list[str]:
    """Each live call's output count against what was published, and what memory keeps."""
    mismatched = 0
    kept: list[int] = []
    for agent in app.view.agents.values():
        for item in agent.transcript.items:
            if isinstance(item, ToolCallItem) and item.call_id in lines_by_call:
                mismatched += item.output_total != lines_by_call[item.call_id]
                kept.append(len(item.output))
    items = [len(a.transcript.items) for a in app.view.agents.values()]
    return [f"live calls checked {len(kept)}: output_total == lines published for "
            f"{'all' if not mismatched else f'all but {mismatched}'}; retained lines per call "
            f"mean {sum(kept) / max(1, len(kept)):.0f}, max {max(kept, default=0)} "
            f"(cap OUTPUT_LINES_KEPT={OUTPUT_LINES_KEPT})",
            f"transcript items per agent: min {min(items, default=0)}, max {max(items, default=0)}, "
            f"total {sum(items):,}; shown agent {app.selected}"]


class ClaudeSource:
    """A real campaign: ``agents`` Claude researchers (the real SDK and backend) streaming
    from the fake Messages API, each turn thinking, text and a ``run_command`` that prints
    ``lines`` lines over ``lines * 0.1`` s in the local sandbox (at nice 10); the app is
    attached in-process (``AarApp(campaign.bus, EngineControl(campaign), store=store)``).
    Its CPU is the app's and the engine's together (one process)."""

    def __init__(self, agents: int, root: Path, lines: int = 30) -> None:
        os.environ.setdefault("ANTHROPIC_API_KEY", "sk-bench")
        self._agents, self._root, self._lines_per_call = agents, root, lines
        self.published = self.lines = 0
        self.cpu_s = 0.0
        self.lines_by_call: Counter[str] = Counter()
        self._engine: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()

    def _script(self, body: dict[str, Any], n: int) -> Any:
        from tests.fakes.messages_api import Stream, text, thinking, tool_use

        rng = random.Random(n)
        loop = (f"for i in $(seq 1 {self._lines_per_call}); do echo \"epoch 0 step $((i*20))/20000 loss "
                f"0.$RANDOM acc 0.8$RANDOM\"; sleep 0.1; done")
        return Stream([thinking("".join(_sentence(rng, rng.randint(8, 20)) for _ in range(8))),
                       text(_sentence(rng, 12)), tool_use("run_command", {"command": loop})],
                      event_delay_s=0.02, words_per_delta=3)

    async def open(self) -> None:
        # Imported here: the engine brings torch and the rest; the synthetic loads need none of it.
        from agents.campaign import Campaign
        from agents.settings import AarSettings
        from agents.store import EventStore
        from tests.fakes.messages_api import FakeMessagesAPI

        api = await self._stack.enter_async_context(FakeMessagesAPI(self._script))  # type: ignore[arg-type]
        settings = AarSettings(home=self._root / "home", agents=self._agents, researcher="claude",
                               base_url=api.base_url, api_max_retries=0, reproduce=False, max_wall_s=3_600,
                               max_turns=1_000)
        self.store = await self._stack.enter_async_context(await EventStore.create(self._root / "c.db"))
        self.campaign = Campaign(settings, self.store)
        self.campaign.bus.subscribe(self._count)

    def _count(self, event: Event) -> None:
        self.published += 1
        if isinstance(event, ToolOutputEmitted):
            self.lines += 1
            self.lines_by_call[event.call_id] += 1

    def make_app(self) -> AarApp:
        from agents.control import EngineControl

        return AarApp(self.campaign.bus, EngineControl(self.campaign), store=self.store)

    async def start(self, app: AarApp) -> None:
        self._engine = asyncio.create_task(self.campaign.run())
        deadline = time.monotonic() + 600
        while sum(a.turns > 0 for a in app.view.agents.values()) < self._agents:  # set-up, then every agent's first turn
            if self._engine.done() or time.monotonic() > deadline:
                raise RuntimeError(f"the campaign did not start: {self._engine}")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        await self.campaign.stop(reason="benchmark over")
        if self._engine is not None:
            await asyncio.wait_for(self._engine, 60)
        await self.campaign.bus.flush()
        self.stored = await self.store.last_seq()

    async def close(self) -> None:
        await self._stack.aclose()

    def checks(self, app: AarApp, delivered: int) -> list[str]:
        bus_seq = self.campaign.bus.last_seq
        return [f"events published on the bus {self.published:,} (last seq {bus_seq}), delivered to the app "
                f"{delivered:,}, stored {self.stored:,}: "
                f"{'all' if delivered == self.published == self.stored else 'MISMATCH'}"] + retained(
                    app, self.lines_by_call)
