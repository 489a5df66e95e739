"""Agent-controlled paths, tried as an attacker would: the submit, read and write tools
refuse links, FIFOs, devices and huge sparse files with a clear tool error, the engine
keeps working, and nothing is read or written outside the agent's work dir."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from agents.bus import EventBus
from agents.events import SubmissionScored
from agents.store import EventStore
from agents.submissions import SubmissionDesk
from agents.budgets import BudgetKeeper
from agents.forum import Forum, Notebooks
from agents.tools import ResearchServices, Toolbox
from agents.views import NOT_REPRODUCIBLE, build_view
from experiments import Scorer, TaskBaselines
from sandboxes import SandboxError, SandboxLimits, create_sandbox
from sandboxes.protocol import Sandbox

N = 400
RNG = np.random.default_rng(7)
LABELS = RNG.integers(0, 2, N)
PUBLIC = RNG.random(N) < 0.5
IDS = [f"t{i:05d}" for i in range(N)]
BASELINES = TaskBaselines(public_acc_weak=0.6, public_acc_ceiling=0.8, private_acc_weak=0.6, private_acc_ceiling=0.8)


def _honest_predictions(seed: int = 0) -> dict[str, list]:
    right = np.random.default_rng(seed).random(N) < 0.7
    hard = np.where(right, LABELS, 1 - LABELS)
    return {"ids": IDS, "probs": [0.8 if h else 0.2 for h in hard]}


class Rig:
    def __init__(self, sandbox: Sandbox, desk: SubmissionDesk, events: list[SubmissionScored], shared_root: Path) -> None:
        self.sandbox, self.desk, self.events = sandbox, desk, events
        services = ResearchServices(desk=desk, forum=Forum(desk._bus, shared_root), notebooks=Notebooks(desk._bus))
        self.toolbox = Toolbox("agent-1", sandbox, services, exec_timeout_s=30)
        self._calls = 0

    async def call(self, tool: str, **arguments: object):
        self._calls += 1
        return await self.toolbox.execute(f"call-{self._calls}", tool, arguments, lambda _s, _l: None)

    @property
    def root(self) -> Path:
        return Path(str(self.sandbox.workdir))


async def _rig(tmp_path: Path, *, require_command: bool = False) -> AsyncIterator[Rig]:
    store = await EventStore.create(tmp_path / "c.db")
    bus = EventBus(store)
    events: list[SubmissionScored] = []
    bus.subscribe(lambda e: events.append(e) if isinstance(e, SubmissionScored) else None)
    budgets = BudgetKeeper(agent_limits={"submissions": 20}, campaign_limits={})
    desk = SubmissionDesk(Scorer(IDS, LABELS, PUBLIC, BASELINES), bus, budgets=budgets, per_hour=20,
                          require_command=require_command)
    sandbox = create_sandbox("local", workdir=tmp_path / "agent-1", limits=SandboxLimits(timeout_s=30.0))
    await sandbox.start()
    async with store:
        try:
            yield Rig(sandbox, desk, events, tmp_path / "shared")
        finally:
            await sandbox.close()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in _rig(tmp_path):
        yield made


@pytest.fixture
def host_predictions(tmp_path: Path) -> Path:
    """A valid predictions file on the host, outside the work dir: a link to it must not be followed."""
    path = tmp_path / "host-side" / "predictions.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_honest_predictions(1)))
    return path


async def test_hostile_predictions_that_are_not_regular_files_are_refused(
    rig: Rig, host_predictions: Path
) -> None:
    (rig.root / "link.json").symlink_to(host_predictions)
    (rig.root / "out").symlink_to(host_predictions.parent, target_is_directory=True)
    os.mkfifo(rig.root / "fifo.json")
    os.mknod(rig.root / "device.json", 0o600 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero
    with open(rig.root / "sparse.json", "wb") as f:
        f.truncate(10 * 1024**3)  # 10 GB, no blocks
    cases = {
        "link.json": "symlink",
        "out/predictions.json": "symlink",
        "fifo.json": "not a regular file",
        "device.json": "not a regular file",
        "sparse.json": "over the read limit",
        "../host-side/predictions.json": "'..' is not allowed",
        str(host_predictions): "absolute paths are not allowed",
    }
    for path, reason in cases.items():
        result = await asyncio.wait_for(rig.call("submit_predictions", path=path, method="m", command="x"), 10)
        assert not result.ok and reason in result.result.content, (path, result)
        assert result.result.is_error and result.result.content.startswith("submit_predictions failed:")
    assert rig.events == [] and rig.desk.remaining("agent-1") == 20, "nothing scored, no quota used"
    # The engine still works: an honest submission right after is scored.
    await rig.sandbox.write_file("predictions.json", json.dumps(_honest_predictions()))
    result = await rig.call("submit_predictions", path="predictions.json", method="honest", command="python m.py")
    assert result.ok and len(rig.events) == 1 and rig.events[0].valid


async def test_hostile_writes_and_reads_through_links_touch_nothing_outside(rig: Rig, tmp_path: Path) -> None:
    outside = tmp_path / "host-side"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("host data")
    (rig.root / "escape").symlink_to(outside, target_is_directory=True)
    (rig.root / "victim.txt").symlink_to(victim)
    for path in ("escape/victim.txt", "victim.txt", "escape/new.txt"):
        result = await rig.call("write_file", path=path, content="agent data")
        assert not result.ok and "symlink" in result.result.content, result
        result = await rig.call("read_file", path=path)
        assert not result.ok and "host data" not in result.result.content
    assert victim.read_text() == "host data" and sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_a_work_dir_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "agent-1").symlink_to(tmp_path / "real", target_is_directory=True)
    with pytest.raises(SandboxError, match="symlink"):
        create_sandbox("local", workdir=tmp_path / "agent-1")


async def test_a_submission_without_command_is_marked_not_reproducible(rig: Rig) -> None:
    await rig.sandbox.write_file("predictions.json", json.dumps(_honest_predictions()))
    assert (await rig.call("submit_predictions", path="predictions.json", method="no command")).ok
    assert (await rig.call("submit_predictions", path="predictions.json", method="with", command="python m.py")).ok
    without, with_command = rig.events
    assert without.command == "" and with_command.command == "python m.py"
    view = build_view(list(rig.events))
    marks = {row.method: view.marks(row) for row in view.submissions}
    assert NOT_REPRODUCIBLE in marks["no command"] and NOT_REPRODUCIBLE not in marks["with"]


async def test_a_campaign_can_require_the_command(tmp_path: Path) -> None:
    async for rig in _rig(tmp_path, require_command=True):
        await rig.sandbox.write_file("predictions.json", json.dumps(_honest_predictions()))
        refused = await rig.call("submit_predictions", path="predictions.json", method="m", command="  ")
        assert not refused.ok and "requires the shell command" in refused.result.content
        assert rig.events == [] and rig.desk.remaining("agent-1") == 20, "refused before scoring, no quota"
        accepted = await rig.call("submit_predictions", path="predictions.json", method="m", command="python m.py")
        assert accepted.ok and rig.events[0].command == "python m.py"
