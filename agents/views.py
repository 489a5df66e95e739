"""Read models: the campaign as a reader sees it, built only from events.

`apply(view, event)` is the one reducer. It depends on nothing but its arguments,
so the live TUI, `aar review`, the headless summary and the tests all derive the
same state from the same log. It updates `view` in place (copying per event would
cost O(n) at 100k events) and returns it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from agents.events import (
    AgentFinished,
    ApprovalDecided,
    ApprovalRequested,
    ApprovalWithdrawn,
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
from agents.transcript import transcript_lines

TRANSCRIPT_LINES_KEPT = 5000
NOT_REPRODUCIBLE = "not reproducible"
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
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=TRANSCRIPT_LINES_KEPT))
    lines_total: int = 0
    turns: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    forum_posts: int = 0
    divergence: list[tuple[float, float]] = field(default_factory=list)
    """(time, public PGR - private PGR) of each scored submission, oldest first: a public
    score pulling away from the private one over time is the signature of fitting the
    public split (or of probing it)."""


@dataclass(frozen=True)
class LeaderboardRow:
    agent_id: str
    submission_id: int
    method: str
    public_pgr: float
    private_pgr: float | None
    seq: int
    flags: tuple[str, ...] = ()
    reproducible: bool = True  # the agent gave the command that produced it


@dataclass
class CampaignView:
    campaign_id: str = ""
    testbed: str = ""
    sandbox_backend: str = ""
    sandbox_isolation: str = ""
    phase: str = "starting"  # starting -> preparing -> running -> finished
    progress: tuple[str, int, int] | None = None
    acc_weak: float | None = None
    acc_ceiling: float | None = None
    finished_reason: str = ""
    agents: dict[str, AgentView] = field(default_factory=dict)
    submissions: list[LeaderboardRow] = field(default_factory=list)
    verdicts: dict[int, str] = field(default_factory=dict)  # submission id -> reproduction verdict
    last_seq: int = 0
    researcher: str = ""
    model: str = ""
    forum: list[ForumPosted] = field(default_factory=list)
    approvals: dict[int, ApprovalRequested] = field(default_factory=dict)  # pending, by request id
    grants: dict[int, GrantAdded] = field(default_factory=dict)  # "approve always" in force

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


def apply(view: CampaignView, event: Event) -> CampaignView:
    """Fold one event into the view."""
    view.last_seq = max(view.last_seq, event.seq)
    if event.agent_id is not None:
        agent = view.agent(event.agent_id)
        new_lines = transcript_lines(event)
        agent.lines.extend(new_lines)
        agent.lines_total += len(new_lines)
    match event:
        case CampaignStarted():
            view.campaign_id = event.campaign_id
            view.testbed = event.testbed
            view.sandbox_backend = event.sandbox_backend
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
                        flags=tuple(flag["code"] for flag in event.flags),
                        reproducible=bool(event.command),
                    )
                )
                if event.private_pgr is not None:
                    agent.divergence.append((event.ts, event.public_pgr - event.private_pgr))
        case TurnCompleted():
            agent = view.agent(event.agent_id or "")
            agent.turns += 1
            agent.tokens += event.usage.total
            agent.cost_usd += event.cost_usd
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
