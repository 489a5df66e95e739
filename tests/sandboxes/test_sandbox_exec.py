"""Running commands: output, streaming, exit codes, timeouts and process groups."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from sandboxes import LocalSandbox, PathEscapeError, SandboxError
from sandboxes import local as local_module


async def test_echo_returns_output_and_returncode(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec(["echo", "hello", "world"])
    assert result.returncode == 0
    assert result.stdout == "hello world\n"
    assert result.stderr == ""
    assert result.ok and not result.timed_out and not result.truncated
    assert result.duration_s >= 0


async def test_python_exit_code_and_both_streams(sandbox: LocalSandbox) -> None:
    code = "import sys; print('to out'); print('to err', file=sys.stderr); sys.exit(3)"
    result = await sandbox.exec(["python", "-c", code])
    assert result.returncode == 3
    assert result.stdout == "to out\n"
    assert result.stderr == "to err\n"
    assert not result.ok


async def test_python_on_path_is_the_agent_runtime_not_aars_venv(sandbox: LocalSandbox) -> None:
    code = "import sys, numpy, torch; print(sys.prefix)\ntry:\n import experiments\nexcept ImportError:\n print('no aar')"
    result = await sandbox.exec(["python", "-c", code], timeout_s=60)
    assert result.ok, result
    prefix, verdict = result.stdout.splitlines()
    assert prefix == sandbox.runtime.host_root != sys.prefix  # the process level: the host view
    assert verdict == "no aar"


async def test_lines_stream_in_order_before_the_process_exits(sandbox: LocalSandbox) -> None:
    seen: list[tuple[str, str, float]] = []
    code = (
        "import sys, time\n"
        "print('first', flush=True)\n"
        "print('err line', file=sys.stderr, flush=True)\n"
        "time.sleep(0.5)\n"
        "print('second')\n"
    )
    result = await sandbox.exec(
        ["python", "-c", code],
        on_output=lambda stream, line: seen.append((stream, line, time.monotonic())),
    )
    returned_at = time.monotonic()
    assert result.returncode == 0
    assert [(s, line) for s, line, _ in seen if s == "stdout"] == [("stdout", "first"), ("stdout", "second")]
    assert ("stderr", "err line") in [(s, line) for s, line, _ in seen]
    first_at = seen[0][2]
    # The first line arrived while the child was still sleeping, not at exit.
    assert returned_at - first_at >= 0.3


@pytest.mark.parametrize("use_prlimit", [True, False])
async def test_command_not_found_is_a_result_not_a_crash(
    make_sandbox, monkeypatch: pytest.MonkeyPatch, use_prlimit: bool
) -> None:
    if not use_prlimit:
        monkeypatch.setattr(local_module, "find_prlimit", lambda: None)
    sandbox: LocalSandbox = await make_sandbox()
    result = await sandbox.exec(["definitely-not-a-command-xyz"])
    assert result.returncode == 127
    assert "definitely-not-a-command-xyz" in result.stderr
    await sandbox.write_file("data.txt", "not a program")
    result = await sandbox.exec(["./data.txt"])
    assert result.returncode == 126


async def test_string_command_is_refused(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxError, match="argv list"):
        await sandbox.exec("echo hi")  # type: ignore[arg-type]
    with pytest.raises(SandboxError, match="empty"):
        await sandbox.exec([])


async def test_cwd_is_resolved_inside_the_workdir(sandbox: LocalSandbox) -> None:
    await sandbox.write_file("sub/marker.txt", "x")
    result = await sandbox.exec(["pwd"], cwd="sub")
    assert result.stdout.strip() == str(sandbox.workdir / "sub")
    with pytest.raises(PathEscapeError):
        await sandbox.exec(["pwd"], cwd="..")
    with pytest.raises(PathEscapeError):
        await sandbox.exec(["pwd"], cwd="/tmp")
    with pytest.raises(SandboxError, match="does not exist"):
        await sandbox.exec(["pwd"], cwd="missing")


async def test_stdin_is_closed(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec(["python", "-c", "import sys; print(repr(sys.stdin.read()))"], timeout_s=5)
    assert result.stdout.strip() == "''"


async def test_concurrent_execs_run_in_parallel(sandbox: LocalSandbox) -> None:
    start = time.monotonic()
    results = await asyncio.gather(*(sandbox.exec(["sleep", "0.5"]) for _ in range(2)))
    assert all(r.returncode == 0 for r in results)
    assert time.monotonic() - start < 0.95  # one after the other would take 1.0 s


async def test_timeout_kills_the_whole_group(sandbox: LocalSandbox, wait_gone) -> None:
    lines: list[str] = []
    script = "sleep 100 & echo $!; echo $$; sleep 100"
    result = await sandbox.exec(
        ["sh", "-c", script], timeout_s=0.5, on_output=lambda _s, line: lines.append(line)
    )
    assert result.timed_out
    assert result.returncode is None
    assert 0.45 <= result.duration_s < 1.4
    pids = [int(line) for line in lines]
    assert len(pids) == 2  # the background grandchild and the shell
    for pid in pids:
        assert await wait_gone(pid), f"pid {pid} survived the timeout"


async def test_timeout_escalates_to_sigkill(sandbox: LocalSandbox) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(100)\n"
    )
    result = await sandbox.exec(["python", "-c", code], timeout_s=0.4)
    assert result.timed_out and result.returncode is None
    assert result.stdout == "ready\n"
    # budget + 1 s SIGTERM grace, then SIGKILL
    assert 1.3 <= result.duration_s < 2.5


async def test_background_children_die_with_the_main_process(sandbox: LocalSandbox, wait_gone) -> None:
    start = time.monotonic()
    result = await sandbox.exec(["sh", "-c", "sleep 100 & echo $!"])
    assert result.returncode == 0
    assert time.monotonic() - start < 1.0  # the background job held stdout, yet no wait
    assert await wait_gone(int(result.stdout))


async def test_child_that_left_the_group_cannot_hang_exec(
    sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module, "PIPE_DRAIN_S", 0.2)
    start = time.monotonic()
    result = await sandbox.exec(["sh", "-c", "setsid sh -c 'echo $$; exec sleep 100' & sleep 0.2"])
    try:
        assert result.returncode == 0
        assert time.monotonic() - start < 1.5
    finally:
        for line in result.stdout.split():
            os.kill(int(line), 9)


async def test_cancelled_exec_kills_its_group(sandbox: LocalSandbox, wait_gone) -> None:
    pids: list[int] = []
    task = asyncio.create_task(
        sandbox.exec(["sh", "-c", "echo $$; sleep 100"], on_output=lambda _s, line: pids.append(int(line)))
    )
    for _ in range(200):
        if pids:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_gone(pids[0])
