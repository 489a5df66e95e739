"""A researcher's conversation as data: messages made of content blocks.

The same shape for every backend, and the shape of the Messages API: thinking (with
its signature, passed back unchanged), redacted thinking, text, tool_use (with the
provider's id) and tool_result (with ``is_error``). Every completed block is an event
(``agents.events``), so ``rebuild_conversation`` can rebuild the exact conversation a
backend last sent from the event log alone: after a crash, in review, in tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ThinkingBlock(_Block):
    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str = ""


class RedactedThinkingBlock(_Block):
    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str


class TextBlock(_Block):
    type: Literal["text"] = "text"
    text: str


class ToolUseBlock(_Block):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(_Block):
    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False


Block = Annotated[
    Union[ThinkingBlock, RedactedThinkingBlock, TextBlock, ToolUseBlock, ToolResultBlock],
    Field(discriminator="type"),
]
AssistantBlock = Annotated[
    Union[ThinkingBlock, RedactedThinkingBlock, TextBlock, ToolUseBlock], Field(discriminator="type")
]
BLOCK_ADAPTER: TypeAdapter[Block] = TypeAdapter(Block)

Origin = Literal["task", "supervisor", "harness", "tools", "model"]
SUPERVISOR_PREFIX = "[Message from your human supervisor]"


class Message(BaseModel):
    """One message: ``role`` as the API knows it, ``origin`` as aar does (who wrote it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["user", "assistant"]
    content: tuple[Block, ...]
    origin: Origin = "model"

    def tool_uses(self) -> list[ToolUseBlock]:
        """The tool calls of an assistant message, in order."""
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    def text(self) -> str:
        """The message's text blocks joined (for transcripts and the scripted baseline)."""
        return "\n".join(b.text for b in self.content if isinstance(b, TextBlock))


def user_text(text: str, origin: Origin = "task") -> Message:
    """A user turn of plain text; a supervisor's is marked as such for the model."""
    if origin == "supervisor":
        text = f"{SUPERVISOR_PREFIX} {text}"
    return Message(role="user", content=(TextBlock(text=text),), origin=origin)


def to_api_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """The Messages API ``messages`` list: consecutive same-role messages merged (the API
    wants tool results and a following supervisor note in one user turn)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks = [block.model_dump() for block in message.content]
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    return out


def tool_results_answer(assistant: Message, results: Iterable[ToolResultBlock]) -> bool:
    """True when ``results`` answer every tool_use of ``assistant``, each exactly once."""
    wanted = [b.id for b in assistant.tool_uses()]
    given = [r.tool_use_id for r in results]
    return sorted(wanted) == sorted(given) and len(set(given)) == len(given)
