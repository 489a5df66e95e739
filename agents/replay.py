"""Rebuilding engine state from the event log alone.

``rebuild_conversation`` gives back exactly the conversation a researcher's backend
was sent (and the assistant turns it answered): user turns from ``MessageAdded``, each
assistant turn from the ``BlockCompleted`` events of the attempt its ``TurnCompleted``
names (blocks of broken attempts are dropped), tool results from ``ToolCallFinished``,
and a ``Compacted`` event restarting the list.
"""

from __future__ import annotations

from collections.abc import Iterable

from agents.conversation import AssistantBlock, Message
from agents.events import (
    BlockCompleted,
    Compacted,
    Event,
    MessageAdded,
    ToolCallFinished,
    TurnCompleted,
    TurnFailed,
)


def rebuild_conversation(events: Iterable[Event], agent_id: str) -> list[Message]:
    """The conversation of ``agent_id`` as the log records it, in order."""
    conversation: list[Message] = []
    pending: dict[tuple[int, int], dict[int, AssistantBlock]] = {}
    for event in events:
        if event.agent_id != agent_id:
            continue
        match event:
            case MessageAdded():
                conversation.append(event.message)
            case BlockCompleted():
                pending.setdefault((event.turn, event.attempt), {})[event.index] = event.block
            case TurnFailed():
                pending.pop((event.turn, event.attempt), None)
            case TurnCompleted():
                blocks = pending.pop((event.turn, event.attempt), {})
                conversation.append(Message(role="assistant", content=tuple(blocks[i] for i in sorted(blocks)),
                                            origin="model"))
                for key in [k for k in pending if k[0] == event.turn]:
                    pending.pop(key)
            case ToolCallFinished():
                conversation.append(Message(role="user", content=(event.result,), origin="tools"))
            case Compacted():
                conversation = list(event.messages)
            case _:
                pass
    return conversation
