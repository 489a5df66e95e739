"""The Textual app: a campaign screen that renders events and sends commands.

Events arrive through a bus subscription into a plain list; a 10 Hz timer folds them
into the read model and writes the selected agent's new transcript lines in one
batch, and tables refresh at 2 Hz (a DataTable update redraws the whole table).
The app never changes agent state: pause, resume, redirect and stop go to the
campaign, which records them as events.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from itertools import islice

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Log

from agents.campaign import Campaign, CommandRefused
from agents.events import Event
from agents.views import TRANSCRIPT_LINES_KEPT, CampaignView, apply
from tui.redirect import RedirectScreen
from tui.widgets import AgentTable, CampaignSummary, Leaderboard

DRAIN_INTERVAL_S = 0.1
TABLE_INTERVAL_S = 0.5


class AarApp(App[None]):
    """Live control room for a running campaign, or a read-only review of a stored one."""

    TITLE = "aar"
    CSS_PATH = "styles/app.tcss"
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/resume", id="agent.pause"),
        Binding("r", "redirect", "Redirect", id="agent.redirect"),
        Binding("s", "stop_agent", "Stop agent", id="agent.stop"),
        Binding("P", "pause_all", "Pause all", id="campaign.pause_all"),
        Binding("R", "resume_all", "Resume all", id="campaign.resume_all"),
        Binding("o", "toggle_order", "Rank public/private", id="leaderboard.order"),
        Binding("g", "grant", "Grant budget", id="agent.grant"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, campaign: Campaign | None = None, events: Sequence[Event] = ()) -> None:
        super().__init__()
        self.campaign = campaign
        self.read_only = campaign is None
        self.view = CampaignView()
        self.selected: str | None = None
        self._pending: list[Event] = list(events)
        self._shown_total = 0
        self._tables_dirty = True
        if campaign is not None:
            campaign.bus.subscribe(self._pending.append)

    def compose(self) -> ComposeResult:
        yield Header()
        yield CampaignSummary(id="summary")
        with Horizontal():
            with Vertical(id="side"):
                yield Label("Agents", classes="section")
                yield AgentTable(id="agents")
                yield Label("Leaderboard (by public PGR)", id="leaderboard-title", classes="section")
                yield Leaderboard(id="leaderboard")
            with Vertical(id="main"):
                yield Label("", id="stream-title", classes="section")
                yield Log(id="stream", max_lines=TRANSCRIPT_LINES_KEPT, highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "review" if self.read_only else "live"
        self._drain()
        self._refresh_tables()
        self.set_interval(DRAIN_INTERVAL_S, self._drain)
        self.set_interval(TABLE_INTERVAL_S, self._refresh_tables)
        # Start-up objects live for the whole session; freezing them cuts GC pauses.
        gc.freeze()

    # Rendering

    def _drain(self) -> None:
        if not self._pending:
            return
        batch = self._pending.copy()
        self._pending.clear()  # the same list the bus appends to
        for event in batch:
            apply(self.view, event)
        if self.selected is None and self.view.agents:
            self._select(next(iter(self.view.agents)))
        else:
            self._write_new_lines()
        self._tables_dirty = True

    def _write_new_lines(self) -> None:
        agent = self.view.agents.get(self.selected or "")
        if agent is None:
            return
        fresh = min(agent.lines_total - self._shown_total, len(agent.lines))
        if fresh > 0:
            lines = list(islice(reversed(agent.lines), fresh))[::-1]
            self.query_one("#stream", Log).write_lines(lines)
        self._shown_total = agent.lines_total

    def _refresh_tables(self) -> None:
        if not self._tables_dirty:
            return
        self._tables_dirty = False
        self.query_one(AgentTable).show(self.view)
        self.query_one(Leaderboard).show(self.view)
        self.query_one(CampaignSummary).show(self.view, read_only=self.read_only)
        if self.selected:
            agent = self.view.agents[self.selected]
            about = [agent.agent_id, agent.status, agent.backend, agent.direction]
            self.query_one("#stream-title", Label).update(" · ".join(a for a in about if a))

    def _select(self, agent_id: str) -> None:
        if agent_id == self.selected or agent_id not in self.view.agents:
            return
        self.selected = agent_id
        log = self.query_one("#stream", Log)
        log.clear()
        agent = self.view.agents[agent_id]
        log.write_lines(list(agent.lines))
        self._shown_total = agent.lines_total
        self._tables_dirty = True

    @on(DataTable.RowHighlighted, "#agents")
    def agent_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._select(event.row_key.value)

    # Commands: sent to the campaign, which records and applies them.

    def _live_campaign(self) -> Campaign | None:
        if self.campaign is None:
            self.notify("Review mode is read-only.", severity="warning")
            return None
        if self.campaign.finished:
            self.notify("The campaign has finished.", severity="warning")
            return None
        return self.campaign

    @work(exit_on_error=False, group="commands")
    async def _send(self, command: str, agent_id: str | None, message: str = "") -> None:
        campaign = self._live_campaign()
        if campaign is None:
            return
        try:
            match command:
                case "toggle_pause" if agent_id:
                    await campaign.toggle_pause(agent_id)
                case "pause":
                    await campaign.pause(agent_id)
                case "resume":
                    await campaign.resume(agent_id)
                case "redirect" if agent_id:
                    await campaign.redirect(agent_id, message)
                case "stop":
                    await campaign.stop(agent_id)
                case "grant" if agent_id:
                    budget, limit = await campaign.grant_reached(agent_id)
                    self.notify(f"{agent_id}: {budget} budget raised to {limit:g}")
        except CommandRefused as refused:
            self.notify(str(refused), severity="warning")

    def action_toggle_order(self) -> None:
        """Rank the leaderboard by public PGR (what agents see) or private PGR (held out)."""
        board = self.query_one(Leaderboard)
        board.order = "private" if board.order == "public" else "public"
        self.query_one("#leaderboard-title", Label).update(f"Leaderboard (by {board.order} PGR)")
        board.show(self.view)

    def action_toggle_pause(self) -> None:
        if self.selected:
            self._send("toggle_pause", self.selected)

    def action_pause_all(self) -> None:
        self._send("pause", None)

    def action_resume_all(self) -> None:
        self._send("resume", None)

    def action_stop_agent(self) -> None:
        if self.selected:
            self._send("stop", self.selected)

    def action_grant(self) -> None:
        """Grant half again the budget that holds the selected agent."""
        if self.selected:
            self._send("grant", self.selected)

    def action_redirect(self) -> None:
        agent_id = self.selected
        if agent_id is None or self._live_campaign() is None:
            return

        def send(message: str | None) -> None:
            if message:
                self._send("redirect", agent_id, message)

        self.push_screen(RedirectScreen(agent_id), send)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause or resume agent", "Toggle the selected agent", self.action_toggle_pause)
        yield SystemCommand("Redirect agent", "Send the selected agent a message", self.action_redirect)
        yield SystemCommand("Stop agent", "Stop the selected agent for good", self.action_stop_agent)
        yield SystemCommand("Pause all agents", "Freeze every running agent", self.action_pause_all)
        yield SystemCommand("Resume all agents", "Continue every paused agent", self.action_resume_all)
        yield SystemCommand("Grant budget", "Raise the budget that holds the selected agent by half",
                            self.action_grant)
        yield SystemCommand("Rank leaderboard by public/private PGR", "Toggle the leaderboard's order",
                            self.action_toggle_order)
