"""The Docker backend's engine handling: absent or dying engines, lockdown, labels, pruning."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from sandboxes import SandboxError, create_sandbox, prune_docker_sandboxes
from tests.sandboxes.backends import CAMPAIGN, TEST_LIMITS, DockerEngine, build

docker = pytest.importorskip("docker", reason="the docker SDK is not installed")

KEYCTL_AND_USERNS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(250 if os.uname().machine == "x86_64" else 219, 0, 0, 0, 0)  # keyctl
print("keyctl", ctypes.get_errno())
libc.unshare.argtypes = [ctypes.c_int]
print("userns", "made" if libc.unshare(0x10000000) == 0 else "denied")  # CLONE_NEWUSER
"""


@pytest.fixture
def engine(docker_engine: DockerEngine) -> DockerEngine:
    """The session's engine; skips, saying why, where none answers."""
    if docker_engine.skip_reason:
        pytest.skip(docker_engine.skip_reason)
    return docker_engine


async def test_absent_engine_fails_start_with_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    sandbox = create_sandbox("docker", workdir=tmp_path / "agent" / "work")  # creating needs no engine
    assert sandbox.backend == "docker" and sandbox.isolation.startswith("docker")
    with pytest.raises(SandboxError, match="no Docker engine answers") as info:
        await sandbox.start()
    assert "dockerd" in str(info.value) and "--sandbox local" in str(info.value)
    await sandbox.close()


async def test_engine_lost_mid_run_fails_the_exec_clearly(engine: DockerEngine, tmp_path: Path) -> None:
    from docker.transport import UnixHTTPAdapter

    sandbox = build("docker", engine, tmp_path / "agent" / "work")
    await sandbox.start()
    try:
        assert (await sandbox.exec(["true"])).returncode == 0
        # The engine's socket now leads nowhere, as when dockerd dies.
        sandbox._client.api.mount("http+docker://", UnixHTTPAdapter(f"unix://{tmp_path}/gone.sock"))  # type: ignore[attr-defined]
        with pytest.raises(SandboxError, match="lost the Docker engine"):
            await sandbox.exec(["echo", "hi"])
    finally:
        await sandbox.close()  # bounded and silent even without an engine
        engine.client.containers.get(sandbox.container_name).remove(force=True)  # type: ignore[attr-defined]


async def test_container_is_locked_down_and_labelled(engine: DockerEngine, tmp_path: Path) -> None:
    sandbox = build("docker", engine, tmp_path / "agent" / "work")
    await sandbox.start()
    try:
        container = engine.client.containers.get(sandbox.container_name)  # type: ignore[attr-defined]
        host = container.attrs["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
        assert host["PidsLimit"] == TEST_LIMITS.processes and host["Memory"] == TEST_LIMITS.memory_bytes
        assert host["NanoCpus"] == int(1e9 * TEST_LIMITS.cpus)  # type: ignore[operator]
        assert container.labels["aar.campaign"] == CAMPAIGN
        assert container.labels["aar.workdir"] == str(sandbox.workdir)
        assert any(opt.startswith("seccomp=") and '"keyctl"' in opt for opt in host["SecurityOpt"])
        status = await sandbox.exec(["sh", "-c", "id -u; grep -E '^(Cap(Eff|Prm)|NoNewPrivs|Seccomp):' /proc/self/status"])
        uid, *fields = status.stdout.splitlines()
        assert uid != "0" and len(fields) == 4, status
        assert all(line.endswith("0000000000000000") for line in fields if line.startswith("Cap")), fields
        assert "NoNewPrivs:\t1" in fields and "Seccomp:\t2" in fields, fields
        # Agent code makes no namespace of its own and reaches no denied call (keyctl: EPERM).
        attempts = await sandbox.exec(["python3", "-c", KEYCTL_AND_USERNS])
        assert attempts.stdout.split() == ["keyctl", "1", "userns", "denied"], attempts
    finally:
        await sandbox.close()
    assert not engine.client.containers.list(all=True, filters={"name": sandbox.container_name})  # type: ignore[attr-defined]


async def test_crashed_runs_containers_are_pruned(
    engine: DockerEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandboxes import docker_engine

    live = build("docker", engine, tmp_path / "live" / "work")
    await live.start()
    # A container whose creating process is gone: what a crash leaves behind.
    monkeypatch.setattr(docker_engine, "owner_label", lambda: f"{socket.gethostname()}:999999999:1")
    crashed = build("docker", engine, tmp_path / "crashed" / "work")
    await crashed.start()
    monkeypatch.undo()
    try:
        removed = docker_engine.prune_containers(CAMPAIGN, orphans_only=True, client=engine.client)
        assert removed == [crashed.container_name]  # type: ignore[attr-defined]
        assert (await live.exec(["echo", "ok"])).stdout == "ok\n"
        with pytest.raises(SandboxError, match="container is gone"):
            await crashed.exec(["true"])
        assert prune_docker_sandboxes(CAMPAIGN) == [live.container_name]  # type: ignore[attr-defined]
    finally:
        await live.close()
        await crashed.close()


async def test_restarting_in_the_same_work_dir_replaces_the_old_container(
    engine: DockerEngine, tmp_path: Path
) -> None:
    first = build("docker", engine, tmp_path / "agent" / "work")
    await first.start()
    second = build("docker", engine, tmp_path / "agent" / "work")
    await second.start()
    try:
        names = [c.name for c in engine.client.containers.list(all=True, filters={"label": f"aar.workdir={second.workdir}"})]
        assert names == [second.container_name]  # type: ignore[attr-defined]
        assert (await second.exec(["echo", "ok"])).stdout == "ok\n"
    finally:
        await first.close()
        await second.close()


async def test_unknown_image_says_how_to_build_one(engine: DockerEngine, tmp_path: Path) -> None:
    from sandboxes.docker_sandbox import DockerSandbox

    sandbox = DockerSandbox(workdir=tmp_path / "agent" / "work", image="aar-no-such-image:0", campaign=CAMPAIGN)
    with pytest.raises(SandboxError, match="docker build"):
        await sandbox.start()
    await sandbox.close()


async def test_an_exec_refused_because_a_pause_landed_is_retried_after_resume(
    engine: DockerEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = build("docker", engine, tmp_path / "agent" / "work")
    await sandbox.start()
    real_run = sandbox._run  # type: ignore[attr-defined]
    calls = []

    async def run_once_paused(*args: object) -> tuple[int | None, bool]:
        calls.append(1)
        if len(calls) == 1:
            raise SandboxError("the Docker engine refused running a command: Container x is paused")
        return await real_run(*args)  # type: ignore[no-any-return]

    monkeypatch.setattr(sandbox, "_run", run_once_paused)
    try:
        result = await sandbox.exec(["echo", "second try"])
        assert result.stdout == "second try\n" and len(calls) == 2
    finally:
        await sandbox.close()


async def test_pausing_while_execs_start_never_wedges_the_engine(engine: DockerEngine, tmp_path: Path) -> None:
    # Freezing a container while runc starts an exec in it deadlocks dockerd; the sandbox
    # lets starting execs get going before it pauses.
    sandbox = build("docker", engine, tmp_path / "agent" / "work")
    await sandbox.start()
    outputs: list[str] = []

    async def run_commands() -> None:
        for _ in range(6):
            outputs.append((await sandbox.exec(["echo", "x"], timeout_s=20)).stdout)

    async def flip() -> None:
        for _ in range(15):
            await sandbox.pause()
            await asyncio.sleep(0.01)
            await sandbox.resume()
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(asyncio.gather(run_commands(), run_commands(), flip()), 60)
        assert outputs == ["x\n"] * 12
    finally:
        await sandbox.close()
