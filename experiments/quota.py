"""A per-agent submission quota over a sliding window (default: N per hour).

Rate limiting is the scorer's main defence against label extraction: every scored
submission tells the agent something about the hidden labels, so the number of
questions per hour bounds what can leak. The agents layer owns the quota (it knows
who is submitting) and uses it around `Scorer.score`:

    decision = quota.check(agent_id)
    if not decision.allowed:
        tell the agent decision.message
    else:
        result = scorer.score(ids, probs, agent=agent_id)
        if result.counts_against_quota:
            quota.charge(agent_id)

A malformed submission (`valid` False, not refused) is not charged.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class QuotaDecision:
    """Whether an agent may submit now, what is left, and when the next slot frees."""

    allowed: bool
    remaining: int
    retry_after_s: float
    message: str


class SubmissionQuota:
    """At most `per_window` charged submissions per agent in any `window_s` seconds."""

    def __init__(self, per_window: int, *, window_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_window < 1:
            raise ValueError(f"per_window must be at least 1, got {per_window}")
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.per_window = per_window
        self.window_s = window_s
        self._clock = clock
        self._used: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, agent: str, now: float) -> deque[float]:
        times = self._used[agent]
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def check(self, agent: str) -> QuotaDecision:
        """May `agent` submit now? Has no side effect."""
        with self._lock:
            now = self._clock()
            times = self._prune(agent, now)
            remaining = self.per_window - len(times)
            if remaining > 0:
                return QuotaDecision(True, remaining, 0.0, f"{remaining} submission(s) left this window")
            wait = max(0.0, times[0] + self.window_s - now)
        minutes = max(1, int(round(wait / 60)))
        return QuotaDecision(False, 0, wait, f"submission quota used up ({self.per_window} per "
                                             f"{_window_text(self.window_s)}); next slot in about {minutes} min")

    def charge_at(self, agent: str, when: float) -> None:
        """Record a submission made at ``when`` (on this quota's clock): a resumed engine
        rebuilds the window from its log."""
        with self._lock:
            times = self._used[agent]
            times.append(when)
            self._prune(agent, self._clock())

    def charge(self, agent: str) -> int:
        """Record one submission by `agent` now; returns how many are left this window."""
        with self._lock:
            now = self._clock()
            times = self._prune(agent, now)
            times.append(now)
            return max(0, self.per_window - len(times))

    def remaining(self, agent: str) -> int:
        """Submissions `agent` may still make in the current window."""
        return self.check(agent).remaining


def _window_text(window_s: float) -> str:
    if window_s == 3600:
        return "hour"
    if window_s % 3600 == 0:
        return f"{int(window_s // 3600)} hours"
    return f"{int(window_s // 60)} min" if window_s >= 60 else f"{window_s:g} s"
