"""The Claude researcher: the real ``anthropic`` SDK, streaming, adaptive thinking, tools.

Only the SDK talks to the API: no hand-written HTTP, SSE or retry code. Requests
carry ``thinking: {type: adaptive}`` (and the effort setting), the tools, and cache
breakpoints on the system prompt, on the last tool and on the conversation's last
block (a moving breakpoint), so from the third turn on nearly all of a request's
input is a cache read. Thinking blocks go back unchanged, signatures included, as the
API requires with tool use. The SDK retries 429, 5xx and 529 answers itself
(``max_retries``); a stream that breaks mid-turn, or a message that arrives without
a stop reason (what anthropic 2.x can hand back when the connection drops before
``message_stop``), is a broken turn (``TurnBroken``) that the loop retries whole.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from typing import Any

import anthropic
import httpx2
from anthropic.lib.streaming import ParsedContentBlockStopEvent
from anthropic.types import RawContentBlockDeltaEvent, TextDelta, ThinkingDelta

from agents.backend import AssistantTurn, BackendError, TurnBroken, TurnRequest, TurnSink, register_backend
from agents.conversation import (
    AssistantBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    to_api_messages,
    user_text,
)
from agents.events import TokenUsage
from agents.settings import AarSettings

CACHE = {"type": "ephemeral"}
YIELD_EVERY = 8  # stream events between yields to the event loop
SUMMARY_PROMPT = (
    "Your conversation is about to be compacted to fit the context window. Write a summary "
    "that lets you continue the work without it: the task as you understand it, what you tried "
    "(commands, settings, scores), what worked and what did not, the files in your work dir that "
    "matter, forum posts you made or rely on, and your plan for the next steps. Be specific; no tools."
)
CLAUDE_DIRECTIONS = (
    "Look at where the weak teacher is confident and where it is unsure, and what that should "
    "mean for how much the student trusts each label.",
    "The student may be learning the teacher's mistakes along with its knowledge. Find out when "
    "that happens, and how to stop it.",
    "Ask what the strong features already know with no labels at all, and how to use it.",
    "Question the training procedure itself: the loss, the schedule, when to stop.",
    "Several students, several views: where they disagree may tell you something.",
    "Treat the weak labels as a noisy channel and try to model the noise.",
    "Let the student teach itself where it is sure, and see whether that helps or hurts.",
    "Think about what a student should not be able to fit, and constrain it accordingly.",
    "Be the skeptic of the team: test how robust the gains others report are across seeds and "
    "variants, and what the score really rewards.",
)


def _usage(raw: Any) -> TokenUsage:
    if raw is None:
        return TokenUsage()
    return TokenUsage(
        input_tokens=int(getattr(raw, "input_tokens", 0) or 0),
        output_tokens=int(getattr(raw, "output_tokens", 0) or 0),
        cache_read_tokens=int(getattr(raw, "cache_read_input_tokens", 0) or 0),
        cache_write_tokens=int(getattr(raw, "cache_creation_input_tokens", 0) or 0),
    )


def _block(raw: Any) -> AssistantBlock | None:
    """Our block for one SDK content block (unknown kinds are dropped, with none expected)."""
    kind = getattr(raw, "type", None)
    if kind == "thinking":
        return ThinkingBlock(thinking=raw.thinking, signature=raw.signature or "")
    if kind == "redacted_thinking":
        return RedactedThinkingBlock(data=raw.data)
    if kind == "text":
        return TextBlock(text=raw.text)
    if kind == "tool_use":
        return ToolUseBlock(id=raw.id, name=raw.name, input=dict(raw.input or {}))
    return None


def with_cache_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of the API messages with a cache breakpoint on the last block (the moving one)."""
    if not messages:
        return messages
    out = [dict(m, content=list(m["content"])) for m in messages]
    last = out[-1]["content"]
    last[-1] = dict(last[-1], cache_control=CACHE)
    return out


def tool_params(tools: Iterable[Any]) -> list[dict[str, Any]]:
    """The tools as the API takes them, with a cache breakpoint after the last one."""
    params = [{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools]
    if params:
        params[-1] = dict(params[-1], cache_control=CACHE)
    return params


class ClaudeResearcher:
    """One agent's Claude backend over one ``AsyncAnthropic`` client."""

    name = "claude"

    def __init__(self, settings: AarSettings) -> None:
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise BackendError(missing_key_message())
        self.model = settings.model
        self.name = f"claude ({settings.model})"
        self._settings = settings
        self._client = anthropic.AsyncAnthropic(
            api_key=key, base_url=settings.base_url or None, max_retries=settings.api_max_retries,
            timeout=anthropic.Timeout(600.0, connect=15.0),
        )

    def _params(self, request: TurnRequest, messages: list[dict[str, Any]]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self._settings.max_tokens,
            "system": [{"type": "text", "text": request.system, "cache_control": CACHE}],
            "tools": tool_params(request.tools),
            "messages": with_cache_breakpoint(messages),
            "thinking": {"type": "adaptive"},
        }
        if self._settings.effort:
            params["output_config"] = {"effort": self._settings.effort}
        return params

    async def stream_turn(self, request: TurnRequest, sink: TurnSink) -> AssistantTurn:
        params = self._params(request, to_api_messages(request.messages))
        try:
            async with self._client.messages.stream(**params) as stream:
                seen = 0
                async for event in stream:
                    if isinstance(event, RawContentBlockDeltaEvent):
                        if isinstance(event.delta, ThinkingDelta):
                            sink.delta(event.index, "thinking", event.delta.thinking)
                        elif isinstance(event.delta, TextDelta):
                            sink.delta(event.index, "text", event.delta.text)
                    elif isinstance(event, ParsedContentBlockStopEvent):
                        block = _block(event.content_block)
                        if block is not None:
                            sink.block(event.index, block)
                    seen += 1
                    if seen % YIELD_EVERY == 0:
                        # A burst of buffered events must not hold the loop (the UI, other agents).
                        await asyncio.sleep(0)
                final = await stream.get_final_message()
        except (anthropic.APIConnectionError, anthropic.RateLimitError, anthropic.InternalServerError) as exc:
            raise TurnBroken(f"{type(exc).__name__}: {exc}") from exc
        except httpx2.TransportError as exc:
            # A stream cut mid-body surfaces as the transport's own error (anthropic 2.10 on
            # httpx2 neither wraps nor retries it): a broken turn.
            raise TurnBroken(f"the stream broke: {type(exc).__name__}: {exc}") from exc
        except anthropic.APIStatusError as exc:
            # status 200: an `event: error` inside the stream (overloaded mid-turn).
            if exc.status_code in (200, 408, 409, 429) or exc.status_code >= 500:
                raise TurnBroken(f"{type(exc).__name__} ({exc.status_code}): {exc}") from exc
            raise BackendError(f"{type(exc).__name__} ({exc.status_code}): {exc}") from exc
        except anthropic.AnthropicError as exc:
            raise TurnBroken(f"{type(exc).__name__}: {exc}") from exc
        if final.stop_reason is None:
            # The connection dropped before message_stop and the SDK returned what it had.
            raise TurnBroken("the stream ended before the message was complete (no stop_reason)")
        blocks = tuple(b for b in (_block(raw) for raw in final.content) if b is not None)
        return AssistantTurn(blocks, final.stop_reason, _usage(final.usage), final.model or self.model)

    async def summarize(self, request: TurnRequest) -> tuple[str, TokenUsage]:
        messages = to_api_messages([*request.messages, user_text(SUMMARY_PROMPT, origin="harness")])
        params = self._params(request, messages)
        params.pop("thinking")
        params.pop("output_config", None)
        try:
            reply = await self._client.messages.create(**params, tool_choice={"type": "none"})
        except anthropic.APIError as exc:
            raise TurnBroken(f"compaction summary failed: {exc}") from exc
        text = "\n".join(b.text for b in reply.content if getattr(b, "type", "") == "text")
        return text or "(no summary)", _usage(reply.usage)

    async def aclose(self) -> None:
        await self._client.close()


def missing_key_message() -> str:
    return ("--researcher claude needs an API key: export ANTHROPIC_API_KEY=sk-ant-... "
            "(and --base-url or ANTHROPIC_BASE_URL for another Messages API server), "
            "or run offline with --researcher baseline")


def _create(settings: AarSettings, index: int, direction: str) -> ClaudeResearcher:
    return ClaudeResearcher(settings)


register_backend("claude", _create)
