"""How each transcript item looks: a Rich renderable per item, folded or open.

Thinking is dim and italic under a magenta head and folds; text is Markdown; tool calls
are blocks (arguments, live output, result) that fold, open while they run or ask;
submissions carry their intervals, flags and re-run verdict. ``tui.transcript`` caches
what these return and stitches it into the view.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text

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
    compact_json,
    fmt_pgr,
    fmt_pgr_interval,
    short,
)

OUTPUT_LINES_OPEN = 200  # of a finished call's kept output, shown when the block is open
OUTPUT_LINES_LIVE = 20  # of a running call's: it is rendered again on every tick
OUTPUT_LINES_RUNNING = 6  # shown under a running call's header while it is folded
RESULT_LINES_OPEN = 40
FOLDED_PREVIEW = 100

STATE_STYLE = {
    "proposed": ("…", "dim"),
    "awaiting_approval": ("? awaiting approval", "bold black on yellow"),
    "running": ("running", "bold green"),
    "succeeded": ("ok", "green"),
    "failed": ("failed", "bold red"),
    "denied": ("denied", "bold red"),
    "discarded": ("never ran", "dim strike"),
}


def folded_by_default(item: Item, *, thinking_folded: bool) -> bool:
    """Finished tool calls, thinking (unless the person opened all thinking) and the task
    brief start folded; what is running or asking starts open."""
    match item:
        case ThinkingItem():
            return thinking_folded and not item.streaming
        case ToolCallItem():
            return item.state not in ("running", "awaiting_approval", "proposed")
        case MessageItem():
            return item.origin == "task"
    return False


def _fold_mark(folded: bool) -> str:
    return "▸ " if folded else "▾ "


def render_item(item: Item, folded: bool) -> RenderableType:
    """The Rich renderable of one item (folded or open)."""
    match item:
        case ThinkingItem():
            return _thinking(item, folded)
        case TextItem():
            body: RenderableType = Markdown(item.text or " ")
            if item.discarded:
                return Group(Text("(discarded: its turn broke; the model retried)", style="dim strike"), body)
            return body
        case ToolCallItem():
            return _tool_call(item, folded)
        case SubmissionItem():
            return _submission(item)
        case MessageItem():
            return _message(item, folded)
        case ApprovalItem():
            state = item.decision or "awaiting the supervisor"
            return Text(f"? budget checkpoint #{item.request_id} ({item.rule}): {state}",
                        style="bold yellow" if not item.decision else "yellow")
        case BudgetItem() if item.granted:
            return Text(f"◆ supervisor granted {item.budget} +{item.granted:g} (limit now {item.new_limit:g})",
                        style="bold cyan")
        case BudgetItem():
            return Text(f"◆ budget reached ({item.scope}): {item.budget} {item.used:g} of {item.limit:g}; paused until "
                        "the supervisor grants more or stops it", style="bold yellow")
        case NoticeItem():
            style = {"info": "dim", "warning": "yellow", "error": "bold red"}[item.level]
            return Text(("· " if item.level == "info" else "! ") + item.text, style=style)
    return Text(repr(item), style="dim")


def _thinking(item: ThinkingItem, folded: bool) -> RenderableType:
    head = Text(_fold_mark(folded) + "thinking", style="bold magenta")
    if item.redacted:
        head.append("  (redacted by the provider)", style="dim")
        return head
    if item.streaming:
        head.append("  streaming…", style="magenta")
    if item.discarded:
        head.append("  discarded: its turn broke", style="dim strike")
    if folded:
        first = item.text.strip().splitlines()[0] if item.text.strip() else ""
        lines = item.text.count("\n") + 1
        head.append(f"  {short(first, FOLDED_PREVIEW)}", style="dim italic")
        head.append(f"  ({lines} line{'s' if lines != 1 else ''})", style="dim")
        return head
    return Group(head, Text(item.text, style="italic #a0a0c0"))


def _tool_call(item: ToolCallItem, folded: bool) -> RenderableType:
    label, style = STATE_STYLE[item.state]
    head = Text(_fold_mark(folded), style="bold")
    head.append(item.tool or "tool", style="bold cyan")
    what = item.command or compact_json(item.ran_arguments or item.arguments)
    head.append(f"  {short(what, 160)}  ")
    if item.state == "awaiting_approval":
        label = f"? request #{item.request_id} awaits approval"
    elif item.duration_s is not None and item.state in ("succeeded", "failed"):
        label = f"{label} in {item.duration_s:.1f}s"
    head.append(f" {label} ", style=style)
    parts: list[RenderableType] = [head]
    if item.decision:
        parts.append(Text(f"  {item.decision}", style="yellow"))
    if item.state == "awaiting_approval":
        parts.append(Text(f"  {item.rule}; a approve · A approve always… · e edit · d deny", style="yellow"))
    output = list(item.output)
    if folded:
        if item.state == "running" and output:
            parts += [_output_line(s, line, live=True) for s, line in output[-OUTPUT_LINES_RUNNING:]]
        elif item.summary:
            parts.append(Text(f"  {short(item.summary, 160)}", style="dim"))
        return Group(*parts)
    parts.append(Text("  arguments: " + compact_json(item.arguments), style="dim"))
    if item.ran_arguments is not None:
        parts.append(Text("  ran instead: " + compact_json(item.ran_arguments), style="yellow"))
    shown = output[-(OUTPUT_LINES_LIVE if item.state == "running" else OUTPUT_LINES_OPEN):]
    if item.output_total > len(shown):
        parts.append(Text(f"  | … {item.output_total - len(shown):,} earlier lines (all are in the store)", style="dim"))
    parts += [_output_line(s, line, live=item.state == "running") for s, line in shown]
    if item.result:
        lines = item.result.splitlines()
        parts.append(Text("  result (what the model read):", style="dim bold"))
        parts += [Text("    " + line, style="dim") for line in lines[:RESULT_LINES_OPEN]]
        if len(lines) > RESULT_LINES_OPEN:
            parts.append(Text(f"    … {len(lines) - RESULT_LINES_OPEN} more lines", style="dim"))
    return Group(*parts)


def _output_line(stream: str, line: str, *, live: bool = False) -> Text:
    """One output line; while the call runs, cut to the width instead of wrapped, so the
    block keeps its height as lines arrive and the view need not scroll or repaint above."""
    return Text(("  | " if stream == "stdout" else "  ! ") + line, style="" if stream == "stdout" else "red",
                no_wrap=live, overflow="ellipsis" if live else "fold")


def _submission(item: SubmissionItem) -> RenderableType:
    if not item.valid:
        verb = "refused" if item.refused else "rejected"
        return Text(f"★ submission #{item.submission_id} {verb}: {item.error}", style="bold red")
    head = Text(f"★ submission #{item.submission_id} ", style="bold")
    head.append(short(item.method, 80), style="bold")
    head.append(f"  public {fmt_pgr_interval(item.public_pgr, item.public_interval)}", style="bold green")
    head.append(f"  private {fmt_pgr_interval(item.private_pgr, item.private_interval)}", style="bold blue")
    parts: list[RenderableType] = [head]
    if not item.command:
        parts.append(Text("  not reproducible: no command given", style="yellow"))
    parts += [Text(f"  ⚑ {code}: {reason}", style="bold red") for code, reason in item.flags]
    if item.verdict:
        style = {"reproduced": "green", "inconclusive": "yellow"}.get(item.verdict, "bold red")
        parts.append(Text(f"  re-run: {item.verdict} (other teacher {fmt_pgr(item.rerun_pgr)}, shuffled labels "
                          f"{fmt_pgr(item.shuffled_pgr)}); {item.verdict_reason}", style=style))
    return Group(*parts)


def _message(item: MessageItem, folded: bool) -> RenderableType:
    if item.origin == "supervisor":
        return Group(Text("▶ supervisor", style="bold yellow"), Text(item.text, style="yellow"))
    name = "task brief" if item.origin == "task" else "harness"
    if folded:
        return Text(f"{_fold_mark(True)}{name}: {short(item.text.strip().splitlines()[0] if item.text.strip() else '', FOLDED_PREVIEW)}",
                    style="dim")
    return Group(Text(f"{_fold_mark(False)}{name}", style="dim bold"), Text(item.text, style="dim"))
