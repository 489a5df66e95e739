"""The Markdown report reads the same read models as the room."""

from agents.export import markdown_report
from tests.tui.sample_log import control_room_events


def test_the_report_has_the_leaderboard_flags_costs_forum_and_transcripts() -> None:
    report = markdown_report(control_room_events())
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections[:5] == ["## Leaderboard", "## Flagged submissions", "## Agents", "## Forum", "## agent-1"]
    assert "| 1 | agent-3 | confidence loss, threshold 0.7 | 0.72 | [0.55, 0.86] | 0.21 | [0.02, 0.40] |" in report
    flagged = report.split("## Flagged submissions")[1].split("## Agents")[0]
    assert "#3 agent-3" in flagged and "split_divergence: public beats private by 0.51" in flagged
    assert "#2 agent-2" in flagged and "not reproducible" in flagged and "#1 agent-1" not in flagged
    assert "- cost: 87,100 tokens, $1.7500" in report
    assert "| agent-3 | claude (claude-opus-4-6) | 2 | 87100 | $1.7500 | 1 | 0.72 | 0.21 | 1 | awaiting_approval |" in report
    assert "- #2 **supervisor** [note]: check the private split too" in report
    agent_3 = report.split("## agent-3")[1]
    assert "(thinking) The weak labels are 71% right." in agent_3
    assert "request #4 (run_command: every command asks): awaiting approval" in agent_3
    assert "   ! warning: 3 items dropped" in agent_3
    assert "## re-run: not reproduced" in agent_3
    assert "public PGR 0.50, private PGR 0.10; not reproducible" in report
