"""start, pause/resume and close."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sandboxes import LocalSandbox, SandboxClosedError, SandboxError
from sandboxes.clock import PausableDeadline

COUNTER = """
import os, time
n = 0
while not os.path.exists("stop"):
    n += 1
    with open("count.tmp", "w") as f:
        f.write(str(n))
    os.replace("count.tmp", "count")  # atomic: readers never see a half-written file
    time.sleep(0.05)
print("stopped at", n)
"""


def _count(sandbox: LocalSandbox) -> int:
    try:
        return int((sandbox.workdir / "count").read_text())
    except (FileNotFoundError, ValueError):
        return 0


async def _wait_for(predicate, timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


async def test_pause_freezes_and_resume_continues(sandbox: LocalSandbox) -> None:
    await sandbox.write_file("counter.py", COUNTER)
    task = asyncio.create_task(sandbox.exec(["python", "counter.py"]))
    assert await _wait_for(lambda: _count(sandbox) >= 3)
    await sandbox.pause()
    assert sandbox.paused
    await asyncio.sleep(0.1)  # a write in flight when SIGSTOP landed
    frozen = _count(sandbox)
    await asyncio.sleep(0.5)
    assert _count(sandbox) == frozen
    assert not task.done()
    await sandbox.resume()
    assert not sandbox.paused
    assert await _wait_for(lambda: _count(sandbox) > frozen + 2, timeout_s=2.0)
    await sandbox.write_file("stop", "")
    result = await asyncio.wait_for(task, 5)
    assert result.returncode == 0 and result.stdout.startswith("stopped at")


async def test_exec_started_while_paused_waits_for_resume(sandbox: LocalSandbox) -> None:
    await sandbox.pause()
    task = asyncio.create_task(sandbox.exec(["echo", "late"]))
    await asyncio.sleep(0.2)
    assert not task.done()
    await sandbox.resume()
    result = await asyncio.wait_for(task, 5)
    assert result.stdout == "late\n"


async def test_time_spent_paused_does_not_count_toward_the_timeout(sandbox: LocalSandbox) -> None:
    code = "import time; time.sleep(0.3); print('done')"
    task = asyncio.create_task(sandbox.exec(["python", "-c", code], timeout_s=0.8))
    await asyncio.sleep(0.15)
    await sandbox.pause()
    await asyncio.sleep(0.9)  # longer than the whole budget
    await sandbox.resume()
    result = await asyncio.wait_for(task, 5)
    assert not result.timed_out
    assert result.stdout == "done\n"
    assert result.duration_s > 0.9


def test_deadline_ignores_paused_time() -> None:
    now = [0.0]
    deadline = PausableDeadline(10.0, clock=lambda: now[0])
    now[0] = 4.0
    deadline.pause()
    now[0] = 100.0
    assert deadline.remaining() == 6.0
    deadline.resume()
    now[0] = 103.0
    assert deadline.remaining() == 3.0


async def test_close_kills_running_work_and_is_idempotent(sandbox: LocalSandbox, wait_gone) -> None:
    pids: list[int] = []
    task = asyncio.create_task(
        sandbox.exec(["sh", "-c", "echo $$; sleep 100"], on_output=lambda _s, line: pids.append(int(line)))
    )
    assert await _wait_for(lambda: bool(pids))
    start = time.monotonic()
    await sandbox.close()
    await sandbox.close()
    assert time.monotonic() - start < 1.0  # sleep dies on SIGTERM: no need to wait out the grace
    assert await wait_gone(pids[0])
    result = await asyncio.wait_for(task, 5)
    assert result.returncode is not None and result.returncode < 0  # killed by a signal
    with pytest.raises(SandboxClosedError):
        await sandbox.exec(["true"])
    with pytest.raises(SandboxClosedError):
        await sandbox.write_file("x", "y")
    with pytest.raises(SandboxClosedError):
        await sandbox.start()
    assert sandbox.workdir.is_dir()  # kept for review


async def test_close_is_bounded_when_sigterm_is_ignored(sandbox: LocalSandbox, wait_gone) -> None:
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print(os.getpid(), flush=True)\n"
        "time.sleep(100)\n"
    )
    pids: list[int] = []
    task = asyncio.create_task(
        sandbox.exec(["python", "-c", code], on_output=lambda _s, line: pids.append(int(line)))
    )
    assert await _wait_for(lambda: bool(pids))
    start = time.monotonic()
    await sandbox.close()
    assert 1.8 <= time.monotonic() - start < 5.0
    assert await wait_gone(pids[0])
    assert (await asyncio.wait_for(task, 5)).returncode == -9


async def test_close_while_paused_still_kills(sandbox: LocalSandbox, wait_gone) -> None:
    pids: list[int] = []
    task = asyncio.create_task(
        sandbox.exec(["sh", "-c", "echo $$; sleep 100"], on_output=lambda _s, line: pids.append(int(line)))
    )
    assert await _wait_for(lambda: bool(pids))
    await sandbox.pause()
    waiting = asyncio.create_task(sandbox.exec(["true"]))
    await sandbox.close()
    assert await wait_gone(pids[0])
    await asyncio.wait_for(task, 5)
    with pytest.raises(SandboxClosedError):
        await waiting
    assert not sandbox.paused


async def test_cancelled_close_still_finishes(sandbox: LocalSandbox, wait_gone) -> None:
    pids: list[int] = []
    task = asyncio.create_task(
        sandbox.exec(["sh", "-c", "echo $$; sleep 100"], on_output=lambda _s, line: pids.append(int(line)))
    )
    assert await _wait_for(lambda: bool(pids))
    closing = asyncio.create_task(sandbox.close())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert await wait_gone(pids[0])
    await sandbox.close()
    await asyncio.wait_for(task, 5)


async def test_use_before_start_is_an_error(tmp_path: Path) -> None:
    sandbox = LocalSandbox(workdir=tmp_path / "w")
    with pytest.raises(SandboxError, match="start"):
        await sandbox.exec(["true"])
    with pytest.raises(SandboxError, match="start"):
        await sandbox.read_file("x")
    await sandbox.close()  # closing an unstarted sandbox is fine


async def test_start_is_idempotent(sandbox: LocalSandbox) -> None:
    await sandbox.write_file("keep.txt", "x")
    await sandbox.start()
    assert await sandbox.read_file("keep.txt") == b"x"
