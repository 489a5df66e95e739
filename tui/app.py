"""The control room: a Textual app that renders events and sends commands.

Events arrive through a feed subscription into a plain list; a 10 Hz timer folds them
into the read model (``agents.views``, ``agents.transcript``) and re-stitches the shown
transcript if it changed. Tables refresh at 2 Hz and only cells that changed, and the
plot, forum and gauges redraw only while their tab is shown. The app never holds the
engine: it reads events from a feed (the bus in the engine's process, or a tail of the
store when attached) and sends typed commands through a control channel; the engine
applies them and answers with events. Review mode is the same screens with no control.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from functools import partial
from collections.abc import Iterable, Sequence
from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Static, TabbedContent, TabPane

from agents.control import Control, EventFeed
from agents.events import ApprovalRequested, Event
from agents.search import SearchHit
from agents.store import EventStore
from agents.items import Item
from agents.views import CampaignView, apply
from tui.controls import SupervisorControls
from tui.modals import SearchScreen
from tui.table import RowTable
from tui.transcript import KIND_FILTERS, TranscriptView
from tui.widgets import (
    AgentTable,
    ApprovalsTable,
    BudgetGauges,
    CampaignSummary,
    ForumFeed,
    Leaderboard,
    OneLine,
    PgrPlot,
)

def _refreeze(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


DRAIN_INTERVAL_S = 0.1
STREAM_INTERVAL_S = 0.2
WARM_INTERVAL_S = 0.25
WARM_BUDGET_S = 0.004  # of rendering per warm tick: other agents' new items, ready for a first visit
TABLE_INTERVAL_S = 0.5
MIN_WIDTH = 80


class AarApp(SupervisorControls):
    """Live control room for a running campaign, or a read-only review of a stored one."""

    TITLE = "aar"
    CSS_PATH = "styles/app.tcss"
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/resume", id="agent.pause"),
        Binding("r", "redirect", "Redirect", id="agent.redirect"),
        Binding("a", "approve", "Approve", id="approvals.approve"),
        Binding("A", "approval_prompt", "Decide…", id="approvals.prompt"),
        Binding("d", "deny", "Deny", id="approvals.deny"),
        Binding("e", "edit_approve", "Edit+approve", id="approvals.edit"),
        Binding("n", "next_approval", "Next asking", id="approvals.next"),
        Binding("slash", "search", "Search", id="app.search"),
        Binding("f", "post_forum", "Post", id="forum.post"),
        Binding("g", "grant", "Grant budget", id="agent.grant"),
        Binding("x", "revoke_grant", "Revoke grant", show=False, id="approvals.revoke"),
        Binding("s", "stop_agent", "Stop agent", show=False, id="agent.stop"),
        Binding("P", "pause_all", "Pause all", show=False, id="campaign.pause_all"),
        Binding("R", "resume_all", "Resume all", show=False, id="campaign.resume_all"),
        Binding("o", "toggle_order", "Rank public/private", show=False, id="leaderboard.order"),
        Binding("t", "toggle_thinking", "Fold thinking", show=False, id="transcript.thinking"),
        Binding("v", "cycle_filter", "Filter items", show=False, id="transcript.filter"),
        Binding("right_square_bracket", "step_submission(1)", "Next submission", show=False,
                id="review.next_submission"),
        Binding("left_square_bracket", "step_submission(-1)", "Previous submission", show=False,
                id="review.previous_submission"),
        Binding("E", "export", "Export", show=False, id="review.export"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        feed: EventFeed | None = None,
        control: Control | None = None,
        events: Sequence[Event] = (),
        *,
        viewer: str | None = None,
        store: EventStore | None = None,
        export_dir: Path | None = None,
    ) -> None:
        """``feed`` delivers live events (the bus, or a store tail when attached); ``control``
        sends commands (none: review, read-only); ``events`` are shown first (a replay);
        ``store`` serves search and export (read only)."""
        super().__init__()
        self.control = control
        self.read_only = control is None
        self.viewer = viewer or f"tui-{os.getpid()}"
        self.store = store
        self.export_dir = export_dir or Path.cwd()
        self.view = CampaignView()
        self.selected: str | None = None
        self._pending: list[Event] = list(events)
        self._replayed = len(self._pending)
        self._tables_dirty = True
        self._stream_dirty = False
        self._submission_cursor = -1
        self.bells = 0
        if feed is not None:
            feed.subscribe(self._pending.append)
        # The widgets, held from the start: timers update them whatever screen is on top
        # (a query from the app searches only the top screen: a modal).
        self.summary = CampaignSummary(id="summary")
        self.too_narrow = Static(id="too-narrow")
        self.agents_table = AgentTable(id="agents")
        self.agents_table.on_highlight = self._select
        self.tabs = TabbedContent(id="tabs")
        self.board = Leaderboard(id="leaderboard")
        self.approvals_table = ApprovalsTable(id="approvals")
        self.plot = PgrPlot(id="plot")
        self.forum_feed = ForumFeed(id="forum")
        self.gauges = BudgetGauges(id="budgets")
        self.stream_title = OneLine("", id="stream-title", classes="section")
        self.stream = TranscriptView(id="stream")

    def compose(self) -> ComposeResult:
        yield Header()
        yield self.summary
        yield self.too_narrow
        with Horizontal(id="room"):
            with Vertical(id="side"):
                yield Label("Agents", classes="section")
                yield self.agents_table
                with self.tabs:
                    with TabPane("Leaderboard (public)", id="tab-leaderboard"):
                        yield self.board
                    with TabPane("Approvals (0)", id="tab-approvals"):
                        yield self.approvals_table
                    with TabPane("PGR", id="tab-plot"):
                        yield self.plot
                    with TabPane("Forum", id="tab-forum"):
                        with VerticalScroll():
                            yield self.forum_feed
                    with TabPane("Budgets", id="tab-budgets"):
                        with VerticalScroll():
                            yield self.gauges
            with Vertical(id="main"):
                yield self.stream_title
                yield self.stream
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "review" if self.read_only else "live"
        self._drain()
        self._refresh_tables()
        self.set_interval(DRAIN_INTERVAL_S, self._drain)
        self.set_interval(STREAM_INTERVAL_S, self._redraw_stream)
        self.set_interval(WARM_INTERVAL_S, self._warm_transcripts)
        self.set_interval(TABLE_INTERVAL_S, self._refresh_tables)
        self.agents_table.focus()
        # Start-up objects live for the whole session; freezing them cuts GC pauses. What
        # survives a full collection later (the read model, rendered lines) is frozen too:
        # a full collection walked ~360k objects (250 ms) about once a second under load.
        # Frozen objects still die by reference counting; only cycles among them would stay.
        gc.freeze()
        gc.callbacks.append(_refreeze)

    def on_unmount(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(_refreeze)

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < MIN_WIDTH
        self.screen.set_class(narrow, "narrow")
        if narrow:
            self.too_narrow.update(
                f"aar needs a terminal at least {MIN_WIDTH} columns wide; this one has {event.size.width}. "
                "Widen it (the campaign goes on meanwhile; nothing was changed).")

    # Rendering

    def _drain(self) -> None:
        if self._pending and not self._exit and self.stream.is_mounted:
            self._fold_pending()

    def _fold_pending(self) -> None:
        batch = self._pending.copy()
        self._pending.clear()  # the same list the feed appends to
        asked = 0
        for event in batch:
            apply(self.view, event)
            asked += isinstance(event, ApprovalRequested)
        if self._replayed:
            asked, self._replayed = max(0, asked - self._replayed), max(0, self._replayed - len(batch))
        if asked and not self.read_only:
            self.bells += 1
            self.bell()  # a request arrived: the person may be looking elsewhere
        if self.selected is None and self.view.agents:
            self._select(next(iter(self.view.agents)))
        else:
            self._stream_dirty = True
        self._tables_dirty = True

    def _warm_transcripts(self) -> None:
        """Render a few new items of agents not on screen (round robin, a few ms a tick)."""
        if self._exit or not self.stream.is_mounted or not self.view.agents:
            return
        deadline = time.perf_counter() + WARM_BUDGET_S
        agents = [a for a in self.view.agents.values() if a.agent_id != self.selected]
        for _ in range(len(agents)):
            self._warm_next = (self._warm_next + 1) % len(agents)
            if not self.stream.warm(agents[self._warm_next].transcript, deadline):
                return

    _warm_next = 0

    def _redraw_stream(self) -> None:
        """The shown transcript catches up at 5 Hz: its repaint (and the frame it causes) is
        the room's largest cost; a switch of agent or a fold redraws at once."""
        if self._stream_dirty and not self._exit and self.stream.is_mounted:
            self._stream_dirty = False
            self.stream.rebuild()

    def _refresh_tables(self) -> None:
        if self._tables_dirty and not self._exit and self.agents_table.is_mounted:
            self._redraw_tables()

    def _redraw_tables(self) -> None:
        self._tables_dirty = False
        view = self.view
        self.agents_table.show(view)
        self.summary.show(view, read_only=self.read_only)
        tabs = self.tabs
        label = f"Approvals ({len(view.approvals)})"
        tab = tabs.get_tab("tab-approvals")
        if str(tab.label) != label:
            tab.label = label  # type: ignore[assignment]
        shown = tabs.active
        if shown == "tab-leaderboard":
            self.board.show(view)
        elif shown == "tab-approvals":
            self.approvals_table.show(view)
        elif shown == "tab-plot":
            self.plot.show(view)
        elif shown == "tab-forum":
            self.forum_feed.show(view)
        elif shown == "tab-budgets":
            self.gauges.show(view)
        self._update_title()

    def _update_title(self) -> None:
        agent = self.view.agents.get(self.selected or "")
        if agent is None:
            return
        stream = self.stream
        about = [agent.agent_id, agent.status.replace("_", " "), agent.backend, agent.direction]
        if stream.kind_filter != "all":
            about.append(f"showing {stream.kind_filter} only (v)")
        if not stream.following:
            about.append("scrolled up (end follows)")
        self.stream_title.set_text(" · ".join(a for a in about if a))

    @on(TabbedContent.TabActivated)
    def tab_shown(self) -> None:
        self._tables_dirty = True
        self._refresh_tables()

    def _select(self, agent_id: str) -> None:
        if agent_id == self.selected or agent_id not in self.view.agents:
            return
        self.selected = agent_id
        self.stream.show(self.view.agents[agent_id].transcript)
        self._update_title()

    def select_agent(self, agent_id: str) -> None:
        """Select an agent and put the agents table's cursor on it."""
        table = self.agents_table
        if agent_id in table.rows:
            table.move_cursor(row=table.get_row_index(agent_id), animate=False)
        self._select(agent_id)

    def go_to_item(self, agent_id: str, item: Item | None, missing: str) -> None:
        self.select_agent(agent_id)
        stream = self.stream
        if item is None or not stream.go_to(item):
            self.notify(missing, severity="warning")
            return
        self._update_title()

    @on(RowTable.RowHighlighted, "#agents")
    def agent_highlighted(self, event: RowTable.RowHighlighted) -> None:
        self._select(event.key)

    @on(RowTable.RowSelected, "#leaderboard")
    def submission_chosen(self, event: RowTable.RowSelected) -> None:
        self.jump_to_submission(int(event.key))

    @on(RowTable.RowSelected, "#approvals")
    def request_chosen(self, event: RowTable.RowSelected) -> None:
        if request := self.view.approvals.get(int(event.key)):
            self._decide(request)

    def jump_to_submission(self, submission_id: int) -> None:
        row = next((r for r in self.view.submissions if r.submission_id == submission_id), None)
        if row is None:
            return
        transcript = self.view.agents[row.agent_id].transcript
        self.go_to_item(row.agent_id, transcript.submission(submission_id),
                        f"submission #{submission_id} is older than what is kept in memory; `aar export` has it")

    def action_next_approval(self) -> None:
        """Jump to the next agent awaiting approval (after the selected one, cycling)."""
        queue = self.view.approval_queue()
        if not queue:
            self.notify("No agent awaits approval.")
            return
        order = list(self.view.agents)
        here = order.index(self.selected) if self.selected in order else -1
        waiting = sorted({r.agent_id or "" for r in queue}, key=lambda a: (order.index(a) - here - 1) % len(order))
        agent_id = waiting[0]
        request = next(r for r in queue if r.agent_id == agent_id)
        transcript = self.view.agents[agent_id].transcript
        item: Item | None = transcript.call(request.call_id) if request.request_kind == "tool" else None
        if item is None:
            item = next((i for i in reversed(transcript.items) if getattr(i, "request_id", None) == request.request_id),
                        None)
        self.go_to_item(agent_id, item, f"request #{request.request_id} of {agent_id}: its item is not in memory")

    def action_toggle_order(self) -> None:
        """Rank the leaderboard by public PGR (what agents see) or private PGR (held out)."""
        board = self.board
        board.order = "private" if board.order == "public" else "public"
        self.tabs.get_tab("tab-leaderboard").label = (  # type: ignore[assignment]
            f"Leaderboard ({board.order})")
        board.show(self.view)

    def action_toggle_thinking(self) -> None:
        self.stream.action_toggle_thinking()

    def action_cycle_filter(self) -> None:
        """Show only one kind of item in the transcript (thinking, tool calls, …), or all."""
        stream = self.stream
        names = list(KIND_FILTERS)
        stream.kind_filter = names[(names.index(stream.kind_filter) + 1) % len(names)]
        self._update_title()

    def action_step_submission(self, step: int) -> None:
        """Go to the next (or previous) submission of the campaign, in time order."""
        rows = sorted(self.view.submissions, key=lambda r: r.seq)
        if not rows:
            self.notify("No submission yet.")
            return
        self._submission_cursor = max(0, min(len(rows) - 1, self._submission_cursor + step))
        self.jump_to_submission(rows[self._submission_cursor].submission_id)

    def action_search(self) -> None:
        """Search every transcript; a chosen hit opens its agent at that item."""
        if self.store is None:
            self.notify("Search needs the campaign's store (aar review DB or aar attach DB).", severity="warning")
            return

        def chosen(hit: object) -> None:
            if isinstance(hit, SearchHit):
                self._jump_to_hit(hit)

        self.push_screen(SearchScreen(self.store.search), chosen)

    def _jump_to_hit(self, hit: SearchHit) -> None:
        if hit.agent_id is None or hit.agent_id not in self.view.agents:
            self.notify(f"event {hit.seq} ({hit.kind}) belongs to no agent's transcript")
            return
        transcript = self.view.agents[hit.agent_id].transcript
        self.go_to_item(hit.agent_id, transcript.item_at(hit.seq),
                        f"event {hit.seq} is older than what is kept in memory; `aar export` has it")

    @work(exclusive=True, exit_on_error=False, group="export")
    async def action_export(self) -> None:
        """Write the Markdown report and the JSONL log of the store."""
        if self.store is None:
            self.notify("Export needs the campaign's store.", severity="warning")
            return
        from agents.export import write_exports

        try:
            paths = await write_exports(self.store, self.export_dir)
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify("exported " + ", ".join(str(p) for p in paths), timeout=10)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette offers every binding's action, with its key."""
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action == "quit":
                continue
            method = getattr(self, "action_" + binding.action.split("(")[0])
            help_text = (method.__doc__ or binding.description).strip().splitlines()[0]
            key = binding.key_display or binding.key
            yield SystemCommand(binding.description, f"{help_text} (key {key})", partial(self.run_action, binding.action))
