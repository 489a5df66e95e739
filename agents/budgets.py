"""Budgets per agent and for the whole campaign: tokens, dollars, wall time, turns, submissions.

The keeper only counts and compares; the loop asks it before each turn (and the desk
before each submission), and when a budget is reached the engine pauses the agent
with a ``BudgetReached`` event until the supervisor grants more (``BudgetGranted``) or
stops it. Nothing stops silently. Spend is rebuilt from events after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.events import BudgetName, TokenUsage

CAMPAIGN = ""  # the scope key of campaign-wide budgets


@dataclass
class Spend:
    """What one agent (or the campaign) has used."""

    tokens: int = 0
    dollars: float = 0.0
    turns: int = 0
    submissions: int = 0
    wall_s: float = 0.0

    def get(self, name: BudgetName) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True)
class BudgetHit:
    """A budget that is reached: whose (agent id, or "" for the campaign), which, and the numbers."""

    scope: str
    name: BudgetName
    limit: float
    used: float

    def describe(self) -> str:
        whose = "the campaign's" if self.scope == CAMPAIGN else "its"
        unit = {"tokens": " tokens", "dollars": " dollars", "wall_s": " s of wall time", "turns": " turns",
                "submissions": " submissions"}[self.name]
        used = f"{self.used:.2f}" if self.name == "dollars" else f"{self.used:g}"
        return f"{whose} {self.name} budget is reached ({used} of {self.limit:g}{unit})"


@dataclass
class BudgetKeeper:
    """Limits (None = unlimited) and spend, per agent and for the campaign."""

    agent_limits: dict[BudgetName, float | None]
    campaign_limits: dict[BudgetName, float | None]
    spend: dict[str, Spend] = field(default_factory=dict)
    grants: dict[tuple[str, BudgetName], float] = field(default_factory=dict)

    def of(self, scope: str) -> Spend:
        return self.spend.setdefault(scope, Spend())

    def limit(self, scope: str, name: BudgetName) -> float | None:
        base = (self.campaign_limits if scope == CAMPAIGN else self.agent_limits).get(name)
        if base is None:
            return None
        return base + self.grants.get((scope, name), 0.0)

    def charge_turn(self, agent_id: str, usage: TokenUsage, dollars: float) -> None:
        for scope in (agent_id, CAMPAIGN):
            spend = self.of(scope)
            spend.tokens += usage.total
            spend.dollars += dollars
            spend.turns += 1

    def charge_submission(self, agent_id: str) -> None:
        for scope in (agent_id, CAMPAIGN):
            self.of(scope).submissions += 1

    def charge_wall(self, agent_id: str, seconds: float) -> None:
        self.of(agent_id).wall_s += seconds

    def reached(self, agent_id: str, names: tuple[BudgetName, ...] = ("tokens", "dollars", "wall_s", "turns")) -> BudgetHit | None:
        """The first budget of ``names`` that ``agent_id`` or the campaign has reached, if any."""
        for scope in (agent_id, CAMPAIGN):
            spend = self.of(scope)
            for name in names:
                limit = self.limit(scope, name)
                if limit is not None and spend.get(name) >= limit:
                    return BudgetHit(scope, name, limit, spend.get(name))
        return None

    def remaining(self, agent_id: str, name: BudgetName) -> float | None:
        """What is left of one budget for ``agent_id`` (the tighter of its own and the campaign's)."""
        left: list[float] = []
        for scope in (agent_id, CAMPAIGN):
            limit = self.limit(scope, name)
            if limit is not None:
                left.append(max(0.0, limit - self.of(scope).get(name)))
        return min(left) if left else None

    def grant(self, scope: str, name: BudgetName, amount: float) -> float:
        """Raise a budget by ``amount``; returns the new limit. A budget without a limit gets none."""
        if amount <= 0:
            raise ValueError(f"a grant must be positive, got {amount}")
        if (self.campaign_limits if scope == CAMPAIGN else self.agent_limits).get(name) is None:
            raise ValueError(f"the {name} budget has no limit to raise")
        self.grants[(scope, name)] = self.grants.get((scope, name), 0.0) + amount
        new = self.limit(scope, name)
        assert new is not None
        return new
