"""The researcher loop: model turn (streamed) -> tool calls -> results back to the model.

A backend (``agents.backend``) streams one assistant turn of content blocks; the loop
owns everything else. Each completed block is an event, thinking and text deltas are
coalesced events for the screen, each tool result is recorded exactly as the model
reads it, and supervisor messages are user turns marked as the supervisor's, so the
conversation can be rebuilt from the log (``agents.replay``). A turn whose stream
breaks is retried whole and none of its tools runs; budgets are checked before each
turn; a conversation nearing the model's window is compacted. Every failure is an
event, never a crashed campaign.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from agents.approvals import Approvals
from agents.backend import AssistantTurn, BackendError, ResearcherBackend, TurnBroken, TurnRequest
from agents.budgets import BudgetHit, BudgetKeeper
from agents.bus import EventBus
from agents.conversation import AssistantBlock, Message, ToolResultBlock, ToolUseBlock, user_text
from agents.events import (
    AgentFinished,
    AgentResumed,
    AgentStarted,
    AgentStatus,
    AgentStatusChanged,
    BlockCompleted,
    BlockDelta,
    Compacted,
    MessageAdded,
    TokenUsage,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutputEmitted,
    TurnCompleted,
    TurnFailed,
)
from agents.settings import Price
from agents.tools import TOOL_SPECS, Toolbox, ToolOutcome
from sandboxes import Sandbox, SandboxUnavailableError

log = logging.getLogger(__name__)

SANDBOX_ATTEMPTS = 3  # a tool call interrupted by a lost sandbox is retried after each resume
DELTA_INTERVAL_S = 0.1  # at most ~10 delta events a second per agent
RETRY_BASE_S = 0.5  # backoff between attempts at a broken turn (the SDK already waited its own)
RETRY_MAX_S = 30.0


class StopRequested(Exception):
    """Raised at a checkpoint when the supervisor (or the engine) stopped the agent."""


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


def cost_usd(usage: TokenUsage, price: Price | None) -> float:
    """Dollars of one turn at ``price`` (per million tokens); 0 without a price."""
    if price is None:
        return 0.0
    return (usage.input_tokens * price.input + usage.output_tokens * price.output
            + usage.cache_write_tokens * price.cache_write + usage.cache_read_tokens * price.cache_read) / 1e6


class TurnRecorder:
    """The sink of one attempt at a turn: completed blocks become events at once, deltas
    are coalesced into at most one event per block per ``interval_s``."""

    def __init__(self, bus: EventBus, agent_id: str, turn: int, attempt: int, interval_s: float = DELTA_INTERVAL_S) -> None:
        self._bus, self._agent_id, self._turn, self._attempt = bus, agent_id, turn, attempt
        self._interval_s = interval_s
        self._buffer: dict[tuple[int, str], list[str]] = {}
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.published: set[int] = set()
        self.deltas_published = 0

    def delta(self, index: int, block_type: Literal["thinking", "text"], text: str) -> None:
        if not text:
            return
        self._buffer.setdefault((index, block_type), []).append(text)
        now = time.monotonic()
        if now - self._last_flush >= self._interval_s:
            self.flush()
        elif self._timer is None:
            delay = self._interval_s - (now - self._last_flush)
            self._timer = asyncio.get_running_loop().call_later(delay, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_flush = time.monotonic()
        buffer, self._buffer = self._buffer, {}
        for (index, block_type), parts in buffer.items():
            self._bus.publish(BlockDelta(agent_id=self._agent_id, turn=self._turn, attempt=self._attempt,
                                         index=index, block_type=block_type, text="".join(parts)))  # type: ignore[arg-type]
            self.deltas_published += 1

    def block(self, index: int, block: AssistantBlock) -> None:
        self._buffer = {key: parts for key, parts in self._buffer.items() if key[0] != index}  # the block has it all
        if index in self.published:
            return
        self.published.add(index)
        self._bus.publish(BlockCompleted(agent_id=self._agent_id, turn=self._turn, attempt=self._attempt,
                                         index=index, block=block))

    def close(self) -> None:
        self.flush()


@dataclass(frozen=True)
class LoopLimits:
    """How the loop retries and when it compacts."""

    turn_attempts: int = 6
    context_window: int = 200_000
    compact_at: float = 0.8
    retry_base_s: float = RETRY_BASE_S


BudgetCallback = Callable[[str, BudgetHit], Awaitable[None]]


class Researcher:
    """Runs one agent until it finishes, is stopped, or fails."""

    def __init__(
        self,
        agent_id: str,
        *,
        backend: ResearcherBackend,
        system: str,
        direction: str,
        brief: str,
        sandbox: Sandbox,
        toolbox: Toolbox,
        bus: EventBus,
        control: AgentControl,
        budgets: BudgetKeeper,
        price: Price | None = None,
        limits: LoopLimits = LoopLimits(),
        on_sandbox_lost: Callable[[str, str], Awaitable[None]] | None = None,
        on_budget_reached: BudgetCallback | None = None,
        approvals: Approvals | None = None,
    ) -> None:
        self.agent_id = agent_id
        self._backend = backend
        self._system = system
        self._direction = direction
        self._brief = brief
        self._sandbox = sandbox
        self._toolbox = toolbox
        self._bus = bus
        self._control = control
        self._budgets = budgets
        self._price = price
        self._limits = limits
        self._on_sandbox_lost = on_sandbox_lost
        self._on_budget_reached = on_budget_reached
        self._approvals = approvals
        self.conversation: list[Message] = []
        self.turns = 0
        self._last_context = 0
        self.status: AgentStatus = "starting"

    def _set_status(self, status: AgentStatus, reason: str = "") -> None:
        if status != self.status:
            self.status = status
            self._bus.publish(AgentStatusChanged(agent_id=self.agent_id, status=status, reason=reason))

    def _add_user(self, message: Message) -> None:
        self._bus.publish(MessageAdded(agent_id=self.agent_id, message=message))
        self.conversation.append(message)

    def restore(self, conversation: list[Message], *, turns: int, last_context: int) -> None:
        """Continue from a conversation rebuilt from the log (crash resume)."""
        self.conversation = list(conversation)
        self.turns = turns
        self._last_context = last_context

    def _unanswered(self) -> list[ToolUseBlock]:
        """Tool calls of the last assistant turn that no result answers yet (a resumed agent)."""
        last = max((i for i, m in enumerate(self.conversation) if m.role == "assistant"), default=None)
        if last is None:
            return []
        answered = {b.tool_use_id for m in self.conversation[last + 1:] for b in m.content
                    if isinstance(b, ToolResultBlock)}
        return [use for use in self.conversation[last].tool_uses() if use.id not in answered]

    async def run(self) -> None:
        if self.conversation:
            self._bus.publish(AgentResumed(agent_id=self.agent_id, turns_done=self.turns,
                                           messages=len(self.conversation)))
        else:
            self._bus.publish(
                AgentStarted(
                    agent_id=self.agent_id,
                    backend=self._backend.name,
                    direction=self._direction,
                    sandbox_workdir=str(self._sandbox.workdir),
                    sandbox_isolation=self._sandbox.isolation,
                )
            )
            self._add_user(user_text(f"{self._brief}\n\nYour starting direction: {self._direction}"))
        reason = "research complete"
        try:
            for use in self._unanswered():  # calls of the last turn that never started
                await self._control.checkpoint()
                outcome = await self._run_tool(use)
                self.conversation.append(Message(role="user", content=(outcome.result,), origin="tools"))
            while True:
                await self._control.checkpoint()
                self._take_redirects()
                await self._respect_budgets(("tokens", "dollars", "wall_s", "turns"))
                if self._last_context >= self._limits.compact_at * self._limits.context_window:
                    await self._compact()
                message, stop_reason = await self._model_turn()
                uses = message.tool_uses()
                if stop_reason == "max_tokens":
                    self._answer_cut_off(uses)
                    continue
                if not uses:
                    break
                for use in uses:
                    # Between the calls of one turn a supervisor note waits: the API wants every
                    # tool_use answered first; the note is read at the next turn.
                    await self._control.checkpoint()
                    started = time.monotonic()
                    outcome = await self._run_tool(use)
                    self._budgets.charge_wall(self.agent_id, time.monotonic() - started)
                    self.conversation.append(Message(role="user", content=(outcome.result,), origin="tools"))
        except StopRequested as stop:
            reason = f"stopped: {stop}"
        except asyncio.CancelledError:
            self._finish("cancelled (campaign ended)", failed=False)
            raise
        except BackendError as exc:
            self._finish(f"model backend failed: {exc}", failed=True)
            return
        except Exception as exc:  # a failed agent is an event, never a crashed campaign
            log.exception("agent %s failed", self.agent_id)
            self._finish(f"{type(exc).__name__}: {exc}", failed=True)
            return
        self._finish(reason, failed=False)

    def _take_redirects(self) -> None:
        while self._control.redirects:
            self._add_user(user_text(self._control.redirects.popleft(), origin="supervisor"))

    async def _respect_budgets(self, names: tuple[str, ...]) -> None:
        while (hit := self._budgets.reached(self.agent_id, names)) is not None:  # type: ignore[arg-type]
            if self._on_budget_reached is None:
                raise StopRequested(hit.describe())
            await self._on_budget_reached(self.agent_id, hit)
            await self._control.checkpoint()  # paused until a grant (or a stop)

    def _request(self) -> TurnRequest:
        return TurnRequest(agent_id=self.agent_id, system=self._system, tools=TOOL_SPECS,
                           messages=tuple(self.conversation), turn=self.turns + 1, direction=self._direction)

    def _answer_cut_off(self, uses: list[ToolUseBlock]) -> None:
        """A turn cut off at the output limit: its tool calls may be incomplete, so none runs."""
        note = "not run: your turn hit the output token limit before this call was complete; send it again"
        for use in uses:
            result = ToolResultBlock(tool_use_id=use.id, content=note, is_error=True)
            self._bus.publish(ToolCallFinished(agent_id=self.agent_id, call_id=use.id, tool=use.name, ok=False,
                                               summary="not run (turn cut off at max_tokens)", duration_s=0.0,
                                               result=result))
            self.conversation.append(Message(role="user", content=(result,), origin="tools"))
        if not uses:
            self._add_user(user_text("Your last turn was cut off at the output token limit; continue.", origin="harness"))

    async def _model_turn(self) -> tuple[Message, str]:
        self._set_status("thinking")
        self.turns += 1
        turn = self.turns
        request = self._request()
        started = time.monotonic()
        for attempt in range(1, self._limits.turn_attempts + 1):
            recorder = TurnRecorder(self._bus, self.agent_id, turn, attempt)
            try:
                result = await self._backend.stream_turn(request, recorder)
            except TurnBroken as exc:
                recorder.close()
                will_retry = attempt < self._limits.turn_attempts
                self._bus.publish(TurnFailed(agent_id=self.agent_id, turn=turn, attempt=attempt,
                                             error=str(exc)[:2000], will_retry=will_retry))
                if not will_retry:
                    raise BackendError(f"turn {turn} failed {attempt} times; last: {exc}") from exc
                await asyncio.sleep(min(RETRY_MAX_S, self._limits.retry_base_s * 2 ** (attempt - 1)))
                await self._control.checkpoint()
                continue
            recorder.close()
            return self._complete(turn, attempt, result, recorder, time.monotonic() - started), result.stop_reason
        raise AssertionError("unreachable")

    def _complete(self, turn: int, attempt: int, result: AssistantTurn, recorder: TurnRecorder,
                  seconds: float) -> Message:
        for index, block in enumerate(result.blocks):
            recorder.block(index, block)  # blocks the backend did not report as they completed
        dollars = cost_usd(result.usage, self._price)
        self._budgets.charge_turn(self.agent_id, result.usage, dollars)
        self._budgets.charge_wall(self.agent_id, seconds)
        self._last_context = result.usage.context + result.usage.output_tokens
        self._bus.publish(TurnCompleted(agent_id=self.agent_id, turn=turn, attempt=attempt,
                                        stop_reason=result.stop_reason, model=result.model,
                                        usage=result.usage, cost_usd=dollars, seconds=seconds))
        message = Message(role="assistant", content=result.blocks, origin="model")
        self.conversation.append(message)
        return message

    async def _compact(self) -> None:
        before = self._last_context
        summary, usage = await self._backend.summarize(self._request())
        dollars = cost_usd(usage, self._price)
        self._budgets.charge_turn(self.agent_id, usage, dollars)
        fresh = [
            user_text(f"{self._brief}\n\nYour starting direction: {self._direction}"),
            user_text("Your conversation was compacted to fit the context window. Summary of your work so far "
                      f"(your notebook and the forum keep the details):\n\n{summary}", origin="harness"),
        ]
        after = sum(len(m.text()) for m in fresh) // 4
        self._bus.publish(Compacted(agent_id=self.agent_id, tokens_before=before, tokens_after=after, messages=fresh))
        self.conversation = fresh
        self._last_context = after

    async def _run_tool(self, use: ToolUseBlock) -> ToolOutcome:
        started = time.monotonic()
        arguments = dict(use.input)
        edited = False
        if self._approvals is not None:
            decision = await self._approvals.check(self.agent_id, use.id, use.name, arguments,
                                                   on_ask=lambda: self._set_status("awaiting_approval"))
            if decision.withdrawn:
                await self._control.checkpoint()  # stopped: raises; otherwise treat as denied
            if not decision.run:
                return self._finished(use, ToolOutcome(
                    ToolResultBlock(tool_use_id=use.id, is_error=True, content=f"not run: {decision.reason}"),
                    f"not run: {decision.reason}"), started)
            arguments, edited = dict(decision.arguments or arguments), decision.edited
            await self._control.checkpoint()  # a pause that came while it waited holds it here
        self._set_status("running")
        if use.name == "submit_predictions":
            await self._respect_budgets(("submissions",))
        self._bus.publish(ToolCallStarted(agent_id=self.agent_id, call_id=use.id, tool=use.name, arguments=arguments))

        def on_output(stream: str, line: str) -> None:
            self._bus.publish(ToolOutputEmitted(agent_id=self.agent_id, call_id=use.id,
                                                stream="stderr" if stream == "stderr" else "stdout",
                                                line=line.rstrip("\n")))

        outcome: ToolOutcome | None = None
        for attempt in range(1, SANDBOX_ATTEMPTS + 1):
            try:
                outcome = await self._toolbox.execute(use.id, use.name, arguments, on_output)
                break
            except SandboxUnavailableError as lost:
                # Not the agent's doing: hold the agent for the human, then retry the call.
                outcome = ToolOutcome(
                    ToolResultBlock(tool_use_id=use.id, is_error=True, content=(
                        f"the sandbox became unavailable {attempt} times and this call did not complete "
                        f"({lost}); check your files before relying on them")),
                    f"sandbox unavailable: {lost}",
                )
                if self._on_sandbox_lost is None or attempt == SANDBOX_ATTEMPTS:
                    break
                await self._on_sandbox_lost(self.agent_id, str(lost))
                await self._control.checkpoint()
        assert outcome is not None
        if edited:
            note = f"The supervisor edited this call before it ran; it ran with arguments {json.dumps(arguments)}.\n"
            outcome = ToolOutcome(outcome.result.model_copy(update={"content": note + outcome.result.content}),
                                  f"edited by the supervisor; {outcome.summary}", outcome.internal_error)
        return self._finished(use, outcome, started)

    def _finished(self, use: ToolUseBlock, outcome: ToolOutcome, started: float) -> ToolOutcome:
        self._bus.publish(ToolCallFinished(agent_id=self.agent_id, call_id=use.id, tool=use.name, ok=outcome.ok,
                                           summary=outcome.summary, duration_s=time.monotonic() - started,
                                           result=outcome.result))
        return outcome

    def _finish(self, reason: str, *, failed: bool) -> None:
        if failed:
            self._set_status("failed", reason)
        self._bus.publish(AgentFinished(agent_id=self.agent_id, reason=reason))
