"""Widgets of the campaign screen. They render read models; they never hold agent state."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from agents.transcript import fmt_pgr
from agents.views import CampaignView

STATUS_STYLE = {
    "starting": "dim",
    "thinking": "cyan",
    "running": "green",
    "paused": "bold yellow",
    "finished": "blue",
    "failed": "bold red",
}


SPARK = "▁▂▃▄▅▆▇█"
SPARK_POINTS = 8
DIVERGENCE_ALARM = 0.3  # public minus private PGR worth a colour: about twice its seed noise


def divergence_cell(series: list[tuple[float, float]]) -> str:
    """The latest public-minus-private PGR and a sparkline of the last few, oldest first.

    The sparkline is scaled from 0 (or the lowest value, if negative) to the highest, so a
    rising line is a public score pulling away from the private one.
    """
    if not series:
        return "-"
    values = [gap for _, gap in series[-SPARK_POINTS:]]
    low, high = min(0.0, *values), max(0.0, *values)
    span = (high - low) or 1.0
    line = "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1)))] for v in values)
    latest = values[-1]
    text = f"{latest:+.2f} {line}"
    return f"[bold red]{text}[/]" if latest >= DIVERGENCE_ALARM else text


class AgentTable(DataTable[str]):
    """One row per agent: status, submissions, best public PGR, and public-minus-private
    PGR over time (the supervisor's). Selecting a row selects the agent."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_column("agent", key="agent")
        self.add_column("status", key="status")
        self.add_column("subs", key="subs")
        self.add_column("best PGR", key="best")
        self.add_column("pub-priv", key="divergence")

    def show(self, view: CampaignView) -> None:
        """Update rows in place; a full clear would reset the cursor."""
        for agent in view.agents.values():
            style = STATUS_STYLE.get(agent.status, "")
            status = f"[{style}]{agent.status}[/]" if style else agent.status
            cells = (agent.agent_id, status, str(agent.submissions), fmt_pgr(agent.best_public_pgr),
                     divergence_cell(agent.divergence))
            if agent.agent_id in self.rows:
                for column, value in zip(("status", "subs", "best", "divergence"), cells[1:], strict=True):
                    if self.get_cell(agent.agent_id, column) != value:
                        self.update_cell(agent.agent_id, column, value)
            else:
                self.add_row(*cells, key=agent.agent_id)


class Leaderboard(DataTable[str]):
    """Valid submissions ranked by public PGR (as agents see it) or by private PGR (the
    supervisor's held-out view); private PGR and the marks are for the supervisor only."""

    order: str = "public"

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_columns("#", "agent", "public", "private", "flags", "method")

    def show(self, view: CampaignView) -> None:
        self.clear()
        for rank, row in enumerate(view.leaderboard(by=self.order), start=1):
            marks = view.marks(row)
            flags = f"[bold red]{', '.join(marks)}[/]" if row.flags else ", ".join(marks)
            self.add_row(
                str(rank), row.agent_id, fmt_pgr(row.public_pgr), fmt_pgr(row.private_pgr), flags, row.method
            )


class CampaignSummary(Static):
    """One line: phase, set-up progress, baselines and the isolation level in force."""

    def show(self, view: CampaignView, *, read_only: bool) -> None:
        parts = [f"[b]{view.testbed or 'campaign'}[/b]", view.phase]
        if read_only:
            parts.append("[b magenta]review (read-only)[/]")
        if view.progress is not None:
            stage, done, total = view.progress
            parts.append(f"{stage} {done}/{total}")
        if view.acc_weak is not None and view.acc_ceiling is not None:
            parts.append(f"weak acc {view.acc_weak:.3f} -> ceiling {view.acc_ceiling:.3f}")
        if view.sandbox_backend:
            # The level's name; the full description is in each agent's first transcript line.
            level = view.sandbox_isolation.split(" (")[0]
            parts.append(f"sandbox {view.sandbox_backend}" + (f": {level}" if level else ""))
        if view.finished_reason:
            parts.append(view.finished_reason)
        self.update("  ·  ".join(parts))
