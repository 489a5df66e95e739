"""Plain-text transcript lines for events: shared by the live stream, review and export."""

from __future__ import annotations

import json

from agents.events import (
    AgentFinished,
    AgentStarted,
    AgentStatusChanged,
    Event,
    ReproductionJudged,
    SubmissionScored,
    SupervisorCommandIssued,
    TextEmitted,
    ToolCallFinished,
    ToolCallRequested,
    ToolOutputEmitted,
)

_MAX_ARG_CHARS = 400


def fmt_pgr(value: float | None) -> str:
    """PGR for display: two decimals, or a dash when there is none."""
    return "-" if value is None else f"{value:.2f}"


def _short(text: str, limit: int = _MAX_ARG_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def transcript_lines(event: Event) -> list[str]:
    """The lines a reader of one agent's transcript sees for `event` (maybe none)."""
    match event:
        case AgentStarted():
            return [
                f"== agent started ({event.backend}); direction: {event.direction}",
                f"== sandbox: {event.sandbox_isolation}; work dir {event.sandbox_workdir}",
            ]
        case TextEmitted():
            return event.text.splitlines() or [""]
        case ToolCallRequested():
            args = _short(json.dumps(event.arguments, ensure_ascii=False))
            return [f"-> {event.tool} {args}"]
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
        case SupervisorCommandIssued():
            extra = f": {event.message}" if event.message else ""
            return [f"## supervisor: {event.command}{extra}"]
        case AgentStatusChanged() if event.status in ("paused", "failed"):
            reason = f" ({event.reason})" if event.reason else ""
            return [f"== {event.status}{reason}"]
        case AgentFinished():
            return [f"== finished: {event.reason}"]
        case _:
            return []
