"""The selected agent's transcript: a Line API view over the transcript read model.

Each item (``agents.transcript``) is rendered once into strips and cached by
``(seq, version, width, folded)``; a change re-renders only that item, and an agent
switch only stitches cached strips together, so switching is a list concatenation
and live streaming costs one item's rendering per tick. The view follows the tail
until the person scrolls up, and follows again once they scroll back to the end.

How items look is ``tui.items``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agents.items import (
    ApprovalItem,
    BudgetItem,
    Item,
    MessageItem,
    NoticeItem,
    SubmissionItem,
    TextItem,
    ThinkingItem,
    ToolCallItem,
)
from agents.transcript import Transcript
from tui.items import folded_by_default, render_item

WINDOW_ITEMS = 150  # the newest items stitched when an agent is shown: a first visit renders no more
WINDOW_STEP = 500  # older items stitched on each scroll to the top
RENDERED_KEPT = 40_000  # items' rendered lines kept (all of 20 agents' items in memory, or recent ones of more)
STRIPS_KEPT = 4_000  # lines kept as Strips, ready to paint: a screen of each of 64 agents' tails

KIND_FILTERS: dict[str, tuple[type[Item], ...]] = {
    "all": (Item,),
    "thinking": (ThinkingItem,),
    "text": (TextItem,),
    "tool calls": (ToolCallItem,),
    "submissions": (SubmissionItem,),
    "supervisor": (MessageItem, ApprovalItem, BudgetItem),
    "notices": (NoticeItem,),
}


_BLANK = Segment("  ")
_CURSOR = Segment("▌ ", Style(color="#ffb000"))


Line = list[Segment]
"""A rendered line as plain segments: Strips (with their caches) are made only for the
lines on screen, so the cache holds few objects for the GC to walk."""
_GAP: Line = []  # the blank line between items


@dataclass
class _Rendered:
    version: int
    width: int
    folded: bool
    lines: list[Line]


class TranscriptView(ScrollView, can_focus=True):
    """One agent's transcript; an item cursor moves between items and folds them."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Previous item", show=False, id="transcript.up"),
        Binding("down,j", "cursor(1)", "Next item", show=False, id="transcript.down"),
        Binding("enter,space", "toggle_fold", "Fold/unfold", id="transcript.fold"),
        Binding("end,G", "follow", "Follow the tail", show=False, id="transcript.follow"),
    ]

    cursor: reactive[int | None] = reactive(None, repaint=False)
    kind_filter: reactive[str] = reactive("all", repaint=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.transcript: Transcript | None = None
        self.following = True
        self.thinking_folded = True
        self._toggled: set[tuple[str, int]] = set()  # (agent, seq) the person folded or opened
        self._cache: dict[tuple[str, int], _Rendered] = {}
        self._items: list[Item] = []
        self._shown: list[tuple[int, bool]] = []  # (version, folded) of each item as stitched
        self._starts: list[int] = []
        self._lines: list[Line] = []
        self._built_revision = -1
        self._built_width = 0
        self.renders = 0  # items rendered (a benchmark's counter)
        self.window = WINDOW_ITEMS
        self._hidden = 0
        self._strips: dict[int, tuple[Line, bool, int, Strip]] = {}  # the lines on screen lately, by id
        self._paint: tuple[int, int, Style, tuple[int, int]] = (0, 0, Style(), (0, 0))

    # The model

    def show(self, transcript: Transcript | None) -> None:
        """Show another agent's transcript (from the cache: instant), following its tail."""
        if transcript is self.transcript:
            return
        self.transcript = transcript
        self.cursor = None
        self.following = True
        self.window, self._hidden = WINDOW_ITEMS, 0
        self._items, self._shown, self._starts, self._lines = [], [], [], []
        self._built_revision = -1
        self.rebuild()

    def is_folded(self, item: Item) -> bool:
        default = folded_by_default(item, thinking_folded=self.thinking_folded)
        return default != ((item.agent_id, item.seq) in self._toggled)

    def _restitch(self) -> None:
        """Force the next rebuild to look at every item (a fold or the filter changed)."""
        self._built_revision = -1
        self._shown = []

    def rebuild(self) -> None:
        """Re-stitch the lines if the transcript changed since the last build, from the
        first item that changed (items change at the tail; the rest is kept)."""
        transcript = self.transcript
        width = max(self.scrollable_content_region.width, 20)
        if transcript is None:
            self._items, self._shown, self._starts, self._lines = [], [], [], []
            self._set_height(0)
            self.refresh()
            return
        if transcript.revision == self._built_revision and width == self._built_width:
            return
        if width != self._built_width:
            self._shown = []
        self._built_revision, self._built_width = transcript.revision, width
        kinds = KIND_FILTERS[self.kind_filter]
        every = [item for item in transcript.items if isinstance(item, kinds)]
        hidden = max(0, len(every) - self.window)  # the newest `window` items are stitched
        items = every[hidden:]
        if hidden != self._hidden:
            self._hidden, self._shown = hidden, []
        same = 0
        limit = min(len(items), len(self._items), len(self._shown))
        while same < limit and items[same] is self._items[same] and \
                self._shown[same] == (items[same].version, self.is_folded(items[same])):
            same += 1
        if same == 0:
            lines = self._earlier_lines(hidden, width)
        else:
            lines = self._lines[: self._starts[same]] if same < len(self._starts) else self._lines
        starts = self._starts[:same]
        shown = self._shown[:same]
        for item in items[same:]:
            starts.append(len(lines))
            folded = self.is_folded(item)
            lines.extend(self._render_item(item, width, folded))
            shown.append((item.version, folded))
        first_changed = starts[same] if same < len(starts) else len(lines)
        self._items, self._starts, self._lines, self._shown = items, starts, lines, shown
        self._set_height(len(lines))
        top = int(self.scroll_y)
        if self.following:
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True, immediate=True)
        if int(self.scroll_y) != top:
            self.refresh()
        else:  # nothing moved: repaint from the first line that changed (items change at the tail)
            y = max(0, first_changed - top)
            if y < self.size.height:
                self.refresh(Region(0, y, self.size.width, self.size.height - y))

    def _earlier_lines(self, hidden: int, width: int) -> list[Line]:
        if not hidden:
            return []
        note = Text(f"… {hidden:,} earlier items: scroll to the top (or home) for {WINDOW_STEP} more", style="dim")
        return [*self.app.console.render_lines(note, self.app.console.options.update_width(width - 2), pad=False),
                _GAP]

    def load_earlier(self) -> None:
        """Stitch ``WINDOW_STEP`` more of the older items above, keeping what is on screen."""
        if not self._hidden:
            return
        before = len(self._lines) - int(self.scroll_y)
        self.window += WINDOW_STEP
        self._restitch()
        self.rebuild()
        self.scroll_to(y=max(0, len(self._lines) - before), animate=False, force=True, immediate=True)

    def _set_height(self, height: int) -> None:
        """Set the virtual height. A full layout is needed only when the scrollbar comes or
        goes; otherwise the scrollbar's window is updated in place (a layout of the whole
        screen per tick was most of the room's frame cost)."""
        size = Size(self.scrollable_content_region.width, height)
        if size == self.virtual_size:
            return
        viewport = self.container_size.height
        if (height > viewport) != self.show_vertical_scrollbar or size.width != self.virtual_size.width:
            self.virtual_size = size
            return
        self.set_reactive(TranscriptView.virtual_size, size)
        if self.show_vertical_scrollbar:
            bar = self.vertical_scrollbar
            bar.window_virtual_size = height
            bar.window_size = viewport
            bar.position = self.scroll_y

    def warm(self, transcript: Transcript, deadline: float) -> bool:
        """Render, newest first, the items of an agent not on screen that were never rendered,
        until ``deadline`` (``time.perf_counter()``); True when none is left. A first visit
        then costs only what changed since (items that change are rendered again on view)."""
        width = max(self.scrollable_content_region.width, 20)
        for item in reversed(transcript.items):
            if (item.agent_id, item.seq) in self._cache:
                continue
            if time.perf_counter() > deadline:
                return False
            self._render_item(item, width, self.is_folded(item))
        return True

    def _render_item(self, item: Item, width: int, folded: bool) -> list[Line]:
        key = (item.agent_id, item.seq)
        cached = self._cache.get(key)
        if cached is not None and (cached.version, cached.width, cached.folded) == (item.version, width, folded):
            return cached.lines
        console = self.app.console
        options = console.options.update_width(width - 2)
        lines = console.render_lines(render_item(item, folded), options, pad=False)
        lines.append(_GAP)
        self.renders += 1
        self._cache.pop(key, None)
        if len(self._cache) >= RENDERED_KEPT:  # the least recently rendered goes first
            del self._cache[next(iter(self._cache))]
        self._cache[key] = _Rendered(item.version, width, folded, lines)
        return lines

    def line_texts(self) -> list[str]:
        """The stitched lines as plain text (tests and benchmarks read the screen's model)."""
        return ["".join(segment.text for segment in line) for line in self._lines]

    # Rendering

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every line of this paint shares, looked up once (each is a walk of the DOM).
        self._paint = (int(self.scroll_y), self.scrollable_content_region.width, self.rich_style,
                       self._cursor_span())
        return super().render_lines(crop)

    def _cursor_span(self) -> tuple[int, int]:
        if self.cursor is None or self.cursor >= len(self._starts):
            return (0, 0)
        start = self._starts[self.cursor]
        end = self._starts[self.cursor + 1] if self.cursor + 1 < len(self._starts) else len(self._lines)
        return (start, end - 1)

    def render_line(self, y: int) -> Strip:
        scroll_y, width, style, (start, end) = self._paint
        index = scroll_y + y
        if index >= len(self._lines):
            return Strip.blank(width, style)
        in_cursor = start <= index < end
        line = self._lines[index]
        key = id(line)
        cached = self._strips.get(key)
        if cached is not None and cached[0] is line and cached[1] == in_cursor and cached[2] == width:
            return cached[3]
        strip = Strip([_CURSOR if in_cursor else _BLANK, *line]).adjust_cell_length(width, style)
        if len(self._strips) >= STRIPS_KEPT:  # the oldest go first
            for old in list(self._strips)[: STRIPS_KEPT // 4]:
                del self._strips[old]
        self._strips[key] = (line, in_cursor, width, strip)  # holding ``line`` keeps its id unique
        return strip

    def on_resize(self, event: events.Resize) -> None:
        self.rebuild()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.following = new >= self.max_scroll_y
        if new <= 0 < old and self._hidden:
            self.call_after_refresh(self.load_earlier)

    def watch_kind_filter(self) -> None:
        self.cursor = None
        self._restitch()
        self.rebuild()

    # Cursor and folding

    def item_under_cursor(self) -> Item | None:
        if self.cursor is None or not (0 <= self.cursor < len(self._items)):
            return None
        return self._items[self.cursor]

    def go_to(self, item: Item, *, unfold: bool = True) -> bool:
        """Put the cursor on ``item`` (opening it) and scroll it into view."""
        if self.kind_filter != "all" and not isinstance(item, KIND_FILTERS[self.kind_filter]):
            self.kind_filter = "all"
        self.rebuild()
        if not any(candidate is item for candidate in self._items) and self.transcript is not None:
            kinds = KIND_FILTERS[self.kind_filter]
            every = [i for i in self.transcript.items if isinstance(i, kinds)]
            position = next((n for n, candidate in enumerate(every) if candidate is item), None)
            if position is not None:  # older than the window: widen it to reach the item
                self.window = len(every) - position + 20
                self._restitch()
                self.rebuild()
        try:
            index = next(i for i, candidate in enumerate(self._items) if candidate is item)
        except StopIteration:
            return False
        if unfold and self.is_folded(item):
            self._toggled ^= {(item.agent_id, item.seq)}
            self._restitch()
            self.rebuild()
        self._move_to(index)
        return True

    def _move_to(self, index: int) -> None:
        self.cursor = max(0, min(index, len(self._items) - 1)) if self._items else None
        if self.cursor is not None:
            start = self._starts[self.cursor]
            end = self._starts[self.cursor + 1] if self.cursor + 1 < len(self._starts) else len(self._lines)
            height = self.scrollable_content_region.height
            if start < self.scroll_y or end > self.scroll_y + height:
                self.scroll_to(y=start, animate=False, force=True, immediate=True)
            self.following = False
        self.refresh()

    def action_cursor(self, step: int) -> None:
        if not self._items:
            return
        if step < 0 and self.cursor == 0 and self._hidden:
            item = self._items[0]
            self.load_earlier()
            self._move_to(self._items.index(item))
        if self.cursor is None:
            visible = [i for i, s in enumerate(self._starts) if s >= self.scroll_y]
            self._move_to(visible[0] if step > 0 and visible else len(self._items) - 1)
        else:
            self._move_to(self.cursor + step)

    def action_toggle_fold(self) -> None:
        item = self.item_under_cursor()
        if item is None:
            return
        self._toggled ^= {(item.agent_id, item.seq)}
        self._restitch()
        self.rebuild()
        self._move_to(self._items.index(item))

    def action_toggle_thinking(self) -> None:
        self.thinking_folded = not self.thinking_folded
        self._toggled = {key for key in self._toggled if not isinstance(self._find(key), ThinkingItem)}
        self._restitch()
        self.rebuild()

    def _find(self, key: tuple[str, int]) -> Item | None:
        return next((i for i in self._items if (i.agent_id, i.seq) == key), None)

    def action_follow(self) -> None:
        self.cursor = None
        self.following = True
        self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        line = int(self.scroll_y) + event.y
        if not self._starts or line >= len(self._lines):
            return
        from bisect import bisect_right

        index = bisect_right(self._starts, line) - 1
        if self.cursor == index:
            self.action_toggle_fold()
        else:
            self._move_to(index)
