"""Claude researchers end to end: the real ``anthropic`` client against the fake Messages
API on 127.0.0.1 (``tests.fakes``), never a mocked client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agents.campaign import Campaign
from agents.claude import with_cache_breakpoint
from agents.conversation import to_api_messages
from agents.events import (
    AgentFinished,
    CampaignFinished,
    Event,
    ForumPosted,
    SubmissionScored,
    ToolCallFinished,
    TurnCompleted,
    TurnFailed,
)
from agents.replay import rebuild_conversation
from agents.settings import AarSettings
from agents.store import EventStore
from agents.views import build_view
from tests.fakes.messages_api import FakeMessagesAPI, FaultPlan
from tests.fakes.research_script import research

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def claude_settings(settings: AarSettings, monkeypatch: pytest.MonkeyPatch) -> AarSettings:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    return settings.model_copy(update={"researcher": "claude", "agents": 9, "experiments_per_agent": 2,
                                       "reproduce": False, "turn_retry_base_s": 0.01})


async def _run(settings: AarSettings, db: Path) -> list[Event]:
    async with await EventStore.create(db) as store:
        campaign = Campaign(settings, store)
        seen: list[Event] = []
        campaign.bus.subscribe(seen.append)
        await campaign.run()
    async with await EventStore.open(db) as reopened:
        stored = await reopened.read_all()
    assert stored == seen, "nothing published is missing from the store"
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    return stored


def _strip_cache(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_cache(v) for k, v in obj.items() if k != "cache_control"}
    if isinstance(obj, list):
        return [_strip_cache(v) for v in obj]
    return obj


async def test_nine_claude_agents_run_share_and_submit(claude_settings: AarSettings, tmp_path: Path) -> None:
    async with FakeMessagesAPI(research) as api:
        stored = await _run(claude_settings.model_copy(update={"base_url": api.base_url}), tmp_path / "c.db")
        requests = [r for r in api.message_requests if r.body is not None]
    agents = [f"agent-{i}" for i in range(1, 10)]
    assert isinstance(stored[-1], CampaignFinished) and stored[-1].reason == "all agents finished"
    assert {e.agent_id: e.reason for e in stored if isinstance(e, AgentFinished)} == dict.fromkeys(agents, "research complete")
    calls = [e for e in stored if isinstance(e, ToolCallFinished)]
    for agent in agents:
        mine = {e.tool for e in calls if e.agent_id == agent and e.ok}
        assert {"run_command", "submit_predictions", "post_to_forum", "read_forum", "read_shared_file"} <= mine, agent
    view = build_view(stored)
    assert len(view.leaderboard()) == 9 and len([e for e in stored if isinstance(e, ForumPosted)]) == 9
    assert all(e.valid and e.command == "python train.py" for e in stored if isinstance(e, SubmissionScored))

    # What the real client sent: every tool_use answered by a tool_result with its id in the
    # next request, thinking returned with its signature, cache breakpoints in place.
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        system = request.body["system"]
        assert system[0]["cache_control"] == {"type": "ephemeral"}
        assert request.body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert request.body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        assert request.body["thinking"] == {"type": "adaptive"} and request.body["model"] == "claude-opus-4-6"
        agent = system[0]["text"].split("You are ")[1].split(",")[0]
        by_agent.setdefault(agent, []).append(request.body)
    for agent, bodies in by_agent.items():
        for body in bodies:
            messages = body["messages"]
            for i, message in enumerate(messages[:-1]):
                if message["role"] != "assistant":
                    continue
                uses = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
                answers = [b["tool_use_id"] for b in messages[i + 1]["content"] if b["type"] == "tool_result"]
                assert uses == answers, (agent, i)
                thinking = [b for b in message["content"] if b["type"] == "thinking"]
                assert thinking and all(b["signature"] for b in thinking)
        # The conversation rebuilt from the log is what the backend last sent, plus its answer.
        rebuilt = to_api_messages(rebuild_conversation(stored, agent))
        assert _strip_cache(bodies[-1]["messages"]) == rebuilt[:-1]

    turns = [e for e in stored if isinstance(e, TurnCompleted)]
    assert all(t.usage.output_tokens > 0 and t.cost_usd > 0 for t in turns)
    later = [t for t in turns if t.turn >= 3]
    cached = sum(t.usage.cache_read_tokens for t in later)
    fresh = sum(t.usage.input_tokens + t.usage.cache_write_tokens for t in later)
    assert cached > 3 * fresh, "from the third turn on nearly all input is a cache read"
    assert view.cost_usd == pytest.approx(sum(t.cost_usd for t in turns))


async def test_a_hundred_faults_lose_nothing_and_run_no_tool_twice(claude_settings: AarSettings, tmp_path: Path) -> None:
    plan = FaultPlan(research, rate=0.65, seed=3, max_faults=100,
                     kinds=("overloaded", "rate_limit", "api_error", "cut", "stream_error", "disconnect"))
    settings = claude_settings.model_copy(update={"api_max_retries": 2, "turn_attempts": 12})
    async with FakeMessagesAPI(plan) as api:
        stored = await _run(settings.model_copy(update={"base_url": api.base_url}), tmp_path / "c.db")
    assert sum(plan.injected.values()) == 100, plan.injected
    finished = {e.agent_id: e.reason for e in stored if isinstance(e, AgentFinished)}
    assert set(finished.values()) == {"research complete"}, finished
    ran = Counter(e.call_id for e in stored if isinstance(e, ToolCallFinished))
    assert ran and max(ran.values()) == 1, "each tool_use id executes at most once"
    assert any(isinstance(e, TurnFailed) for e in stored), "some faults broke whole turns"
    for agent in finished:
        conversation = rebuild_conversation(stored, agent)
        uses = [b.id for m in conversation for b in m.tool_uses()]
        assert sorted(uses) == sorted(c for c in ran if c in uses) and len(uses) == len(set(uses))


def test_headless_cli_against_the_fake_server_and_the_markdown_export(
    claude_settings: AarSettings, tmp_path: Path
) -> None:
    api = FakeMessagesAPI(research)
    url = api.start_in_thread()
    env = {**os.environ, "AAR_HOME": str(claude_settings.home), "AAR_CACHE_DIR": str(claude_settings.cache_dir),
           "AAR_BASELINE_SEEDS": "2", "AAR_REPRODUCE": "false", "AAR_CONFIG": str(tmp_path / "none.toml")}
    db = tmp_path / "c.db"
    try:
        run = subprocess.run(
            [sys.executable, "-m", "tui.cli", "run", "--headless", "--researcher", "claude", "--base-url", url,
             "--agents", "9", "--experiments", "2", "--db", str(db)],
            capture_output=True, text=True, env=env, timeout=600, cwd=ROOT,
        )
    finally:
        api.stop_thread()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "campaign finished" in run.stdout and "all agents finished" in run.stdout
    report = subprocess.run([sys.executable, "-m", "tui.cli", "export", str(db), "--format", "md"],
                            capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert report.returncode == 0
    rows = [line for line in report.stdout.splitlines() if line.startswith("| agent-")
            and "claude (claude-opus-4-6)" in line]
    assert len(rows) == 9
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[3]) > 0 and float(cells[4].lstrip("$")) > 0, row  # tokens, dollars
    assert "## Forum" in report.stdout
    events = [json.loads(line) for line in subprocess.run(
        [sys.executable, "-m", "tui.cli", "export", str(db)], capture_output=True, text=True, env=env,
        timeout=120, cwd=ROOT).stdout.splitlines()]
    assert sum(e["kind"] == "submission_scored" for e in events) == 9


def test_cache_breakpoint_moves_to_the_last_block() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "a"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "b"}, {"type": "text", "text": "c"}]}]
    marked = with_cache_breakpoint(messages)
    assert marked[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in marked[-1]["content"][0] and "cache_control" not in messages[-1]["content"][-1]
