"""The researcher loop: model turn -> tool calls -> sandbox / scorer -> results back.

A `ResearcherBackend` decides what to say and which tools to call; the loop owns
everything else: events, supervisor control between steps, budgets, and turning
every failure into an event instead of a crash.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from agents.bus import EventBus
from agents.events import (
    AgentFinished,
    AgentStarted,
    AgentStatus,
    AgentStatusChanged,
    TextEmitted,
    ToolCallFinished,
    ToolCallRequested,
    ToolOutputEmitted,
)
from agents.tools import TOOL_SPECS, ToolCall, Toolbox, ToolResult, ToolSpec
from sandboxes import Sandbox, SandboxUnavailableError

log = logging.getLogger(__name__)

# A tool call interrupted by a lost sandbox is retried after each resume, this many tries.
SANDBOX_ATTEMPTS = 3


@dataclass(frozen=True)
class Message:
    """One entry of a researcher's conversation."""

    role: Literal["user", "assistant", "tool", "supervisor"]
    text: str
    call: ToolCall | None = None
    result: ToolResult | None = None


@dataclass(frozen=True)
class Turn:
    """What a backend decided: prose for the transcript and tool calls to run."""

    text: str
    calls: tuple[ToolCall, ...] = ()

    @property
    def done(self) -> bool:
        return not self.calls


class ResearcherBackend(Protocol):
    """The thinking part of a researcher (an LLM, or the scripted baseline)."""

    name: str

    async def next_turn(self, history: list[Message], tools: tuple[ToolSpec, ...]) -> Turn: ...


class StopRequested(Exception):
    """Raised at a checkpoint when the supervisor stopped the agent."""


@dataclass
class AgentControl:
    """Supervisor state the loop obeys between steps. Only the campaign changes it."""

    running: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str | None = None
    redirects: deque[str] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.running.set()

    async def checkpoint(self) -> None:
        """Wait while paused; raise `StopRequested` once stopped."""
        await self.running.wait()
        if self.stop_reason is not None:
            raise StopRequested(self.stop_reason)


class Researcher:
    """Runs one agent until it finishes, is stopped, or runs out of budget."""

    def __init__(
        self,
        agent_id: str,
        *,
        backend: ResearcherBackend,
        direction: str,
        brief: str,
        sandbox: Sandbox,
        toolbox: Toolbox,
        bus: EventBus,
        control: AgentControl,
        max_turns: int,
        on_sandbox_lost: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.agent_id = agent_id
        self._backend = backend
        self._direction = direction
        self._brief = brief
        self._sandbox = sandbox
        self._toolbox = toolbox
        self._bus = bus
        self._control = control
        self._max_turns = max_turns
        self._on_sandbox_lost = on_sandbox_lost
        self._call_ids = itertools.count(1)
        self.status: AgentStatus = "starting"

    def _set_status(self, status: AgentStatus, reason: str = "") -> None:
        if status != self.status:
            self.status = status
            self._bus.publish(AgentStatusChanged(agent_id=self.agent_id, status=status, reason=reason))

    async def run(self) -> None:
        self._bus.publish(
            AgentStarted(
                agent_id=self.agent_id,
                backend=self._backend.name,
                direction=self._direction,
                sandbox_workdir=str(self._sandbox.workdir),
                sandbox_isolation=self._sandbox.isolation,
            )
        )
        history = [Message("user", f"{self._brief}\n\nYour starting direction: {self._direction}")]
        reason = "out of turns"
        try:
            for _ in range(self._max_turns):
                await self._control.checkpoint()
                while self._control.redirects:
                    history.append(Message("supervisor", self._control.redirects.popleft()))
                self._set_status("thinking")
                turn = await self._backend.next_turn(history, TOOL_SPECS)
                if turn.text:
                    self._bus.publish(TextEmitted(agent_id=self.agent_id, text=turn.text))
                history.append(Message("assistant", turn.text))
                if turn.done:
                    reason = "research complete"
                    break
                for call in turn.calls:
                    await self._control.checkpoint()
                    history.append(await self._run_tool(call))
        except StopRequested as stop:
            reason = f"stopped by supervisor: {stop}"
        except asyncio.CancelledError:
            self._finish("cancelled (campaign ended)", failed=False)
            raise
        except Exception as exc:  # a failed agent is an event, never a crashed campaign
            log.exception("agent %s failed", self.agent_id)
            self._finish(f"{type(exc).__name__}: {exc}", failed=True)
            return
        self._finish(reason, failed=False)

    async def _run_tool(self, call: ToolCall) -> Message:
        call = ToolCall(f"{self.agent_id}-{next(self._call_ids)}", call.tool, call.arguments)
        self._set_status("running")
        self._bus.publish(
            ToolCallRequested(
                agent_id=self.agent_id, call_id=call.call_id, tool=call.tool, arguments=dict(call.arguments)
            )
        )

        def on_output(stream: str, line: str) -> None:
            self._bus.publish(
                ToolOutputEmitted(
                    agent_id=self.agent_id,
                    call_id=call.call_id,
                    stream="stderr" if stream == "stderr" else "stdout",
                    line=line.rstrip("\n"),
                )
            )

        started = time.monotonic()
        for attempt in range(1, SANDBOX_ATTEMPTS + 1):
            try:
                result = await self._toolbox.execute(call, on_output)
                break
            except SandboxUnavailableError as lost:
                # Not the agent's doing: hold the agent for the human, then retry the call.
                result = ToolResult(
                    False,
                    f"the sandbox became unavailable {attempt} times and this call did not "
                    f"complete ({lost}); check your files before relying on them",
                    f"sandbox unavailable: {lost}",
                )
                if self._on_sandbox_lost is None or attempt == SANDBOX_ATTEMPTS:
                    break
                await self._on_sandbox_lost(self.agent_id, str(lost))
                await self._control.checkpoint()
        self._bus.publish(
            ToolCallFinished(
                agent_id=self.agent_id,
                call_id=call.call_id,
                tool=call.tool,
                ok=result.ok,
                summary=result.summary,
                duration_s=time.monotonic() - started,
            )
        )
        return Message("tool", result.content, call=call, result=result)

    def _finish(self, reason: str, *, failed: bool) -> None:
        if failed:
            self._set_status("failed", reason)
        self._bus.publish(AgentFinished(agent_id=self.agent_id, reason=reason))
