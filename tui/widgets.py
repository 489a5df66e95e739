"""Widgets of the campaign screen. They render read models; they never hold agent state.

Tables are ``RowTable``s: a row is rendered again only when its cells change; the plot, forum and gauges redraw only when their part of the view
changed, and only while their tab is shown.
"""

from __future__ import annotations

import time
import unicodedata

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static
from textual_plotext import PlotextPlot

from agents.approvals import command_line
from agents.events import ApprovalRequested
from agents.items import compact_json, fmt_interval, fmt_pgr, short
from agents.views import QUIET_MARKS, CampaignView, LeaderboardRow
from tui.table import Cell, Column, RowTable

STATUS_STYLE = {
    "starting": "dim",
    "thinking": "cyan",
    "running": "green",
    "awaiting_approval": "bold black on yellow",
    "paused": "bold yellow",
    "finished": "blue",
    "failed": "bold red",
}
STATUS_WORDS = {"running": "running a tool", "awaiting_approval": "awaiting approval"}

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


def fmt_tokens(tokens: int) -> str:
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:.1f}M"
    if tokens >= 1_000:
        return f"{tokens / 1_000:.0f}k"
    return str(tokens)


def status_cell(status: str, held_by: str = "") -> str:
    words = f"over budget ({held_by})" if status == "paused" and held_by else STATUS_WORDS.get(status, status)
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{words}[/]" if style else words


class AgentTable(RowTable):
    """One row per agent. Moving the cursor selects the agent."""

    COLUMNS = (Column("agent", 9), Column("status", 18), Column("best", 5), Column("subs", 4), Column("tokens", 6),
               Column("$", 6), Column("pub-priv", 14), Column("activity", 34), Column("direction", 40))

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self.COLUMNS, id=id)

    def show(self, view: CampaignView) -> None:
        self.set_rows([(agent.agent_id, (
            agent.agent_id, status_cell(agent.status, agent.held_by), fmt_pgr(agent.best_public_pgr),
            str(agent.submissions), fmt_tokens(agent.tokens), f"{agent.cost_usd:.2f}",
            divergence_cell(agent.divergence), Text(agent.activity), Text(agent.direction)))
            for agent in view.agents.values()])


class Leaderboard(RowTable):
    """Valid submissions ranked by public PGR (as agents see it) or by private PGR (the
    supervisor's held-out view); intervals, private PGR and the marks are the supervisor's.
    Selecting a row (enter) jumps to that submission in its agent's transcript."""

    order: str = "public"
    LIMIT = 200
    COLUMNS = (Column("#", 3), Column("agent", 9), Column("public", 6), Column("95%", 13), Column("private", 7),
               Column("flags / verdict", 26), Column("at", 5), Column("method", 40))

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self.COLUMNS, id=id)

    def show(self, view: CampaignView) -> None:
        rows = view.leaderboard(limit=self.LIMIT, by=self.order)
        self.set_rows([(str(row.submission_id), self._cells(view, rank, row)) for rank, row in enumerate(rows, 1)])

    @staticmethod
    def _cells(view: CampaignView, rank: int, row: LeaderboardRow) -> tuple[Cell, ...]:
        marks = view.marks(row)
        bad = row.flags or any(m not in QUIET_MARKS for m in marks)
        flags = Text(", ".join(marks) or "-", style="bold red" if bad else "green")
        at = time.strftime("%H:%M", time.localtime(row.ts)) if row.ts else ""
        return (str(rank), row.agent_id, fmt_pgr(row.public_pgr), fmt_interval(row.public_interval),
                fmt_pgr(row.private_pgr), flags, at, Text(row.method))


class ApprovalsTable(RowTable):
    """Requests awaiting the supervisor, oldest first; enter opens the approval prompt."""

    COLUMNS = (Column("#", 4), Column("agent", 9), Column("waiting", 8), Column("rule", 30), Column("asks", 60))

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self.COLUMNS, id=id)

    def show(self, view: CampaignView) -> None:
        now = view.last_ts or time.time()
        self.set_rows([(str(r.request_id), self._cells(r, now)) for r in view.approval_queue()])

    @staticmethod
    def _cells(request: ApprovalRequested, now: float) -> tuple[Cell, ...]:
        if request.request_kind == "budget":
            asks = f"budget checkpoint: {request.budget}"
        else:
            command = command_line(request.arguments) if request.tool == "run_command" else ""
            asks = f"{request.tool} " + (command or compact_json(request.arguments))
        return (str(request.request_id), request.agent_id or "", f"{max(0.0, now - request.ts):.0f}s",
                Text(request.rule), Text(asks))


def post_body(text: str, limit: int = 400) -> Text:
    """What an author wrote, as data: its line breaks shown as ``⏎`` in the one line the
    engine's header starts, so no text can pass for another post or for the supervisor."""
    # Control and format characters go too: an escape sequence or a bidi override could redraw the line.
    lines = ["".join(c for c in line if not unicodedata.category(c).startswith("C")).strip()
             for line in text.splitlines()]
    return Text(short(" ⏎ ".join(line for line in lines if line), limit))


class ForumFeed(Static):
    """The forum, newest first: agents' findings and the supervisor's posts."""

    shown = -1

    def show(self, view: CampaignView) -> None:
        if len(view.forum) == self.shown:
            return
        self.shown = len(view.forum)
        if not view.forum:
            self.update(Text("No posts yet. f posts to the forum as the supervisor.", style="dim"))
            return
        out = Text()
        for post in reversed(view.forum[-100:]):
            out.append(f"#{post.post_id} ", style="dim")
            out.append(post.author or "supervisor", style="bold yellow" if not post.agent_id else "bold")
            out.append(f" [{post.post_kind}] ", style="cyan")
            out.append_text(post_body(post.text))
            if post.attachments:
                out.append("  " + " ".join(f"shared/{a.shared_path}" for a in post.attachments), style="dim")
            out.append("\n")
        self.update(out)


class BudgetGauges(Static):
    """Used against limit for the campaign and each agent (with grants)."""

    def show(self, view: CampaignView) -> None:
        table = Table(box=None, expand=True, padding=(0, 1), show_header=True, header_style="bold")
        names = list(dict.fromkeys(n for n, _, _ in view.gauges())) + [n for n in view.agent_limits if n not in
                                                                       {n for n, _, _ in view.gauges()}]
        table.add_column("whose")
        for name in names:
            table.add_column(name, ratio=1)
        rows = [("campaign", view.gauges())] + [(a, view.gauges(a)) for a in view.agents]
        for whose, gauges in rows:
            by_name = {name: (used, limit) for name, used, limit in gauges}
            cells: list[object] = [whose]
            for name in names:
                if name not in by_name:
                    cells.append("")
                    continue
                used, limit = by_name[name]
                cells.append(_gauge(name, used, limit))
            table.add_row(*cells)  # type: ignore[arg-type]
        if not names:
            self.update(Text("No budgets set: agents run until the campaign's wall clock.", style="dim"))
        else:
            self.update(table)


def _gauge(name: str, used: float, limit: float) -> Table:
    fmt = (lambda v: f"{v:.2f}") if name == "dollars" else (lambda v: f"{v:,.0f}")
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1)
    grid.add_column(no_wrap=True)
    full = used >= limit
    bar = ProgressBar(total=max(limit, 1e-9), completed=min(used, limit), width=None,
                      complete_style="bold red" if full else "green", finished_style="bold red")
    grid.add_row(bar, Text(f" {fmt(used)}/{fmt(limit)}", style="bold red" if full else ""))
    return grid


class PgrPlot(PlotextPlot):
    """Public PGR of each agent's valid submissions over the campaign's minutes."""

    shown = -1

    def show(self, view: CampaignView) -> None:
        if len(view.submissions) == self.shown:
            return
        self.shown = len(view.submissions)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("public PGR over time (minutes)")
        start = view.started_ts or 0.0
        for agent in view.agents.values():
            if agent.pgr_history:
                xs = [(ts - start) / 60 for ts, _, _ in agent.pgr_history]
                ys = [public for _, public, _ in agent.pgr_history]
                plt.plot(xs, ys, label=agent.agent_id, marker="braille")
        plt.ylim(-0.2, 1.1)
        self.refresh()


class OneLine(Static):
    """A line of text that changes often: updated only when the text changed, and without
    a layout (an update lays the whole screen out again by default)."""

    _text: str | None = None

    def set_text(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.update(text, layout=False)


class CampaignSummary(OneLine):
    """One line: phase, set-up progress, baselines, isolation, spend, and the approvals count."""

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
            level = view.sandbox_isolation.split(" (")[0]
            parts.append(f"sandbox {view.sandbox_backend}" + (f": {level}" if level else ""))
        if view.isolation_risk:
            parts.append(f"[bold white on red] WEAK ISOLATION: {view.isolation_risk} [/]")
        parts.append(f"{fmt_tokens(view.tokens)} tokens ${view.cost_usd:.2f}")
        waiting = len(view.approvals)
        parts.append(f"[bold black on yellow] {waiting} awaiting approval [/]" if waiting else "0 awaiting approval")
        if view.finished_reason:
            parts.append(view.finished_reason)
        self.set_text("  ·  ".join(parts))
