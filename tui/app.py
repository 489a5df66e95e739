"""The Textual app: a campaign screen that renders events and sends commands.

Events arrive through a bus subscription into a plain list; a 10 Hz timer folds them
into the read model and writes the selected agent's new transcript lines in one
batch, and tables refresh at 2 Hz (a DataTable update redraws the whole table).
The app never holds the engine: it reads events from a feed (the bus in the engine's
process, or a tail of the store when attached) and sends typed commands through a
control channel; the engine applies them and answers with events.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Sequence
from itertools import islice

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Log

from agents.commands import Approve, Command, Deny, GrantBudget, Pause, Redirect, Resume, Stop
from agents.control import Control, EngineGone, EventFeed
from agents.events import ApprovalRequested, Event
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
        Binding("a", "approve", "Approve", id="approvals.approve"),
        Binding("d", "deny", "Deny", id="approvals.deny"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        feed: EventFeed | None = None,
        control: Control | None = None,
        events: Sequence[Event] = (),
        *,
        viewer: str | None = None,
    ) -> None:
        """``feed`` delivers live events (the bus, or a store tail when attached); ``control``
        sends commands (none: review, read-only); ``events`` are shown first (a replay)."""
        super().__init__()
        self.control = control
        self.read_only = control is None
        self.viewer = viewer or f"tui-{os.getpid()}"
        self.view = CampaignView()
        self.selected: str | None = None
        self._pending: list[Event] = list(events)
        self._shown_total = 0
        self._tables_dirty = True
        if feed is not None:
            feed.subscribe(self._pending.append)

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

    # Commands: typed, sent through the control channel; the engine applies and answers them.

    def _live(self) -> Control | None:
        if self.control is None:
            self.notify("Review mode is read-only.", severity="warning")
            return None
        if self.view.phase == "finished":
            self.notify("The campaign has finished.", severity="warning")
            return None
        return self.control

    @work(exit_on_error=False, group="commands")
    async def _send(self, command: Command) -> None:
        control = self._live()
        if control is None:
            return
        try:
            outcome = await control.send(command)
        except EngineGone as gone:
            self.notify(str(gone), severity="error")
            return
        if not outcome.applied:
            self.notify(f"refused: {outcome.reason}", severity="warning")

    def _oldest_request(self) -> ApprovalRequested | None:
        queue = self.view.approval_queue()
        mine = [r for r in queue if r.agent_id == self.selected]
        return (mine or queue)[0] if queue else None

    def action_toggle_order(self) -> None:
        """Rank the leaderboard by public PGR (what agents see) or private PGR (held out)."""
        board = self.query_one(Leaderboard)
        board.order = "private" if board.order == "public" else "public"
        self.query_one("#leaderboard-title", Label).update(f"Leaderboard (by {board.order} PGR)")
        board.show(self.view)

    def action_toggle_pause(self) -> None:
        agent = self.view.agents.get(self.selected or "")
        if agent is not None:
            kind = Resume if agent.status == "paused" else Pause
            self._send(kind(agent_id=agent.agent_id, viewer=self.viewer))

    def action_pause_all(self) -> None:
        self._send(Pause(viewer=self.viewer))

    def action_resume_all(self) -> None:
        self._send(Resume(viewer=self.viewer))

    def action_stop_agent(self) -> None:
        if self.selected:
            self._send(Stop(agent_id=self.selected, reason=f"stopped by {self.viewer}", viewer=self.viewer))

    def action_approve(self) -> None:
        """Approve the selected agent's oldest request (else the oldest of all)."""
        request = self._oldest_request()
        if request is None:
            self.notify("No request awaits approval.")
            return
        self._send(Approve(request_id=request.request_id, viewer=self.viewer))

    def action_deny(self) -> None:
        """Deny the oldest request, with a reason the model reads."""
        request = self._oldest_request()
        if request is None:
            self.notify("No request awaits approval.")
            return
        if self._live() is None:
            return

        def send(reason: str | None) -> None:
            if reason is not None:
                self._send(Deny(request_id=request.request_id, reason=reason or "denied by the supervisor",
                                viewer=self.viewer))

        self.push_screen(RedirectScreen(f"request #{request.request_id}", prompt="Deny with a reason (the model reads it)"),
                         send)

    def action_grant(self) -> None:
        """Grant half again the budget that holds the selected agent."""
        if self.selected:
            self._send(GrantBudget(agent_id=self.selected, viewer=self.viewer))

    def action_redirect(self) -> None:
        agent_id = self.selected
        if agent_id is None or self._live() is None:
            return

        def send(message: str | None) -> None:
            if message is not None:
                self._send(Redirect(agent_id=agent_id, message=message, viewer=self.viewer))

        self.push_screen(RedirectScreen(agent_id), send)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause or resume agent", "Toggle the selected agent", self.action_toggle_pause)
        yield SystemCommand("Redirect agent", "Send the selected agent a message", self.action_redirect)
        yield SystemCommand("Stop agent", "Stop the selected agent for good", self.action_stop_agent)
        yield SystemCommand("Pause all agents", "Freeze every running agent", self.action_pause_all)
        yield SystemCommand("Resume all agents", "Continue every paused agent", self.action_resume_all)
        yield SystemCommand("Approve request", "Approve the oldest request awaiting approval", self.action_approve)
        yield SystemCommand("Deny request", "Deny the oldest request, with a reason", self.action_deny)
        yield SystemCommand("Grant budget", "Raise the budget that holds the selected agent by half",
                            self.action_grant)
        yield SystemCommand("Rank leaderboard by public/private PGR", "Toggle the leaderboard's order",
                            self.action_toggle_order)
