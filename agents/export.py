"""Export a stored campaign: every event as JSON lines, or a Markdown report."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from agents.events import Event, event_to_json
from agents.store import EventStore
from agents.transcript import fmt_pgr, transcript_lines
from agents.views import CampaignView, build_view

FORMATS = ("jsonl", "md")


async def export_jsonl(store: EventStore) -> AsyncIterator[str]:
    """One JSON object per event, in log order."""
    async for event in store.read():
        yield event_to_json(event)


def markdown_report(events: Iterable[Event]) -> str:
    """A readable report: baselines, leaderboard, then each agent's transcript."""
    events = list(events)
    view: CampaignView = build_view(events)
    transcripts: dict[str, list[str]] = {}
    for event in events:
        if event.agent_id is not None:
            transcripts.setdefault(event.agent_id, []).extend(transcript_lines(event))
    out = [f"# Campaign {view.campaign_id}", ""]
    out.append(f"- testbed: {view.testbed}")
    out.append(f"- sandbox: {view.sandbox_backend} ({view.sandbox_isolation})")
    if view.acc_weak is not None and view.acc_ceiling is not None:
        out.append(f"- weak accuracy {view.acc_weak:.3f}, ceiling accuracy {view.acc_ceiling:.3f}")
    out.append(f"- outcome: {view.phase}{': ' + view.finished_reason if view.finished_reason else ''}")
    out += ["", "## Leaderboard", "", "| rank | agent | method | public PGR | private PGR | flags |", "|---|---|---|---|---|---|"]
    for rank, row in enumerate(view.leaderboard(), start=1):
        method = row.method.replace("|", "\\|")
        out.append(
            f"| {rank} | {row.agent_id} | {method} | {fmt_pgr(row.public_pgr)} | {fmt_pgr(row.private_pgr)} "
            f"| {', '.join(view.marks(row))} |"
        )
    for agent in view.agents.values():
        out += ["", f"## {agent.agent_id}", "", f"{agent.backend}; {agent.direction}", "", "```"]
        out += transcripts.get(agent.agent_id, [])
        out.append("```")
    return "\n".join(out) + "\n"
