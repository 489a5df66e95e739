"""A real campaign: baseline researchers, local sandboxes, the scorer, the event log."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.campaign import Campaign
from agents.conversation import SUPERVISOR_PREFIX, TextBlock, ToolUseBlock
from agents.events import (
    AgentFinished,
    BlockCompleted,
    ForumPosted,
    MessageAdded,
    CampaignFinished,
    ReproductionJudged,
    SubmissionScored,
    CommandApplied,
    ToolCallFinished,
    ToolOutputEmitted,
)
from agents.settings import DEFAULT_TESTBED, AarSettings
from agents.store import EventStore
from agents.replay import rebuild_conversation
from agents.views import build_view


async def test_baseline_campaign_runs_to_the_end_and_logs_everything(settings: AarSettings, tmp_path: Path) -> None:
    async with await EventStore.create(tmp_path / "c.db") as store:
        campaign = Campaign(settings, store)
        seen = []
        campaign.bus.subscribe(seen.append)
        await campaign.run()

    async with await EventStore.open(tmp_path / "c.db") as reopened:
        stored = await reopened.read_all()
    assert stored == seen, "the store holds exactly what subscribers saw, in order"
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert isinstance(stored[-1], CampaignFinished) and stored[-1].reason == "all agents finished"

    scored = [e for e in stored if isinstance(e, SubmissionScored)]
    for agent_id in campaign.agent_ids:
        mine = [e for e in scored if e.agent_id == agent_id]
        assert len(mine) == settings.experiments_per_agent
        assert all(e.valid and e.public_pgr is not None and e.private_pgr is not None for e in mine)
    finished = {e.agent_id: e.reason for e in stored if isinstance(e, AgentFinished)}
    assert finished == {a: "research complete" for a in campaign.agent_ids}
    # experiment logs streamed line by line from inside the sandbox
    assert any(isinstance(e, ToolOutputEmitted) and "held-out agreement" in e.line for e in stored)
    assert all(e.ok for e in stored if isinstance(e, ToolCallFinished))

    # Each agent's best submissions were re-run on unseen variants; an honest method learns
    # from the teacher, so shuffled weak labels must not leave its PGR standing.
    verdicts = [e for e in stored if isinstance(e, ReproductionJudged)]
    assert {e.agent_id for e in verdicts} == set(campaign.agent_ids)
    assert all(e.verdict != "ignores the teacher" for e in verdicts), verdicts
    assert all(e.shuffled_pgr is not None and e.shuffled_pgr < 0.1 for e in verdicts), verdicts
    # Several other teachers each, and the verdict read from an interval over them.
    assert all(e.reruns == settings.reproduction_reruns for e in verdicts), verdicts
    assert all(e.verdict != "reproduced" or (e.difference_interval and e.difference_interval[0] >= -0.2)
               for e in verdicts), verdicts

    view = build_view(stored)
    assert len(view.leaderboard()) == len(campaign.agent_ids) * settings.experiments_per_agent
    assert view.acc_ceiling is not None and view.acc_weak is not None and view.acc_ceiling > view.acc_weak

    # The offline researchers collaborate: each posts its results (with its script), reads the
    # forum, and builds on the best setting another agent posted.
    posts = [e for e in stored if isinstance(e, ForumPosted)]
    assert {p.agent_id for p in posts} == set(campaign.agent_ids)
    assert any(p.attachments and p.attachments[0].path == "train_head.py" for p in posts)
    reads = [e for e in stored if isinstance(e, ToolCallFinished) and e.tool == "read_forum"]
    assert {e.agent_id for e in reads} == set(campaign.agent_ids)
    knobs = ("--temperature", "--weight-decay", "--epochs")
    built_on = [e for e in stored if isinstance(e, BlockCompleted) and isinstance(e.block, ToolUseBlock)
                and e.block.name == "run_command" and sum(k in e.block.input.get("argv", []) for k in knobs) == 2]
    assert built_on, "at least one agent combined its knob with another agent's best setting"

    # The conversation is data: rebuilt from the log alone it equals what the loop held.
    for agent_id in campaign.agent_ids:
        researcher = campaign._agents[agent_id].researcher
        assert researcher is not None
        assert rebuild_conversation(stored, agent_id) == researcher.conversation


async def test_pause_freezes_an_agent_until_resume_and_redirect_reaches_it(settings: AarSettings, tmp_path: Path) -> None:
    async with await EventStore.create(tmp_path / "c.db") as store:
        campaign = Campaign(settings.model_copy(update={"agents": 2}), store)
        events = []
        campaign.bus.subscribe(events.append)
        engine = asyncio.create_task(campaign.run())
        try:
            while not any(e.kind == "agent_started" and e.agent_id == "agent-1" for e in events):
                await asyncio.sleep(0.05)

            await campaign.pause("agent-1")
            await campaign.redirect("agent-1", "try hard labels")
            await asyncio.sleep(0.3)  # output the process wrote before SIGSTOP still drains
            paused_at = len([e for e in events if e.agent_id == "agent-1"])
            await asyncio.sleep(1.5)
            during_pause = [e for e in events if e.agent_id == "agent-1"][paused_at:]
            # Nothing the agent does happens while paused.
            assert during_pause == []

            await campaign.resume("agent-1")
            await asyncio.wait_for(engine, 240)
        finally:
            engine.cancel()
            await asyncio.gather(engine, return_exceptions=True)
    mine = [e for e in events if e.agent_id == "agent-1"]
    commands = [e.command.kind for e in mine if isinstance(e, CommandApplied)]
    assert commands == ["pause", "redirect", "resume"]
    supervisor = [e for e in mine if isinstance(e, MessageAdded) and e.message.origin == "supervisor"]
    assert [e.message.text() for e in supervisor] == [f"{SUPERVISOR_PREFIX} try hard labels"]
    assert any(isinstance(e, BlockCompleted) and isinstance(e.block, TextBlock) and "try hard labels" in e.block.text
               for e in mine), "the researcher read the redirect before its next turn"
    assert [e.status for e in mine if e.kind == "agent_status_changed"].count("paused") == 1
    assert [e.reason for e in mine if isinstance(e, AgentFinished)] == ["research complete"]


async def test_an_agent_paused_during_set_up_waits_for_resume(settings: AarSettings, tmp_path: Path) -> None:
    async with await EventStore.create(tmp_path / "c.db") as store:
        campaign = Campaign(settings.model_copy(update={"agents": 2, "experiments_per_agent": 1}), store)
        events = []
        campaign.bus.subscribe(events.append)
        await campaign.pause("agent-2")  # before the task exists
        engine = asyncio.create_task(campaign.run())
        try:
            while not any(e.kind == "agent_finished" and e.agent_id == "agent-1" for e in events):
                await asyncio.sleep(0.05)
            agent_2 = [e.kind for e in events if e.agent_id == "agent-2"]
            assert "block_completed" not in agent_2 and "tool_call_finished" not in agent_2
            await campaign.resume("agent-2")
            await asyncio.wait_for(engine, 240)
        finally:
            engine.cancel()
            await asyncio.gather(engine, return_exceptions=True)
    scored = [e.agent_id for e in events if isinstance(e, SubmissionScored)]
    assert sorted(scored) == ["agent-1", "agent-2"]


def test_the_settings_default_testbed_is_the_experiments_default() -> None:
    from experiments import DEFAULT_TESTBED as EXPERIMENTS_DEFAULT

    assert DEFAULT_TESTBED == EXPERIMENTS_DEFAULT == AarSettings().testbed
