"""Fixtures for the sandbox tests: a started local sandbox, and process probes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sandboxes import LocalSandbox, SandboxLimits

SandboxMaker = Callable[..., Awaitable[LocalSandbox]]


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs.

    A zombie counts as gone: it is dead, and on machines whose init does not reap
    orphans (like these VMs) a killed grandchild stays a zombie.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


async def wait_process_gone(pid: int, timeout_s: float = 2.0) -> bool:
    """Poll until ``pid`` is gone or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        await asyncio.sleep(0.02)
    return process_gone(pid)


@pytest.fixture
async def make_sandbox(tmp_path: Path) -> AsyncIterator[SandboxMaker]:
    """Build and start local sandboxes under tmp_path; all are closed at teardown."""
    made: list[LocalSandbox] = []

    async def make(**kwargs: object) -> LocalSandbox:
        kwargs.setdefault("workdir", tmp_path / f"work{len(made)}")
        kwargs.setdefault("limits", SandboxLimits(timeout_s=30.0))
        sandbox = LocalSandbox(**kwargs)  # type: ignore[arg-type]
        made.append(sandbox)
        await sandbox.start()
        return sandbox

    yield make
    for sandbox in made:
        await sandbox.close()


@pytest.fixture
async def sandbox(make_sandbox: SandboxMaker) -> LocalSandbox:
    """A started local sandbox with a 30 s default timeout."""
    return await make_sandbox()


@pytest.fixture
def wait_gone() -> Callable[..., Awaitable[bool]]:
    """``await wait_gone(pid)``: True once the process is dead (zombies count)."""
    return wait_process_gone
