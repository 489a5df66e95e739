"""Run a campaign with no UI, printing a line per notable event and a final leaderboard."""

from __future__ import annotations

import sys
from typing import TextIO

from agents.campaign import Campaign
from agents.events import (
    AgentFinished,
    AgentStarted,
    CampaignFinished,
    CampaignResumed,
    Event,
    ProgressReported,
    SubmissionScored,
    TaskPrepared,
)
from agents.settings import AarSettings
from agents.store import EventStore
from agents.items import fmt_pgr
from agents.views import CampaignView, apply


def progress_line(event: Event) -> str | None:
    """The one-line summary of an event worth printing headless, if any."""
    who = f"[{event.agent_id}] " if event.agent_id else ""
    match event:
        case ProgressReported() if event.done == event.total or event.done == 0:
            return f"{event.stage}: {event.done}/{event.total}"
        case TaskPrepared():
            return (
                f"task ready in {event.seconds:.1f}s: weak acc {event.acc_weak:.3f}, "
                f"ceiling acc {event.acc_ceiling:.3f}, {event.n_train} train / {event.n_test} test items"
            )
        case AgentStarted():
            return f"{who}started: {event.direction}"
        case SubmissionScored() if event.valid:
            return f"{who}submission #{event.submission_id}: public PGR {fmt_pgr(event.public_pgr)} ({event.method})"
        case SubmissionScored():
            return f"{who}submission #{event.submission_id} rejected: {event.error}"
        case AgentFinished():
            return f"{who}finished: {event.reason}"
        case CampaignResumed():
            return f"resumed after event {event.after_seq}: agents {', '.join(event.agents_resumed) or 'none'}; " \
                   f"{event.interrupted_calls} interrupted call(s) reported to their agents"
        case CampaignFinished():
            return f"campaign finished after {event.seconds:.0f}s: {event.reason}"
        case _:
            return None


def leaderboard_text(view: CampaignView, limit: int = 10) -> str:
    rows = ["Leaderboard (public PGR; private PGR for the supervisor)"]
    for rank, row in enumerate(view.leaderboard(limit), start=1):
        marks = view.marks(row)
        rows.append(
            f"{rank:>3}. {row.agent_id:<10} public {fmt_pgr(row.public_pgr):>6}  "
            f"private {fmt_pgr(row.private_pgr):>6}  {row.method}"
            + (f"  [{', '.join(marks)}]" if marks else "")
        )
    if len(rows) == 1:
        rows.append("  (no scored submissions)")
    return "\n".join(rows)


async def run_headless(campaign: Campaign, out: TextIO = sys.stdout, *, replayed: list[Event] | None = None) -> CampaignView:
    """Run to the end (a new campaign, or one resumed with its log ``replayed``); returns the final view."""
    view = CampaignView()
    for event in replayed or []:
        apply(view, event)

    def on_event(event: Event) -> None:
        apply(view, event)
        line = progress_line(event)
        if line:
            print(line, file=out, flush=True)

    campaign.bus.subscribe(on_event)
    verb = "resuming" if replayed else "campaign"
    print(f"{verb} {campaign.campaign_id}: {campaign.settings.agents} agents, store {campaign.store_path}", file=out)
    await campaign.run()
    print(leaderboard_text(view), file=out, flush=True)
    return view
