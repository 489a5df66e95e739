"""What a researcher backend is: it streams one assistant turn of content blocks.

The loop (``agents.researcher``) owns the conversation, tools, events and budgets; a
backend only turns a request (system prompt, tools, messages) into blocks, reporting
thinking and text deltas and each completed block as they arrive. Backends are
registered by name (``baseline``, ``claude``) and built from the settings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from agents.conversation import AssistantBlock, Message
from agents.events import TokenUsage

if TYPE_CHECKING:
    from agents.settings import AarSettings
    from agents.tools import ToolSpec


@dataclass(frozen=True)
class TurnRequest:
    """Everything one model turn is asked with."""

    agent_id: str
    system: str
    tools: tuple[ToolSpec, ...]
    messages: tuple[Message, ...]
    turn: int
    direction: str = ""


class TurnSink(Protocol):
    """Where a backend reports a turn as it streams."""

    def delta(self, index: int, block_type: Literal["thinking", "text"], text: str) -> None: ...

    def block(self, index: int, block: AssistantBlock) -> None: ...


@dataclass(frozen=True)
class AssistantTurn:
    """A completed turn: its blocks in order, why it stopped, and what it cost in tokens."""

    blocks: tuple[AssistantBlock, ...]
    stop_reason: str
    usage: TokenUsage = TokenUsage()
    model: str = ""


class TurnBroken(Exception):
    """This attempt at a turn failed in a way worth retrying (a stream cut before its end,
    an overloaded or rate-limited API after the SDK's own retries). None of its tools runs."""


class BackendError(Exception):
    """A failure retrying cannot fix (bad request, no credentials); the agent fails, with the message."""


class ResearcherBackend(Protocol):
    """The thinking part of a researcher: an LLM, or the scripted baseline."""

    name: str
    model: str

    async def stream_turn(self, request: TurnRequest, sink: TurnSink) -> AssistantTurn: ...

    async def summarize(self, request: TurnRequest) -> tuple[str, TokenUsage]:
        """A summary of the conversation so far, for compaction (with its own usage)."""
        ...

    async def aclose(self) -> None: ...


BackendFactory = Callable[["AarSettings", int, str], ResearcherBackend]
"""(settings, agent index, direction) -> a backend for one agent."""

BACKENDS: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``factory`` available as ``--researcher name``."""
    BACKENDS[name] = factory


class UnknownBackendError(ValueError):
    """No researcher backend of that name."""


def create_backend(name: str, settings: AarSettings, index: int, direction: str) -> ResearcherBackend:
    """The named backend for one agent, or ``UnknownBackendError`` listing the known ones."""
    _load_builtin()
    factory = BACKENDS.get(name)
    if factory is None:
        raise UnknownBackendError(f"unknown researcher {name!r} (known: {', '.join(sorted(BACKENDS))})")
    return factory(settings, index, direction)


def known_backends() -> list[str]:
    _load_builtin()
    return sorted(BACKENDS)


def _load_builtin() -> None:
    # Imported lazily: the Claude backend pulls in the anthropic SDK.
    for name in ("baseline", "claude"):
        if name not in BACKENDS:
            importlib.import_module(f"agents.{name}")  # registers itself
