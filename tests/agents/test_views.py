"""The read model is a pure fold of events: same log, same view."""

from agents.events import (
    AgentFinished,
    AgentStarted,
    AgentStatusChanged,
    CampaignFinished,
    CampaignStarted,
    SubmissionScored,
    TaskPrepared,
    ToolOutputEmitted,
)
from agents.items import SubmissionItem, ToolCallItem
from agents.views import build_view


def _log():
    return [
        CampaignStarted(seq=1, campaign_id="c1", testbed="tb", agent_ids=["a", "b"], sandbox_backend="local", budget={}),
        TaskPrepared(seq=2, testbed="tb", acc_weak=0.7, acc_ceiling=0.8, private_acc_weak=0.71, private_acc_ceiling=0.79, n_train=10, n_test=10, seconds=1.0),
        AgentStarted(seq=3, agent_id="a", backend="baseline", direction="d", sandbox_workdir="/w", sandbox_isolation="process"),
        SubmissionScored(seq=4, agent_id="a", submission_id=1, method="m1", valid=True, public_pgr=0.3, private_pgr=0.25),
        SubmissionScored(seq=5, agent_id="b", submission_id=2, method="m2", valid=True, public_pgr=0.5, private_pgr=0.1),
        SubmissionScored(seq=6, agent_id="a", submission_id=3, method="m3", valid=False, error="missing id x"),
        SubmissionScored(seq=7, agent_id="a", submission_id=4, method="m4", valid=True, public_pgr=0.3, private_pgr=0.35),
        AgentStatusChanged(seq=8, agent_id="b", status="paused", reason="by supervisor"),
        ToolOutputEmitted(seq=9, agent_id="a", call_id="c", stream="stdout", line="epoch 1"),
        AgentFinished(seq=10, agent_id="a", reason="research complete"),
        CampaignFinished(seq=11, reason="all agents finished", seconds=3.0),
    ]


def test_leaderboard_ranks_by_public_pgr_and_breaks_ties_by_time() -> None:
    view = build_view(_log())
    assert [(r.agent_id, r.submission_id) for r in view.leaderboard()] == [("b", 2), ("a", 1), ("a", 4)]


def test_agents_carry_status_counts_and_best_scores() -> None:
    view = build_view(_log())
    a, b = view.agents["a"], view.agents["b"]
    assert (a.status, a.submissions, a.best_public_pgr, a.best_private_pgr) == ("finished", 3, 0.3, 0.25)
    assert (b.status, b.status_reason, b.best_public_pgr) == ("paused", "by supervisor", 0.5)
    items = list(a.transcript.items)
    call = next(i for i in items if isinstance(i, ToolCallItem))
    assert list(call.output) == [("stdout", "epoch 1")]
    rejected = next(i for i in items if isinstance(i, SubmissionItem) and not i.valid)
    assert (rejected.submission_id, rejected.error) == (3, "missing id x")


def test_campaign_phase_and_baselines() -> None:
    view = build_view(_log()[:2])
    assert (view.phase, view.acc_weak, view.acc_ceiling) == ("running", 0.7, 0.8)
    assert build_view(_log()).phase == "finished"
    assert build_view(_log()).sandbox_isolation == "process"


def test_replaying_twice_gives_the_same_view() -> None:
    log = _log()
    first, second = build_view(log), build_view(log)
    assert first.leaderboard() == second.leaderboard()
    def shape(view):
        return {k: [(type(i).__name__, i.seq, i.version) for i in v.transcript.items] for k, v in view.agents.items()}
    assert shape(first) == shape(second) and shape(first)["a"]


def test_the_supervisor_can_rank_by_private_pgr() -> None:
    view = build_view(_log())
    assert [r.submission_id for r in view.leaderboard(by="private")] == [4, 1, 2]
    try:
        view.leaderboard(by="seq")
    except ValueError as exc:
        assert "public" in str(exc)
    else:
        raise AssertionError("an unknown order must be refused")


def test_public_minus_private_divergence_is_kept_per_agent_in_order() -> None:
    view = build_view(_log())
    a = [round(gap, 2) for _, gap in view.agents["a"].divergence]
    b = [round(gap, 2) for _, gap in view.agents["b"].divergence]
    assert a == [0.05, -0.05] and b == [0.4]


def test_budget_gauges_count_against_the_campaign_limits_and_grants() -> None:
    from agents.events import BudgetGranted, TokenUsage, TurnCompleted
    log = _log()[:3] + [
        TurnCompleted(seq=4, agent_id="a", turn=1, attempt=1, stop_reason="tool_use",
                      usage=TokenUsage(input_tokens=100, output_tokens=50), cost_usd=0.25, seconds=2.0),
        BudgetGranted(seq=5, agent_id="a", budget="turns", amount=2, new_limit=5),
    ]
    log[0] = log[0].model_copy(update={"budget": {"max_turns": 3, "agent_dollars": 1.0, "campaign_tokens": 1000}})
    view = build_view(log)
    assert dict((n, (u, lim)) for n, u, lim in view.gauges("a")) == {"turns": (1.0, 5.0), "dollars": (0.25, 1.0)}
    assert view.gauges() == [("tokens", 150.0, 1000.0)]
    assert view.agents["a"].pgr_history == []
