"""Building confined sandboxes of either backend for the tests, and checks shared by them.

The hostile suite and the contract tests run every case against both ``local`` at
the bwrap level and ``docker`` with the offline image. A backend that cannot run here
skips with the reason (shown by ``-ra``); with bubblewrap and an engine present,
nothing skips.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sandboxes import ConfinedSandbox, SandboxLimits
from sandboxes.levels import BWRAP, probe
from sandboxes.protocol import Sandbox

BACKENDS = ("local", "docker")
CAMPAIGN = f"pytest-{os.getpid()}"
"""Campaign label of every test container, so the session can prune exactly its own."""

TEST_LIMITS = SandboxLimits(
    timeout_s=30.0,
    output_cap_bytes=1024**2,
    memory_bytes=1024**3,
    cpu_seconds=30,
    file_size_bytes=64 * 1024**2,
    open_files=256,
    processes=64,
    cpus=1.0,
    tmp_bytes=32 * 1024**2,
)


def local_skip_reason() -> str | None:
    """Why the bwrap level cannot run here, or None."""
    result = probe(BWRAP)
    if result.available:
        return None
    return f"bubblewrap sandbox unavailable: {result.reason} (scripts/ci-services installs it)"


class DockerEngine:
    """The session's engine connection and offline image, or why there is none."""

    def __init__(self) -> None:
        self.client: Any = None
        self.image: str | None = None
        self.skip_reason: str | None = None
        try:
            from sandboxes.docker_engine import connect
            from sandboxes.docker_image import build_offline_image

            self.client = connect(timeout_s=10)
            self.image = build_offline_image(self.client).name
        except Exception as exc:  # noqa: BLE001 - any failure means: skip, and say why
            where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            kind = "no Docker engine reachable" if "no Docker engine" in str(exc) else f"Docker unusable ({exc})"
            self.skip_reason = f"{kind} at {where}: docker tests skipped (scripts/ci-services starts one)"

    def close(self) -> None:
        """Remove every container this session made, then drop the connection."""
        if self.client is None:
            return
        from sandboxes.docker_engine import prune_containers

        prune_containers(CAMPAIGN, client=self.client)
        self.client.close()


def build(backend: str, engine: DockerEngine, workdir: Path, **kwargs: Any) -> Sandbox:
    """An unstarted sandbox of ``backend`` with the test limits (overridable)."""
    kwargs.setdefault("limits", TEST_LIMITS)
    if backend == "local":
        return ConfinedSandbox(workdir=workdir, level=BWRAP, **kwargs)
    from sandboxes.docker_sandbox import DockerSandbox

    return DockerSandbox(workdir=workdir, image=engine.image, campaign=CAMPAIGN, **kwargs)


def skip_unless_available(backend: str, engine: DockerEngine) -> None:
    """Skip the current test, with the reason, when ``backend`` cannot run here."""
    reason = local_skip_reason() if backend == "local" else engine.skip_reason
    if reason is not None:
        pytest.skip(reason)


async def assert_still_works(*sandboxes: Sandbox) -> None:
    """Each sandbox still runs a command: the hostile one, and its bystanders."""
    for sandbox in sandboxes:
        result = await sandbox.exec(["echo", "still here"], timeout_s=20)
        assert result.returncode == 0 and result.stdout == "still here\n", (sandbox.isolation, result)
