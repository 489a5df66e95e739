"""Read models: the campaign as a reader sees it, built only from events.

`apply(view, event)` is the one reducer. It depends on nothing but its arguments,
so the live TUI, `aar review`, the headless summary and the tests all derive the
same state from the same log. It updates `view` in place (copying per event would
cost O(n) at 100k events) and returns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.events import (
    AgentFinished,
    ApprovalDecided,
    ApprovalRequested,
    ApprovalWithdrawn,
    BudgetGranted,
    BudgetReached,
    GrantAdded,
    GrantRevoked,
    AgentStarted,
    AgentStatus,
    AgentStatusChanged,
    CampaignFinished,
    CampaignStarted,
    Event,
    ForumPosted,
    ProgressReported,
    ReproductionJudged,
    SubmissionScored,
    TaskPrepared,
    TurnCompleted,
)
from agents.transcript import Transcript

NOT_REPRODUCIBLE = "not reproducible"
# Re-run verdicts that raise no alarm ("inconclusive": the runs could not tell either way).
QUIET_MARKS = ("reproduced", "inconclusive")
"""The mark of a submission that gave no command: the harness cannot re-run it."""


@dataclass
class AgentView:
    agent_id: str
    backend: str = ""
    direction: str = ""
    status: AgentStatus = "starting"
    status_reason: str = ""
    submissions: int = 0
    best_public_pgr: float | None = None
    best_private_pgr: float | None = None
    transcript: Transcript = field(init=False)
    started_ts: float | None = None
    last_ts: float | None = None
    turns: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    forum_posts: int = 0
    divergence: list[tuple[float, float]] = field(default_factory=list)
    """(time, public PGR - private PGR) of each scored submission, oldest first: a public
    score pulling away from the private one over time is the signature of fitting the
    public split (or of probing it)."""
    pgr_history: list[tuple[float, float, float | None]] = field(default_factory=list)
    """(time, public PGR, private PGR) of each valid submission, oldest first (the plot)."""
    held_by: str = ""  # the budget that paused it ("" when none holds it)
    wall_s: float = 0.0  # model turns' wall time (what the wall-time budget counts)

    def __post_init__(self) -> None:
        self.transcript = Transcript(self.agent_id)

    @property
    def activity(self) -> str:
        """What it is doing now, in a few words."""
        if self.status == "paused":
            return self.status_reason or "paused"
        if self.status in ("finished", "failed"):
            return self.status_reason
        return self.transcript.activity()

    def spent(self, budget: str) -> float:
        """What it has used of a budget (as the engine counts it)."""
        match budget:
            case "tokens":
                return float(self.tokens)
            case "dollars":
                return self.cost_usd
            case "turns":
                return float(self.turns)
            case "submissions":
                return float(self.submissions)
            case "wall_s":
                return self.wall_s
        raise ValueError(f"no budget {budget!r}")


@dataclass(frozen=True)
class LeaderboardRow:
    agent_id: str
    submission_id: int
    method: str
    public_pgr: float
    private_pgr: float | None
    seq: int
    ts: float = 0.0
    flags: tuple[str, ...] = ()
    flag_reasons: tuple[str, ...] = ()
    public_interval: tuple[float, float] | None = None
    private_interval: tuple[float, float] | None = None
    reproducible: bool = True  # the agent gave the command that produced it


@dataclass
class CampaignView:
    campaign_id: str = ""
    testbed: str = ""
    sandbox_backend: str = ""
    sandbox_isolation: str = ""
    isolation_risk: str = ""
    """Set when agent code runs below bwrap: the risk accepted by name."""
    phase: str = "starting"  # starting -> preparing -> running -> finished
    progress: tuple[str, int, int] | None = None
    acc_weak: float | None = None
    acc_ceiling: float | None = None
    finished_reason: str = ""
    agents: dict[str, AgentView] = field(default_factory=dict)
    submissions: list[LeaderboardRow] = field(default_factory=list)
    verdicts: dict[int, str] = field(default_factory=dict)  # submission id -> reproduction verdict
    verdict_reasons: dict[int, str] = field(default_factory=dict)
    last_seq: int = 0
    researcher: str = ""
    model: str = ""
    forum: list[ForumPosted] = field(default_factory=list)
    approvals: dict[int, ApprovalRequested] = field(default_factory=dict)  # pending, by request id
    grants: dict[int, GrantAdded] = field(default_factory=dict)  # "approve always" in force
    agent_limits: dict[str, float] = field(default_factory=dict)  # budget name -> per-agent limit
    campaign_limits: dict[str, float] = field(default_factory=dict)
    agent_grants: dict[tuple[str, str], float] = field(default_factory=dict)  # (agent, budget) -> granted
    started_ts: float | None = None
    last_ts: float | None = None

    def gauges(self, agent_id: str | None = None) -> list[tuple[str, float, float]]:
        """(budget, used, limit) of each limited budget of one agent, or of the campaign
        (``agent_id`` None; its wall clock counts from the start)."""
        out: list[tuple[str, float, float]] = []
        if agent_id is None:
            for name, limit in self.campaign_limits.items():
                if name == "wall_s":
                    used = (self.last_ts or 0.0) - (self.started_ts or self.last_ts or 0.0)
                else:
                    used = float(self.tokens) if name == "tokens" else self.cost_usd
                out.append((name, used, limit + self.agent_grants.get(("", name), 0.0)))
            return out
        agent = self.agents[agent_id]
        for name, limit in self.agent_limits.items():
            out.append((name, agent.spent(name), limit + self.agent_grants.get((agent_id, name), 0.0)))
        return out

    def approval_queue(self) -> list[ApprovalRequested]:
        """Pending requests across agents, oldest first."""
        return [self.approvals[r] for r in sorted(self.approvals)]

    @property
    def tokens(self) -> int:
        return sum(a.tokens for a in self.agents.values())

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.agents.values())

    def agent(self, agent_id: str) -> AgentView:
        if agent_id not in self.agents:
            self.agents[agent_id] = AgentView(agent_id)
        return self.agents[agent_id]

    def marks(self, row: LeaderboardRow) -> list[str]:
        """What the supervisor should know about a row: tripwires, then the re-run verdict
        (or "not reproducible" when the agent gave no command to re-run)."""
        verdict = self.verdicts.get(row.submission_id)
        if verdict is None and not row.reproducible:
            verdict = NOT_REPRODUCIBLE
        return [*row.flags, *([verdict] if verdict else [])]

    def leaderboard(self, limit: int = 50, *, by: str = "public") -> list[LeaderboardRow]:
        """Valid submissions, best first by ``by`` ("public", as agents are ranked, or
        "private", the supervisor's held-out view; a row without a private PGR goes last);
        the earlier submission wins a tie."""
        if by == "private":
            ranked = sorted(self.submissions, key=lambda r: (
                r.private_pgr is None, -(r.private_pgr or 0.0), -r.public_pgr, r.seq))
        elif by == "public":
            ranked = sorted(self.submissions, key=lambda r: (-r.public_pgr, r.seq))
        else:
            raise ValueError(f"leaderboard order must be 'public' or 'private', not {by!r}")
        return ranked[:limit]


_AGENT_BUDGETS = {"experiments_per_agent": "submissions", "max_turns": "turns", "agent_tokens": "tokens",
                  "agent_dollars": "dollars", "agent_wall_s": "wall_s"}
_CAMPAIGN_BUDGETS = {"campaign_tokens": "tokens", "campaign_dollars": "dollars", "max_wall_s": "wall_s"}
"""Budget names of ``CampaignStarted.budget`` keys, per agent and for the campaign."""


def apply(view: CampaignView, event: Event) -> CampaignView:
    """Fold one event into the view."""
    view.last_seq = max(view.last_seq, event.seq)
    view.last_ts = event.ts
    if event.agent_id is not None:
        agent = view.agent(event.agent_id)
        agent.transcript.apply(event)
        agent.last_ts = event.ts
    match event:
        case CampaignStarted():
            view.started_ts = event.ts
            view.agent_limits = {name: event.budget[key] for key, name in _AGENT_BUDGETS.items() if key in event.budget}
            view.campaign_limits = {name: event.budget[key] for key, name in _CAMPAIGN_BUDGETS.items()
                                    if key in event.budget}
            view.campaign_id = event.campaign_id
            view.testbed = event.testbed
            view.sandbox_backend = event.sandbox_backend
            view.isolation_risk = event.isolation_risk
            view.researcher, view.model = event.researcher, event.model
            view.phase = "preparing"
            for agent_id in event.agent_ids:
                view.agent(agent_id)
        case ProgressReported():
            view.progress = (event.stage, event.done, event.total)
        case TaskPrepared():
            view.acc_weak, view.acc_ceiling = event.acc_weak, event.acc_ceiling
            view.phase = "running"
            view.progress = None
        case AgentStarted():
            agent = view.agent(event.agent_id or "")
            agent.backend, agent.direction = event.backend, event.direction
            agent.started_ts = agent.started_ts or event.ts
            view.sandbox_isolation = view.sandbox_isolation or event.sandbox_isolation
        case AgentStatusChanged():
            agent = view.agent(event.agent_id or "")
            agent.status, agent.status_reason = event.status, event.reason
        case SubmissionScored():
            agent = view.agent(event.agent_id or "")
            agent.submissions += 1
            if event.valid and event.public_pgr is not None:
                if agent.best_public_pgr is None or event.public_pgr > agent.best_public_pgr:
                    agent.best_public_pgr = event.public_pgr
                    agent.best_private_pgr = event.private_pgr
                view.submissions.append(
                    LeaderboardRow(
                        agent_id=event.agent_id or "",
                        submission_id=event.submission_id,
                        method=event.method,
                        public_pgr=event.public_pgr,
                        private_pgr=event.private_pgr,
                        seq=event.seq,
                        ts=event.ts,
                        flags=tuple(flag["code"] for flag in event.flags),
                        flag_reasons=tuple(flag.get("reason", "") for flag in event.flags),
                        public_interval=event.public_pgr_interval,
                        private_interval=event.private_pgr_interval,
                        reproducible=bool(event.command),
                    )
                )
                agent.pgr_history.append((event.ts, event.public_pgr, event.private_pgr))
                if event.private_pgr is not None:
                    agent.divergence.append((event.ts, event.public_pgr - event.private_pgr))
        case TurnCompleted():
            agent = view.agent(event.agent_id or "")
            agent.turns += 1
            agent.tokens += event.usage.total
            agent.cost_usd += event.cost_usd
            agent.wall_s += event.seconds
        case BudgetReached():
            if event.agent_id:
                view.agent(event.agent_id).held_by = event.budget
        case BudgetGranted():
            key = (event.agent_id or "", event.budget)
            view.agent_grants[key] = view.agent_grants.get(key, 0.0) + event.amount
            if event.agent_id:
                view.agent(event.agent_id).held_by = ""
        case ForumPosted():
            view.forum.append(event)
            if event.agent_id:
                view.agent(event.agent_id).forum_posts += 1
        case ApprovalRequested():
            view.approvals[event.request_id] = event
        case ApprovalDecided() | ApprovalWithdrawn():
            view.approvals.pop(event.request_id, None)
        case GrantAdded():
            view.grants[event.grant_id] = event
        case GrantRevoked():
            view.grants.pop(event.grant_id, None)
        case ReproductionJudged():
            view.verdicts[event.submission_id] = event.verdict
            view.verdict_reasons[event.submission_id] = event.reason
        case AgentFinished():
            agent = view.agent(event.agent_id or "")
            if agent.status != "failed":
                agent.status = "finished"
            agent.status_reason = event.reason
        case CampaignFinished():
            view.phase = "finished"
            view.finished_reason = event.reason
        case _:
            pass
    return view


def build_view(events: list[Event]) -> CampaignView:
    """Replay a whole log."""
    view = CampaignView()
    for event in events:
        apply(view, event)
    return view
