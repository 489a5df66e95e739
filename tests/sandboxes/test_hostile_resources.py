"""Hostile code trying to take the host down: bombs, floods, spins, kills, endless sleep.

Each case runs under tight limits (see ``backends.TEST_LIMITS``) against both
confined backends; each must end in bounded time with a result that says what
happened, leave nothing running, and leave the attacked sandbox and a bystander
working. That the test process survives is shown by the test finishing at all.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from sandboxes import SandboxLimits, truncation_marker
from sandboxes.protocol import Sandbox
from tests.sandboxes.backends import TEST_LIMITS, assert_still_works
from tests.sandboxes.conftest import ConfinedMaker

SIGKILLED = 128 + 9  # how a shell or an init reports a SIGKILLed command
SIGXCPU_EXIT = 128 + 24


def _uid_processes(uid: int) -> list[int]:
    """Host pids owned by ``uid`` (used where the sandbox has a uid of its own)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except FileNotFoundError:
                pass
    return found


async def _nothing_left_running(sandbox: Sandbox) -> None:
    """No process of the sandbox survives its exec: counted on the host or inside the container."""
    user = getattr(sandbox, "user", None)
    if sandbox.backend == "local" and user is not None and user.dedicated:
        deadline = time.monotonic() + 3
        while _uid_processes(user.uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _uid_processes(user.uid) == []
    elif sandbox.backend == "docker":
        result = await sandbox.exec(["python", "-c", LIST_OTHERS], timeout_s=20)
        assert result.stdout == "[]\n", result.stdout


# Processes of the agent's uid in the container other than this check and its wrapper.
LIST_OTHERS = """
import os
mine = {os.getpid(), os.getppid()}
others = []
for entry in os.listdir("/proc"):
    if entry.isdigit() and int(entry) not in mine:
        try:
            if os.stat("/proc/" + entry).st_uid == os.getuid():
                others.append(open("/proc/" + entry + "/comm").read().strip())
        except OSError:
            pass
print(others)
"""


async def test_hostile_fork_bomb_is_bounded(make_confined: ConfinedMaker) -> None:
    sandbox = await make_confined(limits=dataclasses.replace(TEST_LIMITS, processes=48))
    bystander = await make_confined()
    started = time.monotonic()
    result = await sandbox.exec(["bash", "-c", ":(){ :|:& };: ; sleep 600"], timeout_s=3)
    assert result.timed_out and result.returncode is None
    assert time.monotonic() - started < 15
    await assert_still_works(bystander, sandbox)
    await _nothing_left_running(sandbox)


async def test_hostile_memory_bomb_is_stopped(confined: Sandbox, bystander: Sandbox) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024**2))\n"
    result = await confined.exec(["python", "-c", code], timeout_s=60)
    assert not result.timed_out
    # The local sandbox's address-space rlimit raises MemoryError; Docker's cgroup OOM-kills.
    assert "MemoryError" in result.stderr or result.returncode == SIGKILLED, result
    await assert_still_works(confined, bystander)


async def test_hostile_cpu_spin_hits_its_cpu_limit(make_confined: ConfinedMaker) -> None:
    sandbox = await make_confined(limits=dataclasses.replace(TEST_LIMITS, cpu_seconds=1))
    bystander = await make_confined()
    result = await sandbox.exec(["python", "-c", "while True: pass"], timeout_s=30)
    assert not result.timed_out
    assert result.returncode == SIGXCPU_EXIT  # SIGXCPU at the soft limit, as reported by the init
    assert result.duration_s < 10
    await assert_still_works(sandbox, bystander)


async def test_hostile_filling_the_disk_hits_the_caps(confined: Sandbox, bystander: Sandbox) -> None:
    limits: SandboxLimits = confined.limits  # type: ignore[attr-defined]
    script = (
        "dd if=/dev/zero of=fill.bin bs=1M count=1000 2>&1 | tail -1; "
        "for i in 1 2 3 4 5 6; do head -c 30000000 /dev/zero > /tmp/fill$i || echo TMP FULL at $i; done; "
        "echo TMP USED $(cat /tmp/fill* | wc -c)"
    )
    result = await confined.exec(["sh", "-c", script], timeout_s=60)
    assert not result.timed_out
    assert (confined.workdir / "fill.bin").stat().st_size <= limits.file_size_bytes  # type: ignore[operator]
    assert "File too large" in result.stdout + result.stderr or "File size limit" in result.stderr
    assert "TMP FULL" in result.stdout  # ENOSPC locally; Docker's tmpfs reports EIO
    assert int(result.stdout.split("TMP USED")[1]) <= limits.tmp_bytes
    assert not list(Path("/tmp").glob("fill[0-9]")), "the sandbox's /tmp is its own tmpfs"
    await assert_still_works(confined, bystander)


async def test_hostile_100_mb_of_stdout_is_capped(confined: Sandbox, bystander: Sandbox) -> None:
    lines: list[str] = []
    started = time.monotonic()
    result = await confined.exec(
        ["sh", "-c", "head -c 100000000 /dev/zero | tr '\\0' 'x'; echo done >&2"],
        timeout_s=60,
        on_output=lambda _stream, line: lines.append(line),
    )
    cap = TEST_LIMITS.output_cap_bytes
    assert result.returncode == 0 and not result.timed_out
    assert result.truncated
    assert result.stdout.endswith(truncation_marker(cap))
    assert len(result.stdout) == cap + len(truncation_marker(cap))
    assert result.stderr == "done\n"  # the other stream is captured on its own
    assert sum(len(line) for line in lines) < 2 * cap  # the live view is capped too
    assert time.monotonic() - started < 30
    await assert_still_works(confined, bystander)


async def test_hostile_killing_its_own_process_group_and_everything(confined: Sandbox, bystander: Sandbox) -> None:
    for script in ("kill -9 0; echo alive", "kill -9 -1; sleep 1; echo alive"):
        result = await confined.exec(["sh", "-c", script], timeout_s=20)
        assert not result.timed_out
        assert result.returncode in (0, SIGKILLED), result
        await assert_still_works(confined, bystander)
    # The host side of the sandbox (and this test process) is untouched.
    assert os.getpgrp() > 0


async def test_hostile_sleeping_forever_is_killed_at_the_timeout(confined: Sandbox, bystander: Sandbox) -> None:
    script = "trap '' TERM HUP INT; sleep 100000 & sleep 100000"
    result = await confined.exec(["sh", "-c", script], timeout_s=1)
    assert result.timed_out and result.returncode is None
    assert 0.9 <= result.duration_s < 6
    await assert_still_works(confined, bystander)
    await _nothing_left_running(confined)
