"""How a viewer reaches the engine: an event feed to read, a control channel to command.

Two of each. In the engine's own process: the bus (``BusFeed``) and the campaign's
``send`` (``EngineControl``). From another process, attached to the engine's store:
``StoreTail`` polls the events table, and ``StoreControl`` appends to the commands
table and waits for the engine's ``CommandApplied`` / ``CommandRefused`` answer in the
feed. A viewer holds no engine object either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from agents.commands import Command
from agents.events import CommandApplied, CommandRefused, Event
from agents.store import EventStore

if TYPE_CHECKING:
    from agents.campaign import Campaign, CommandOutcome

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
TAIL_POLL_S = 0.05
ANSWER_TIMEOUT_S = 15.0


class EventFeed(Protocol):
    """Events in order, to whoever subscribes (from the moment they subscribe)."""

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]: ...


class Control(Protocol):
    """Sends one command and returns what became of it."""

    async def send(self, command: Command) -> CommandOutcome: ...


class EngineControl:
    """The in-process channel: the command goes through the commands table all the same."""

    def __init__(self, campaign: Campaign) -> None:
        self._campaign = campaign

    async def send(self, command: Command) -> CommandOutcome:
        return await self._campaign.send(command)


class EngineGone(Exception):
    """No engine answered a command in time (it is not running, or it is stuck)."""


class StoreTail:
    """Polls a store for events after the last one seen and hands them to subscribers."""

    def __init__(self, store: EventStore, *, after_seq: int = 0, poll_s: float = TAIL_POLL_S) -> None:
        self._store = store
        self.last_seq = after_seq
        self._poll_s = poll_s
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    async def poll_once(self) -> int:
        """Read and hand out what is new; returns how many events."""
        count = 0
        async for event in self._store.read(after_seq=self.last_seq):
            self.last_seq = event.seq
            count += 1
            for subscriber in list(self._subscribers):
                try:
                    subscriber(event)
                except Exception:  # a broken view must not stop the feed
                    log.exception("event subscriber failed")
        return count

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-tail")

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # the engine may hold a write lock for a moment: try again
                log.debug("polling the store failed; retrying", exc_info=True)
            await asyncio.sleep(self._poll_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class StoreControl:
    """The attached channel: append to the commands table, wait for the engine's answer."""

    def __init__(self, store: EventStore, feed: EventFeed, *, timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        self._store = store
        self._timeout_s = timeout_s
        self._waiting: dict[int, asyncio.Future[Event]] = {}
        self._early: dict[int, Event] = {}
        feed.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, (CommandApplied, CommandRefused)):
            future = self._waiting.pop(event.command_id, None)
            if future is not None and not future.done():
                future.set_result(event)
            else:
                self._early[event.command_id] = event
                while len(self._early) > 1000:
                    self._early.pop(next(iter(self._early)))

    async def send(self, command: Command) -> CommandOutcome:
        from agents.campaign import CommandOutcome

        stored = await self._store.add_command(command)
        answer = self._early.pop(stored.command_id, None)
        if answer is None:
            future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
            self._waiting[stored.command_id] = future
            try:
                answer = await asyncio.wait_for(future, self._timeout_s)
            except TimeoutError:
                self._waiting.pop(stored.command_id, None)
                raise EngineGone(f"no engine answered command #{stored.command_id} within {self._timeout_s:.0f}s; "
                                 "is the campaign still running?") from None
        if isinstance(answer, CommandRefused):
            return CommandOutcome(stored, False, answer.reason)
        return CommandOutcome(stored, True)
