"""Export a stored campaign: every event as JSON lines, or a Markdown report.

The report reads the same read models as the control room (``agents.views`` and the
transcript items of ``agents.transcript``): leaderboard, flagged submissions, costs,
forum, then each agent's summary and transcript.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from agents.events import Event, event_to_json
from agents.store import EventStore
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
    fmt_interval,
    fmt_pgr,
    fmt_pgr_interval,
    short,
)
from agents.views import QUIET_MARKS, CampaignView, LeaderboardRow, build_view

FORMATS = ("jsonl", "md")
_OUTPUT_LINES_IN_REPORT = 20


async def export_jsonl(store: EventStore) -> AsyncIterator[str]:
    """One JSON object per event, in log order."""
    async for event in store.read():
        yield event_to_json(event)


def item_lines(item: Item) -> list[str]:
    """Plain-text lines of one transcript item (the report's transcript)."""
    match item:
        case ThinkingItem():
            if item.redacted:
                return ["(thinking, redacted)"]
            lines = [f"(thinking) {line}" for line in item.text.splitlines()] or ["(thinking)"]
            return lines + (["(discarded: its turn broke)"] if item.discarded else [])
        case TextItem():
            return item.text.splitlines() + (["(discarded: its turn broke)"] if item.discarded else [])
        case ToolCallItem():
            lines = [f"-> {item.tool} {short(compact_json(item.arguments), 400)}"]
            if item.request_id is not None:
                lines.append(f"   request #{item.request_id} ({item.rule}): {item.decision or 'awaiting approval'}")
            if item.ran_arguments is not None:
                lines.append(f"   ran instead: {short(compact_json(item.ran_arguments), 400)}")
            shown = list(item.output)[-_OUTPUT_LINES_IN_REPORT:]
            if item.output_total > len(shown):
                lines.append(f"   | … {item.output_total - len(shown)} earlier lines")
            lines += [("   | " if stream == "stdout" else "   ! ") + line for stream, line in shown]
            if item.duration_s is not None:
                mark = {"succeeded": "ok", "denied": "denied"}.get(item.state, "FAILED")
                lines.append(f"<- {item.tool} {mark} in {item.duration_s:.1f}s: {short(item.summary, 400)}")
            elif item.state == "discarded":
                lines.append("<- never ran (its turn broke)")
            return lines
        case SubmissionItem():
            if not item.valid:
                return [f"** submission #{item.submission_id} {'refused' if item.refused else 'rejected'}: {item.error}"]
            lines = [f"** submission #{item.submission_id} ({item.method}): public PGR "
                     f"{fmt_pgr_interval(item.public_pgr, item.public_interval)}, private PGR "
                     f"{fmt_pgr_interval(item.private_pgr, item.private_interval)}"
                     + ("" if item.command else "; not reproducible (no command given)")]
            lines += [f"!! tripwire {code}: {reason}" for code, reason in item.flags]
            if item.verdict:
                lines.append(f"## re-run: {item.verdict} (other teacher PGR {fmt_pgr(item.rerun_pgr)}, shuffled labels "
                             f"PGR {fmt_pgr(item.shuffled_pgr)}); {item.verdict_reason}")
            return lines
        case MessageItem():
            who = {"supervisor": "## supervisor message", "harness": "== harness", "task": "== task brief"}[item.origin]
            first, *rest = item.text.splitlines() or [""]
            return [f"{who}: {first}", *rest] if item.origin == "supervisor" else [f"{who}: {short(first, 300)}"]
        case ApprovalItem():
            return [f"?? request #{item.request_id}: budget checkpoint ({item.rule}): {item.decision or 'pending'}"]
        case BudgetItem() if item.granted:
            return [f"## supervisor granted {item.budget} +{item.granted:g} (limit now {item.new_limit:g})"]
        case BudgetItem():
            return [f"== budget reached ({item.scope}): {item.budget} {item.used:g} of {item.limit:g}"]
        case NoticeItem():
            mark = {"info": "==", "warning": "==", "error": "!!"}[item.level]
            return [f"{mark} {item.text}"]
    return []


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _leaderboard(view: CampaignView, rows: list[LeaderboardRow]) -> list[str]:
    out = ["| rank | agent | method | public PGR | 95% | private PGR | 95% | flags and verdict |",
           "|---|---|---|---|---|---|---|---|"]
    for rank, row in enumerate(rows, start=1):
        out.append(f"| {rank} | {row.agent_id} | {_md(row.method)} | {fmt_pgr(row.public_pgr)} "
                   f"| {fmt_interval(row.public_interval)} | {fmt_pgr(row.private_pgr)} "
                   f"| {fmt_interval(row.private_interval)} | {', '.join(view.marks(row))} |")
    return out


def markdown_report(events: Iterable[Event]) -> str:
    """A readable report of a whole campaign, from its events alone."""
    view = build_view(list(events))
    out = [f"# Campaign {view.campaign_id}", ""]
    out.append(f"- testbed: {view.testbed}")
    out.append(f"- researcher: {view.researcher}" + (f" ({view.model})" if view.model else ""))
    out.append(f"- sandbox: {view.sandbox_backend} ({view.sandbox_isolation})")
    if view.isolation_risk:
        out.append(f"- **WEAK ISOLATION: agent code ran below bwrap, risk accepted: {view.isolation_risk}**")
    if view.acc_weak is not None and view.acc_ceiling is not None:
        out.append(f"- weak accuracy {view.acc_weak:.3f}, ceiling accuracy {view.acc_ceiling:.3f}")
    out.append(f"- outcome: {view.phase}{': ' + view.finished_reason if view.finished_reason else ''}")
    out.append(f"- cost: {view.tokens:,} tokens, ${view.cost_usd:.4f}")
    out += ["", "## Leaderboard", "", *_leaderboard(view, view.leaderboard())]

    flagged = [row for row in view.leaderboard(limit=len(view.submissions))
               if any(mark not in QUIET_MARKS for mark in view.marks(row))]
    out += ["", "## Flagged submissions", ""]
    if not flagged:
        out.append("None: no tripwire fired and no re-run failed to reproduce.")
    for row in flagged:
        out.append(f"- #{row.submission_id} {row.agent_id} ({_md(row.method)}), public {fmt_pgr(row.public_pgr)}, "
                   f"private {fmt_pgr(row.private_pgr)}: {', '.join(view.marks(row))}")
        out += [f"  - {code}: {reason}" for code, reason in zip(row.flags, row.flag_reasons, strict=False)]
        if reason := view.verdict_reasons.get(row.submission_id):
            out.append(f"  - re-run: {reason}")

    out += ["", "## Agents", "",
            "| agent | researcher | turns | tokens | dollars | submissions | best public | best private | forum | status "
            "| direction |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for agent in view.agents.values():
        out.append(f"| {agent.agent_id} | {agent.backend} | {agent.turns} | {agent.tokens} | ${agent.cost_usd:.4f} "
                   f"| {agent.submissions} | {fmt_pgr(agent.best_public_pgr)} | {fmt_pgr(agent.best_private_pgr)} "
                   f"| {agent.forum_posts} | {agent.status} | {_md(agent.direction)} |")
    out.append(f"| **total** | | {sum(a.turns for a in view.agents.values())} | {view.tokens} | ${view.cost_usd:.4f} "
               f"| {sum(a.submissions for a in view.agents.values())} | | | {len(view.forum)} | | |")
    if view.forum:
        out += ["", "## Forum", ""]
        for post in view.forum:
            files = "".join(f" `shared/{a.shared_path}`" for a in post.attachments)
            out.append(f"- #{post.post_id} **{post.author}** [{post.post_kind}]: {_md(post.text)}{files}")
    for agent in view.agents.values():
        out += ["", f"## {agent.agent_id}", "", f"{agent.backend}; {agent.direction}", ""]
        kept = agent.transcript
        if kept.items_total > len(kept.items):
            out.append(f"(the last {len(kept.items)} of {kept.items_total} items; the JSONL export has everything)")
        out.append("```")
        for item in kept.items:
            out += item_lines(item)
        out.append("```")
    return "\n".join(out) + "\n"


async def write_exports(store: EventStore, directory: Path) -> list[Path]:
    """Write the Markdown report and the JSONL log of ``store`` into ``directory``, named
    after the store (never over an existing file); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = store.path.stem
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report, log = directory / f"{stem}-{stamp}-report.md", directory / f"{stem}-{stamp}-events.jsonl"
    for path in (report, log):
        if path.exists():
            raise FileExistsError(f"{path} exists; not overwritten")
    events = await store.read_all()
    text = markdown_report(events)
    with log.open("x", encoding="utf-8") as out:
        for event in events:
            out.write(event_to_json(event) + "\n")
    with report.open("x", encoding="utf-8") as out:
        out.write(text)
    return [report, log]
