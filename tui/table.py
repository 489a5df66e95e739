"""A keyed table drawn with the Line API: a row is rendered again only when its cells change.

Textual's DataTable re-renders every visible cell on any update (its cell cache is keyed
by an update counter): about 80 ms for 32 agents × 9 columns on these 2 cores, and the
agents table changes every tick. Here each row is one cached strip keyed by its cells,
the width and whether the cursor is on it; an update repaints only the rows that changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
"""A cell: Rich markup, or a Text."""


@dataclass(frozen=True)
class Column:
    label: str
    width: int  # cells; the last column takes what is left when wider than its width


class _RowMessage(Message):
    """A message about one row of a ``RowTable``."""

    def __init__(self, table: RowTable, key: str) -> None:
        super().__init__()
        self.table, self.key = table, key

    @property
    def control(self) -> RowTable:
        return self.table


class RowTable(ScrollView, can_focus=True):
    """Rows keyed by a string, a header line, and a row cursor (up/down, enter selects)."""

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "move(-10)", "Page up", show=False),
        Binding("pagedown", "move(10)", "Page down", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]
    DEFAULT_CSS = """
    RowTable {
        overflow-x: hidden;
    }
    """

    class RowHighlighted(_RowMessage):
        """The cursor moved onto the row ``key``."""

    class RowSelected(_RowMessage):
        """Enter (or a click) on the row ``key``."""

    cursor_row: reactive[int] = reactive(0, repaint=False)

    def __init__(self, columns: Sequence[Column], *, id: str | None = None, cursor: bool = True) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self.show_cursor = cursor
        self.rows: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self._cache: dict[str, tuple[tuple[Cell, ...], int, bool, Strip]] = {}
        self._header: tuple[int, Strip] | None = None
        self.on_highlight: Callable[[str], None] | None = None
        """Called at once when the cursor moves (before the message bubbles up through every
        container, a loop iteration each): the room shows the agent in the same frame."""

    # Data

    @property
    def row_count(self) -> int:
        return len(self._order)

    def get_row(self, key: str) -> tuple[Cell, ...]:
        return self.rows[key]

    def get_row_at(self, index: int) -> tuple[Cell, ...]:
        return self.rows[self._order[index]]

    def get_row_index(self, key: str) -> int:
        return self._order.index(key)

    def row_key_at(self, index: int) -> str | None:
        return self._order[index] if 0 <= index < len(self._order) else None

    @property
    def cursor_key(self) -> str | None:
        return self.row_key_at(self.cursor_row)

    def set_rows(self, rows: Sequence[tuple[str, tuple[Cell, ...]]]) -> None:
        """Replace the rows (in this order); only the lines that changed are repainted.
        The cursor stays on the same key when it is still there."""
        keep = self.cursor_key
        order = [key for key, _ in rows]
        new = dict(rows)
        width = self.size.width
        changed = [i for i, key in enumerate(order)
                   if i >= len(self._order) or self._order[i] != key or self.rows.get(key) != new[key]]
        grew = len(order) != len(self._order)
        self._order, self.rows = order, new
        for key in [k for k in self._cache if k not in new]:
            del self._cache[key]
        if grew:
            self.virtual_size = Size(width, len(order) + 1)
        if keep in new and self._order.index(keep) != self.cursor_row:
            self.cursor_row = self._order.index(keep)
        elif self.cursor_row >= len(order):
            self.cursor_row = max(0, len(order) - 1)
        top = int(self.scroll_y)
        for index in changed:
            y = index + 1 - top
            if 1 <= y < self.size.height:
                self.refresh(Region(0, y, width, 1))
        if grew:
            self.refresh()

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        self._move(row)

    # Rendering

    def _render_cells(self, cells: Sequence[Cell], width: int, style: Style | None) -> Strip:
        console: Console = self.app.console
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        used = 0
        for i, (column, cell) in enumerate(zip(self.columns, cells, strict=False)):
            last = i == len(self.columns) - 1
            size = max(0, width - used - 1) if last else column.width
            text = Text.from_markup(cell) if isinstance(cell, str) else cell.copy()
            text.truncate(size, overflow="ellipsis", pad=True)
            line.append(" ")
            line.append_text(text)
            used += size + 1
            if used >= width:
                break
        if style is not None:
            line.stylize(style)
        segments = list(line.render(console))
        return Strip(segments).adjust_cell_length(width)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            if self._header is None or self._header[0] != width:
                labels = [Text(c.label, style="bold") for c in self.columns]
                self._header = (width, self._render_cells(labels, width, Style(bgcolor="grey15")))
            return self._header[1]
        index = int(self.scroll_y) + y - 1
        key = self.row_key_at(index)
        if key is None:
            return Strip.blank(width)
        cells = self.rows[key]
        on_cursor = self.show_cursor and index == self.cursor_row
        cached = self._cache.get(key)
        if cached is not None and cached[:3] == (cells, width, on_cursor):
            return cached[3]
        style = Style(reverse=True, bold=True) if on_cursor and self.has_focus else (
            Style(bgcolor="grey23") if on_cursor else None)
        strip = self._render_cells(cells, width, style)
        self._cache[key] = (cells, width, on_cursor, strip)
        return strip

    def watch_has_focus(self, focused: bool) -> None:
        key = self.cursor_key
        if key is not None:
            self._cache.pop(key, None)
            self.refresh()

    # Moving and choosing

    def _move(self, index: int) -> None:
        if not self._order:
            return
        index = max(0, min(index, len(self._order) - 1))
        old = self.cursor_row
        self.cursor_row = index
        visible = self.size.height - 1
        top = int(self.scroll_y)
        if index < self.scroll_y:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= self.scroll_y + visible:
            self.scroll_to(y=index - visible + 1, animate=False, immediate=True)
        if int(self.scroll_y) != top:
            self.refresh()
        else:  # only the two rows the cursor left and reached
            for row in (old, index):
                self.refresh(Region(0, row + 1 - top, self.size.width, 1))
        if index != old:
            if self.on_highlight is not None:
                self.on_highlight(self._order[index])
            self.post_message(self.RowHighlighted(self, self._order[index]))

    def action_move(self, step: int) -> None:
        self._move(self.cursor_row + step)

    def action_select(self) -> None:
        if (key := self.cursor_key) is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            return
        index = int(self.scroll_y) + event.y - 1
        if index < len(self._order):
            self._move(index)
            if event.chain >= 2:
                self.action_select()
