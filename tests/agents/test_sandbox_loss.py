"""A sandbox whose engine goes away mid-run: the agent is paused, not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from agents.campaign import Campaign
from agents.events import AgentStatusChanged, SubmissionScored, ToolCallFinished
from agents.settings import AarSettings
from agents.store import EventStore
from sandboxes import SANDBOX_BACKENDS, ExecResult, SandboxUnavailableError, create_sandbox, register_backend


class EngineDiesOnce:
    """A real local sandbox whose third exec fails the way a dead Docker engine does."""

    def __init__(self, **kwargs: Any) -> None:
        self._inner = create_sandbox("local", **kwargs)
        self._execs = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def paused(self) -> bool:
        return self._inner.paused

    async def exec(self, cmd: Sequence[str], **kwargs: Any) -> ExecResult:
        self._execs += 1
        if self._execs == 3:
            raise SandboxUnavailableError("lost the Docker engine while running a command")
        return await self._inner.exec(cmd, **kwargs)


@pytest.fixture
def flaky_backend() -> Any:
    register_backend("engine-dies-once", EngineDiesOnce)
    yield "engine-dies-once"
    SANDBOX_BACKENDS.pop("engine-dies-once")


async def test_lost_engine_pauses_the_agent_and_resume_continues(
    settings: AarSettings, tmp_path: Path, flaky_backend: str
) -> None:
    events: list[Any] = []
    async with await EventStore.create(tmp_path / "c.db") as store:
        campaign = Campaign(settings.model_copy(update={"agents": 1, "sandbox": flaky_backend}), store)
        campaign.bus.subscribe(events.append)
        engine = asyncio.create_task(campaign.run())
        try:
            def held() -> bool:
                return any(isinstance(e, AgentStatusChanged) and e.status == "paused" for e in events)

            while not held():
                assert not engine.done(), "campaign ended instead of holding the agent"
                await asyncio.sleep(0.05)
            pause = next(e for e in events if isinstance(e, AgentStatusChanged) and e.status == "paused")
            assert pause.reason.startswith("sandbox unavailable: lost the Docker engine")
            await asyncio.sleep(0.5)
            assert not engine.done()

            await campaign.resume("agent-1")
            await asyncio.wait_for(engine, 120)
        finally:
            engine.cancel()
            await asyncio.gather(engine, return_exceptions=True)
    # The interrupted call was retried after resume: the agent lost no experiment.
    assert all(e.ok for e in events if isinstance(e, ToolCallFinished))
    assert sum(isinstance(e, SubmissionScored) and e.valid for e in events) == settings.experiments_per_agent
    assert events[-1].kind == "campaign_finished" and events[-1].reason == "all agents finished"
