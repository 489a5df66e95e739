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
    out += ["", "## Agents", "", "| agent | researcher | turns | tokens | dollars | submissions | forum posts |",
            "|---|---|---|---|---|---|---|"]
    for agent in view.agents.values():
        out.append(f"| {agent.agent_id} | {agent.backend} | {agent.turns} | {agent.tokens} | ${agent.cost_usd:.4f} "
                   f"| {agent.submissions} | {agent.forum_posts} |")
    out.append(f"| **total** | | {sum(a.turns for a in view.agents.values())} | {view.tokens} | "
               f"${view.cost_usd:.4f} | {sum(a.submissions for a in view.agents.values())} | {len(view.forum)} |")
    if view.forum:
        out += ["", "## Forum", ""]
        for post in view.forum:
            files = "".join(f" `shared/{a.shared_path}`" for a in post.attachments)
            out.append(f"- #{post.post_id} **{post.author}** [{post.post_kind}]: {post.text}{files}")
    for agent in view.agents.values():
        out += ["", f"## {agent.agent_id}", "", f"{agent.backend}; {agent.direction}", "", "```"]
        out += transcripts.get(agent.agent_id, [])
        out.append("```")
    return "\n".join(out) + "\n"
