"""Full-text search over a campaign's events: what text each event contributes, the
hits a search returns, and the errors a bad query gives.

The index itself lives in the store (``agents.store``: an SQLite FTS5 table whose rowid
is the event's ``seq``). Queries use FTS5 syntax: words, "exact phrases", AND / OR /
NOT, ``prefix*``, ``NEAR(a b)`` and parentheses. Snippets mark each matched stretch with
``MATCH_START`` ... ``MATCH_END``; those two characters are removed from indexed text,
so in a snippet they only ever mean a match.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from agents.commands import describe
from agents.conversation import RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolUseBlock
from agents.events import (
    AgentStarted,
    ApprovalDecided,
    ApprovalRequested,
    BlockCompleted,
    BudgetReached,
    CommandApplied,
    CommandRefused,
    EngineDecided,
    Event,
    ForumPosted,
    MessageAdded,
    NoteAdded,
    ReproductionJudged,
    SubmissionScored,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutputEmitted,
    TurnFailed,
)

MATCH_START = "\x02"  # STX: opens a matched stretch in `SearchHit.snippet`
MATCH_END = "\x03"  # ETX: closes it
SNIPPET_ELLIPSIS = "…"  # where a snippet cuts the event's text
SNIPPET_TOKENS = 16  # words of context a snippet shows, at most (FTS5 caps it at 64)
MAX_QUERY_CHARS = 1000
SYNTAX_HELP = ('use words, "exact phrases", AND / OR / NOT between terms, prefix* and (parentheses); '
               'quote text with punctuation, e.g. "loss=0.5"')


class SearchError(Exception):
    """A search that cannot run (an empty, overlong or malformed query); its str is one
    line fit to show the user."""


@dataclass(frozen=True)
class SearchHit:
    """One event that matched: where it is, and its text around the match."""

    seq: int
    agent_id: str | None
    kind: str
    ts: float
    snippet: str  # matches wrapped in MATCH_START ... MATCH_END


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _join(*parts: str | None) -> str | None:
    text = "\n".join(p for p in parts if p)
    return text or None


def _raw_text(event: Event) -> str | None:
    match event:
        case BlockCompleted(block=ThinkingBlock() as block):
            return block.thinking or None
        case BlockCompleted(block=TextBlock() as block):
            return block.text or None
        case BlockCompleted(block=ToolUseBlock() as block):
            return _join(block.name, _json(block.input))
        case BlockCompleted(block=RedactedThinkingBlock()):
            return None
        case ToolOutputEmitted():
            return event.line or None
        case ToolCallStarted():
            return _join(event.tool, _json(event.arguments))
        case ToolCallFinished():
            return _join(event.tool, event.summary, event.result.content)
        case MessageAdded():
            return event.message.text() or None
        case ForumPosted():
            return _join(event.text, *(a.path for a in event.attachments))
        case NoteAdded():
            return event.text or None
        case SubmissionScored():
            flags = (f"{flag.get('code', '')} {flag.get('reason', '')}".strip() for flag in event.flags)
            return _join(event.method, event.error, event.feedback, *flags, event.command)
        case ReproductionJudged():
            return _join(event.verdict, event.reason)
        case ApprovalRequested():
            return _join(event.tool, _json(event.arguments) if event.arguments else None, event.rule)
        case ApprovalDecided():
            edited = _json(event.arguments) if event.arguments is not None else None
            return _join(event.decision, event.reason, edited)
        case TurnFailed():
            return event.error or None
        case CommandApplied():
            return describe(event.command)
        case CommandRefused():
            return _join(describe(event.command), event.reason)
        case AgentStarted():
            return event.direction or None
        case BudgetReached():
            return f"{event.scope} {event.budget} budget reached: {event.used:g} of {event.limit:g}"
        case EngineDecided():
            return _join(event.decision, event.reason)
        case _:
            return None  # BlockDelta above all: the completed block is the record


_MARKERS = re.compile(f"[{MATCH_START}{MATCH_END}]")


def search_text(event: Event) -> str | None:
    """The searchable text of one event, or None when it has none (a delta, a status
    change, a redacted thinking block). The snippet markers are blanked out of it."""
    text = _raw_text(event)
    return _MARKERS.sub(" ", text) if text else None


def check_query(query: str) -> str:
    """The query as FTS5 gets it, or SearchError when it is empty or overlong."""
    if not query.strip():
        raise SearchError(f"search: the query is empty; {SYNTAX_HELP}")
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(f"search: the query has {len(query):,} characters; at most {MAX_QUERY_CHARS:,} are accepted")
    return query


def query_error(query: str, message: str) -> SearchError | None:
    """A SearchError naming what SQLite's FTS5 parser objected to in ``query``; None when
    ``message`` (an sqlite3 error's) is not about the query."""
    if message == "unterminated string":
        problem = 'a "quoted phrase" is not closed'
    elif message.startswith("unknown special query"):
        problem = "a * stands alone (a prefix needs letters before it, e.g. optim*)"
    elif message.startswith("no such column: "):
        name = message.removeprefix("no such column: ")
        problem = f'"{name}" reads as a column name (":" or "-" outside quotes)'
    elif match := re.fullmatch(r'fts5: syntax error near "(.*)"', message, flags=re.DOTALL):
        near = match.group(1)
        problem = f'syntax error near "{near}"' if near else "the query ends too early"
    elif "parser stack overflow" in message:
        problem = "too deeply nested"
    else:
        return None
    problem = " ".join(problem.split())  # one line, whatever the query held
    return SearchError(f"search: cannot read {_quote(query)}: {problem}; {SYNTAX_HELP}")


def _quote(query: str) -> str:
    shown = " ".join(query.split())
    return repr(shown if len(shown) <= 60 else shown[:57] + "...")


def snippet_parts(snippet: str) -> list[tuple[str, bool]]:
    """A snippet split into (text, matched) runs, for a UI to style the matches."""
    parts: list[tuple[str, bool]] = []
    for i, piece in enumerate(re.split(f"[{MATCH_START}{MATCH_END}]", snippet)):
        if piece:
            parts.append((piece, i % 2 == 1))
    return parts
