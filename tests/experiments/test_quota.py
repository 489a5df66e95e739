"""The per-agent sliding-window submission quota."""

from __future__ import annotations

import pytest

from experiments import SubmissionQuota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_quota_per_agent_per_hour() -> None:
    clock = Clock()
    quota = SubmissionQuota(3, clock=clock)
    for left in (2, 1, 0):
        assert quota.check("a").allowed
        assert quota.charge("a") == left
        clock.now += 60
    denied = quota.check("a")
    assert not denied.allowed and denied.remaining == 0
    assert "3 per hour" in denied.message and "min" in denied.message
    assert denied.retry_after_s == pytest.approx(3600 - 180)
    assert quota.check("b").allowed  # agents are counted separately
    clock.now += 3600 - 180  # the first submission leaves the window
    assert quota.check("a").allowed and quota.remaining("a") == 1


def test_checking_has_no_side_effect() -> None:
    quota = SubmissionQuota(1, clock=Clock())
    for _ in range(5):
        assert quota.check("a").allowed


@pytest.mark.parametrize("per, window", [(0, 3600.0), (1, 0.0)])
def test_bad_settings_are_refused(per: int, window: float) -> None:
    with pytest.raises(ValueError):
        SubmissionQuota(per, window_s=window)
