"""The event bus: numbers events, hands them to the store, fans them out to readers.

Publishing is synchronous and cheap so it can be called from any step of the
engine, including per-line output callbacks. A background task flushes the store
every `flush_interval_s` or as soon as `batch_size` events are waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar, cast

from agents.events import Event, EventBase
from agents.store import EventStore

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
E = TypeVar("E", bound=EventBase)


class EventBus:
    """Single writer of the event log; everything the engine does goes through here."""

    def __init__(
        self, store: EventStore, *, flush_interval_s: float = 0.1, batch_size: int = 1000
    ) -> None:
        self._store = store
        self._seq = 0
        self._subscribers: list[Subscriber] = []
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def last_seq(self) -> int:
        return self._seq

    def continue_from(self, seq: int) -> None:
        """Number the next event ``seq + 1`` (a resumed engine continues its log without a gap)."""
        if self._seq > seq:
            raise ValueError(f"the bus already numbered {self._seq} events")
        self._seq = seq

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with every event published from now on; returns an unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: E) -> E:
        """Number the event, log it and notify subscribers; returns the numbered event."""
        self._seq += 1
        numbered = event.model_copy(update={"seq": self._seq})
        self._store.append(cast(Event, numbered))
        if self._store.pending >= self._batch_size:
            self._wake.set()
        for subscriber in list(self._subscribers):
            try:
                subscriber(cast(Event, numbered))
            except Exception:  # a broken view must never stop the engine
                log.exception("event subscriber failed")
        return numbered

    def flush_soon(self) -> None:
        """Write what is pending now rather than at the next interval (a command's answer:
        attached viewers are waiting for it)."""
        self._wake.set()

    def start(self) -> None:
        """Start the background flusher (needs a running loop)."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_forever(), name="event-flusher")

    async def _flush_forever(self) -> None:
        while True:
            # asyncio.wait, not wait_for: on 3.11 wait_for swallows a cancel that arrives just
            # after the wake-up (a publish, flush_soon), and close() would wait forever
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({woken}, timeout=self._flush_interval_s)
            finally:
                woken.cancel()
            self._wake.clear()
            await self._store.flush()

    async def flush(self) -> None:
        """Write everything published so far."""
        await self._store.flush()

    async def close(self) -> None:
        """Stop the flusher and write the tail; safe to call twice."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await asyncio.shield(self._store.flush())
