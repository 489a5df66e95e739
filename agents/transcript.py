"""Plain-text transcript lines for events: shared by the live stream, review and export."""

from __future__ import annotations

import json

from agents.commands import describe
from agents.conversation import RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolUseBlock
from agents.events import (
    AgentFinished,
    AgentStarted,
    AgentStatusChanged,
    ApprovalDecided,
    ApprovalRequested,
    ApprovalWithdrawn,
    BlockCompleted,
    BudgetGranted,
    CommandApplied,
    CommandRefused,
    GrantAdded,
    GrantRevoked,
    BudgetReached,
    Compacted,
    EngineDecided,
    Event,
    ForumPosted,
    MessageAdded,
    NoteAdded,
    ReproductionJudged,
    SubmissionScored,
    ToolCallFinished,
    ToolOutputEmitted,
    TurnCompleted,
    TurnFailed,
)

_MAX_ARG_CHARS = 400


def fmt_pgr(value: float | None) -> str:
    """PGR for display: two decimals, or a dash when there is none."""
    return "-" if value is None else f"{value:.2f}"


def _short(text: str, limit: int = _MAX_ARG_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _block_lines(event: BlockCompleted) -> list[str]:
    block = event.block
    if isinstance(block, ThinkingBlock):
        return [f"(thinking) {line}" for line in block.thinking.splitlines()] or ["(thinking)"]
    if isinstance(block, RedactedThinkingBlock):
        return ["(thinking, redacted)"]
    if isinstance(block, TextBlock):
        return block.text.splitlines() or [""]
    if isinstance(block, ToolUseBlock):
        return [f"-> {block.name} {_short(json.dumps(block.input, ensure_ascii=False))}"]
    return []


def transcript_lines(event: Event) -> list[str]:
    """The lines a reader of one agent's transcript sees for `event` (maybe none)."""
    match event:
        case AgentStarted():
            return [
                f"== agent started ({event.backend}); direction: {event.direction}",
                f"== sandbox: {event.sandbox_isolation}; work dir {event.sandbox_workdir}",
            ]
        case BlockCompleted():
            return _block_lines(event)
        case MessageAdded() if event.message.origin == "supervisor":
            return [f"## supervisor message: {event.message.text()}"]
        case MessageAdded() if event.message.origin == "harness":
            return [f"== harness: {line}" for line in event.message.text().splitlines()[:3]]
        case TurnFailed():
            then = "retrying the whole turn" if event.will_retry else "giving up"
            return [f"!! turn {event.turn} (attempt {event.attempt}) broke, no tool of it runs; {then}: "
                    f"{_short(event.error, 200)}"]
        case TurnCompleted() if event.usage.total:
            u = event.usage
            return [f"== turn {event.turn}: {u.input_tokens} in, {u.cache_read_tokens} cache read, "
                    f"{u.cache_write_tokens} cache write, {u.output_tokens} out; ${event.cost_usd:.4f}"]
        case Compacted():
            return [f"== context compacted: {event.tokens_before} -> about {event.tokens_after} tokens"]
        case ForumPosted():
            files = f" (+{len(event.attachments)} file(s))" if event.attachments else ""
            return [f"** forum #{event.post_id} [{event.post_kind}]{files}: {_short(event.text, 300)}"]
        case NoteAdded():
            return [f"~~ notebook: {_short(event.text, 300)}"]
        case BudgetReached():
            return [f"== budget reached ({event.scope}): {event.budget} {event.used:g} of {event.limit:g}; "
                    "paused until the supervisor grants more or stops it"]
        case BudgetGranted():
            return [f"## supervisor granted {event.budget} +{event.amount:g} (limit now {event.new_limit:g})"]
        case EngineDecided():
            return [f"== engine: {event.decision} ({event.reason})"]
        case ToolOutputEmitted():
            prefix = "  | " if event.stream == "stdout" else "  ! "
            return [prefix + event.line]
        case ToolCallFinished():
            mark = "ok" if event.ok else "FAILED"
            return [f"<- {event.tool} {mark} in {event.duration_s:.1f}s: {_short(event.summary)}"]
        case SubmissionScored():
            if not event.valid:
                verb = "refused" if event.refused else "rejected"
                lines = [f"** submission #{event.submission_id} {verb}: {event.error}"]
            else:
                lines = [
                    f"** submission #{event.submission_id} ({event.method}): "
                    f"public PGR {fmt_pgr(event.public_pgr)}, private PGR {fmt_pgr(event.private_pgr)}"
                    + ("" if event.command else "; not reproducible (no command given)")
                ]
            lines += [f"!! tripwire {flag['code']}: {flag['reason']}" for flag in event.flags]
            return lines
        case ReproductionJudged():
            return [
                f"## re-run of submission #{event.submission_id}: {event.verdict} "
                f"(other teacher PGR {fmt_pgr(event.rerun_pgr)}, shuffled labels PGR "
                f"{fmt_pgr(event.shuffled_pgr)}); {event.reason}"
            ]
        case CommandApplied():
            return [f"## supervisor ({event.command.viewer}): {describe(event.command)}"]
        case CommandRefused():
            return [f"## refused command from {event.command.viewer} ({describe(event.command)}): {event.reason}"]
        case ApprovalRequested() if event.request_kind == "budget":
            return [f"?? request #{event.request_id}: budget checkpoint ({event.rule}); awaiting the supervisor"]
        case ApprovalRequested():
            args = _short(json.dumps(event.arguments, ensure_ascii=False), 200)
            return [f"?? request #{event.request_id}: {event.tool} {args} awaits approval ({event.rule})"]
        case ApprovalDecided():
            extra = f": {event.reason}" if event.reason else ""
            if event.arguments is not None:
                extra = f"; runs {_short(json.dumps(event.arguments, ensure_ascii=False), 200)}"
            return [f"## request #{event.request_id} {event.decision} by {event.viewer}{extra}"]
        case ApprovalWithdrawn():
            return [f"## request #{event.request_id} withdrawn: {event.reason}"]
        case GrantAdded():
            return [f"## grant #{event.grant_id}: {event.scope}"]
        case GrantRevoked():
            return [f"## grant #{event.grant_id} revoked"]
        case AgentStatusChanged() if event.status in ("paused", "failed"):
            reason = f" ({event.reason})" if event.reason else ""
            return [f"== {event.status}{reason}"]
        case AgentFinished():
            return [f"== finished: {event.reason}"]
        case _:
            return []
