"""A wall-clock budget that stands still while its sandbox is paused."""

from __future__ import annotations

import time
from collections.abc import Callable


class PausableDeadline:
    """Seconds left of a budget, not counting time spent paused.

    A person may pause an agent for ten minutes; its running experiment must not be
    killed for a timeout the moment it is resumed.
    """

    def __init__(self, budget_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._budget_s = budget_s
        self._started = clock()
        self._paused_total = 0.0
        self._paused_at: float | None = None

    @property
    def paused(self) -> bool:
        """True while the budget is frozen."""
        return self._paused_at is not None

    def pause(self) -> None:
        """Stop spending the budget. Idempotent."""
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self) -> None:
        """Start spending the budget again. Idempotent."""
        if self._paused_at is not None:
            self._paused_total += self._clock() - self._paused_at
            self._paused_at = None

    def active_elapsed(self) -> float:
        """Seconds spent running, pauses excluded."""
        now = self._paused_at if self._paused_at is not None else self._clock()
        return now - self._started - self._paused_total

    def remaining(self) -> float:
        """Seconds of budget left; zero or less means it ran out."""
        return self._budget_s - self.active_elapsed()
