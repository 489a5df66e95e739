"""Transcript items: what a reader of an agent's transcript looks at, as data.

A thinking block, a text block, a tool call (its arguments, approval, live output and
result), a submission and its re-run verdict, a message from the supervisor or the
harness, a budget checkpoint, stop or grant, or a notice. ``agents.transcript`` builds
them from events; the TUI (``tui/items.py``) and the export render them.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from agents.shell import join_words

ITEMS_KEPT = 2000
"""Items kept per agent in memory (about a day of a busy agent); the store keeps all."""
OUTPUT_LINES_KEPT = 400
"""Live output lines kept per tool call; the whole output is in the store and the result."""

ToolState = Literal["proposed", "awaiting_approval", "running", "succeeded", "failed", "denied", "discarded"]
NoticeTopic = Literal["sandbox", "status", "turn", "engine", "forum", "note", "command", "grant", "context",
                      "error"]


def fmt_pgr(value: float | None) -> str:
    """PGR for display: two decimals, or a dash when there is none."""
    return "-" if value is None else f"{value:.2f}"


def fmt_interval(interval: tuple[float, float] | None) -> str:
    """A 95% interval for display: "[lo, hi]", or "" when there is none."""
    return "" if interval is None else f"[{interval[0]:.2f}, {interval[1]:.2f}]"


def fmt_pgr_interval(value: float | None, interval: tuple[float, float] | None) -> str:
    """A PGR and its interval, when it has one: "0.41 [0.22, 0.60]"."""
    return fmt_pgr(value) + (f" {fmt_interval(interval)}" if interval else "")


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@dataclass(eq=False)
class Item:
    """Fields of every item. ``seq`` is the event that opened it: its id and its place."""

    kind: ClassVar[str] = "item"
    seq: int
    ts: float
    agent_id: str
    version: int = 0
    last_seq: int = 0  # the latest event that changed it

    def touch(self, seq: int) -> None:
        self.version += 1
        self.last_seq = max(self.last_seq, seq)


@dataclass(eq=False)
class BlockItem(Item):
    """A block of a model turn that streams in: deltas grow ``text`` until it completes."""

    text: str = ""
    turn: int = 0
    attempt: int = 0
    streaming: bool = True
    discarded: bool = False  # its turn broke and was retried: the model never saw it again


@dataclass(eq=False)
class ThinkingItem(BlockItem):
    kind: ClassVar[str] = "thinking"
    redacted: bool = False


@dataclass(eq=False)
class TextItem(BlockItem):
    kind: ClassVar[str] = "text"


@dataclass(eq=False)
class ToolCallItem(Item):
    """One tool call from proposal to result."""

    kind: ClassVar[str] = "tool_call"
    call_id: str = ""
    tool: str = ""
    arguments: dict[str, object] = field(default_factory=dict)
    turn: int = 0
    attempt: int = 0
    state: ToolState = "proposed"
    request_id: int | None = None  # while (or after) it asked for approval
    rule: str = ""  # the policy rule that asked
    decision: str = ""  # "approved by tui-1", "denied by …: reason", "edited by …"
    ran_arguments: dict[str, object] | None = None  # what ran, when the supervisor edited it
    output: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES_KEPT))
    """(stream, line) of the latest live output lines, stream "stdout" or "stderr"."""
    output_total: int = 0
    summary: str = ""
    result: str = ""  # exactly what the model read back
    duration_s: float | None = None

    @property
    def command(self) -> str:
        """The command line of a run_command call ("" for other tools)."""
        arguments = self.ran_arguments or self.arguments
        argv = arguments.get("argv")
        if isinstance(argv, list) and argv and self.tool == "run_command":
            return join_words([str(word) for word in argv])
        value = arguments.get("command")
        return value if isinstance(value, str) else ""


@dataclass(eq=False)
class SubmissionItem(Item):
    kind: ClassVar[str] = "submission"
    submission_id: int = 0
    method: str = ""
    valid: bool = True
    refused: bool = False
    error: str = ""
    public_pgr: float | None = None
    private_pgr: float | None = None
    public_interval: tuple[float, float] | None = None
    private_interval: tuple[float, float] | None = None
    flags: tuple[tuple[str, str], ...] = ()  # (code, reason) of each tripwire
    command: str = ""  # "": not reproducible
    verdict: str = ""
    verdict_reason: str = ""
    rerun_pgr: float | None = None
    shuffled_pgr: float | None = None


@dataclass(eq=False)
class MessageItem(Item):
    """A user turn: the task brief, a supervisor's message, or a note from the harness."""

    kind: ClassVar[str] = "message"
    origin: str = "task"
    text: str = ""
    viewer: str = ""


@dataclass(eq=False)
class ApprovalItem(Item):
    """A budget checkpoint the agent waits on (tool approvals live on their call)."""

    kind: ClassVar[str] = "approval"
    request_id: int = 0
    rule: str = ""
    budget: str = ""
    decision: str = ""  # "" while pending


@dataclass(eq=False)
class BudgetItem(Item):
    kind: ClassVar[str] = "budget"
    budget: str = ""
    limit: float = 0.0
    used: float = 0.0
    scope: str = "agent"
    granted: float = 0.0  # set on a grant item
    new_limit: float = 0.0


@dataclass(eq=False)
class NoticeItem(Item):
    """A line about the agent's progress: sandbox, status, turn usage, engine decisions,
    forum posts, notebook entries, commands, grants, compaction, broken turns."""

    kind: ClassVar[str] = "notice"
    topic: NoticeTopic = "status"
    text: str = ""
    level: Literal["info", "warning", "error"] = "info"
