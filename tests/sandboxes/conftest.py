"""Fixtures for the sandbox tests: local sandboxes, both confined backends, process probes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from sandboxes import LocalSandbox, SandboxLimits
from sandboxes.protocol import Sandbox
from tests.sandboxes.backends import BACKENDS, DockerEngine, build, skip_unless_available

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


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """The session's Docker engine and offline image (built once), or the reason there is none."""
    engine = DockerEngine()
    yield engine
    engine.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, docker_engine: DockerEngine) -> str:
    """Each confined backend in turn; skips (saying why) where one cannot run here."""
    skip_unless_available(str(request.param), docker_engine)
    return str(request.param)


ConfinedMaker = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def make_confined(backend: str, docker_engine: DockerEngine, tmp_path: Path) -> AsyncIterator[ConfinedMaker]:
    """Build and start sandboxes of the current backend; all are closed at teardown."""
    made: list[Sandbox] = []

    async def make(**kwargs: object) -> Sandbox:
        # A dir of its own holds each work dir and its box (tmp_path is 0700: no uid but root's passes).
        workdir = kwargs.pop("workdir", None) or tmp_path / f"agent{len(made)}" / "work"
        sandbox = build(backend, docker_engine, workdir, **kwargs)  # type: ignore[arg-type]
        made.append(sandbox)
        await sandbox.start()
        return sandbox

    yield make
    await asyncio.gather(*(sandbox.close() for sandbox in made))


@pytest.fixture
async def confined(make_confined: ConfinedMaker) -> Sandbox:
    """A started sandbox of the current backend, with the test limits."""
    return await make_confined()


@pytest.fixture
async def bystander(make_confined: ConfinedMaker) -> Sandbox:
    """Another agent's sandbox, running beside the one under attack."""
    return await make_confined()
