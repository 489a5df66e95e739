"""The ``Sandbox`` contract, held by both confined backends: local (bwrap) and docker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sandboxes import PathEscapeError, Sandbox, SandboxClosedError, SandboxError
from tests.sandboxes.conftest import ConfinedMaker

# The host's "stop" is looked for by listing the dir: a confined exec sees the work dir
# through an overlay, which may keep a name it looked up and missed as missing while
# the command runs (what the host writes shows to the next command in any case).
COUNTER = """
import os, time
n = 0
while "stop" not in os.listdir("."):
    n += 1
    with open("count.tmp", "w") as f:
        f.write(str(n))
    os.replace("count.tmp", "count")
    time.sleep(0.05)
print("stopped at", n)
"""


def _count(sandbox: Sandbox) -> int:
    try:
        return int((sandbox.workdir / "count").read_text())
    except (FileNotFoundError, ValueError):
        return 0


async def _wait_for(predicate, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


async def test_output_exit_code_and_isolation_named(confined: Sandbox, backend: str) -> None:
    result = await confined.exec(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert isinstance(confined, Sandbox) and confined.backend == backend
    assert confined.isolation.startswith("bwrap" if backend == "local" else "docker")
    assert "no network" in confined.isolation


async def test_python_with_numpy_runs_as_an_unprivileged_user(confined: Sandbox) -> None:
    await confined.write_file("train.py", "import numpy as np, os\nprint(np.arange(4).sum(), os.getuid() != 0)\n")
    result = await confined.exec(["python", "train.py"], timeout_s=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "6 True\n"


async def test_lines_stream_before_the_command_ends(confined: Sandbox) -> None:
    seen: list[tuple[str, float]] = []
    code = "import time\nprint('first', flush=True)\ntime.sleep(0.6)\nprint('second')\n"
    result = await confined.exec(["python", "-c", code], on_output=lambda _s, line: seen.append((line, time.monotonic())))
    done_at = time.monotonic()
    assert [line for line, _ in seen] == ["first", "second"]
    assert done_at - seen[0][1] >= 0.4
    assert result.returncode == 0


async def test_missing_command_and_cwd(confined: Sandbox) -> None:
    missing = await confined.exec(["definitely-not-a-command-xyz"])
    assert missing.returncode == 127 and "definitely-not-a-command-xyz" in missing.stderr
    await confined.write_file("sub/marker", "x")
    assert (await confined.exec(["ls"], cwd="sub")).stdout == "marker\n"
    with pytest.raises(PathEscapeError):
        await confined.exec(["pwd"], cwd="..")
    with pytest.raises(SandboxError, match="does not exist"):
        await confined.exec(["pwd"], cwd="missing")


async def test_files_written_by_the_host_are_the_agents_and_inputs_stay_read_only(
    make_confined: ConfinedMaker, tmp_path: Path
) -> None:
    source = tmp_path / "weak_labels.json"
    source.write_text("[0.2, 0.9]")
    sandbox = await make_confined(data_files={"weak.json": source})
    await sandbox.write_file("notes/plan.md", "v1")
    script = (
        "echo v2 > notes/plan.md && echo made > notes/new.txt && cat notes/plan.md; "
        "cat data/weak.json; echo; echo hacked > data/weak.json || echo INPUT READ-ONLY; "
        "chmod u+w data/weak.json 2>/dev/null; rm -f data/weak.json 2>/dev/null; cat data/weak.json"
    )
    result = await sandbox.exec(["sh", "-c", script])
    assert result.stdout == "v2\n[0.2, 0.9]\nINPUT READ-ONLY\n[0.2, 0.9]"
    assert await sandbox.read_file("notes/new.txt") == b"made\n"
    assert source.read_text() == "[0.2, 0.9]"
    assert await sandbox.read_file("data/weak.json") == b"[0.2, 0.9]" == await sandbox.read_file("/data/weak.json")
    with pytest.raises(SandboxError, match="symlink"):
        await sandbox.write_file("data/weak.json", "x")  # the host never writes through the agent's link


async def test_pause_freezes_a_running_process_and_resume_continues_it(confined: Sandbox) -> None:
    await confined.write_file("counter.py", COUNTER)
    task = asyncio.create_task(confined.exec(["python", "counter.py"], timeout_s=30))
    assert await _wait_for(lambda: _count(confined) >= 3)
    await confined.pause()
    assert confined.paused
    await asyncio.sleep(0.2)
    frozen = _count(confined)
    await asyncio.sleep(0.6)
    assert _count(confined) == frozen, "a paused sandbox runs nothing"
    assert not task.done()
    await confined.resume()
    assert not confined.paused
    assert await _wait_for(lambda: _count(confined) > frozen + 2)
    await confined.write_file("stop", "")
    result = await asyncio.wait_for(task, 10)
    assert result.returncode == 0 and result.stdout.startswith("stopped at")


async def test_paused_time_does_not_count_and_new_execs_wait(confined: Sandbox) -> None:
    task = asyncio.create_task(confined.exec(["sh", "-c", "sleep 0.5; echo done"], timeout_s=1.5))
    await asyncio.sleep(0.3)
    await confined.pause()
    waiting = asyncio.create_task(confined.exec(["echo", "late"]))
    await asyncio.sleep(1.5)  # longer than the whole budget
    assert not waiting.done()
    await confined.resume()
    result = await asyncio.wait_for(task, 10)
    assert not result.timed_out and result.stdout == "done\n"
    assert (await asyncio.wait_for(waiting, 10)).stdout == "late\n"


async def test_timeout_kills_background_jobs_too(confined: Sandbox) -> None:
    # Each exec has a PID namespace of its own, so a later exec cannot see a straggler:
    # the background job's heartbeat in the work dir shows whether it still runs.
    beat = "while :; do echo x >> beat; sleep 0.02; done"
    result = await confined.exec(["sh", "-c", f"({beat}) & sleep 100"], timeout_s=0.5)
    assert result.timed_out and result.returncode is None
    before = await confined.read_file("beat")
    assert before, "the background job ran"
    await confined.exec(["sleep", "0.3"])  # fifteen beats, were it alive
    assert await confined.read_file("beat") == before


async def test_concurrent_execs_each_write_through_an_overlay_of_their_own(confined: Sandbox) -> None:
    # Execs sharing one overlay work dir failed at random (overlayfs resets it on each mount).
    script = "for i in 1 2 3 4 5; do echo $i > f-$X-$i && mv f-$X-$i g-$X-$i; done; ls g-$X-* | wc -l"
    for _ in range(3):
        results = await asyncio.gather(*(confined.exec(["sh", "-c", script], env={"X": str(n)}) for n in range(6)))
        assert [(r.returncode, r.stdout.strip()) for r in results] == [(0, "5")] * 6, results


async def test_concurrent_execs_run_in_parallel(confined: Sandbox) -> None:
    started = time.monotonic()
    results = await asyncio.gather(*(confined.exec(["sleep", "0.6"]) for _ in range(2)))
    assert all(r.returncode == 0 for r in results)
    assert time.monotonic() - started < 1.15


async def test_close_stops_work_is_idempotent_and_keeps_the_work_dir(confined: Sandbox) -> None:
    task = asyncio.create_task(confined.exec(["sleep", "100"]))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await confined.close()
    await confined.close()
    assert time.monotonic() - started < 10
    result = await asyncio.wait_for(task, 10)
    assert result.returncode != 0
    with pytest.raises(SandboxClosedError):
        await confined.exec(["true"])
    assert confined.workdir.is_dir()


async def test_hostile_shared_folder_is_live_and_read_only(make_confined: ConfinedMaker, tmp_path: Path) -> None:
    shared = tmp_path / "shared-storage"
    (shared / "agent-2" / "post-1").mkdir(parents=True)
    (shared / "agent-2" / "post-1" / "train.py").write_text("print('shared')\n")
    sandbox = await make_confined(shared_dir=shared)
    seen = await sandbox.exec(["cat", "shared/agent-2/post-1/train.py"])
    assert seen.returncode == 0 and seen.stdout == "print('shared')\n"
    for attack in ("echo x > shared/agent-2/post-1/train.py", "touch /shared/new", "rm -rf /shared/agent-2",
                   "mv /shared /gone", "chmod 777 /shared"):
        result = await sandbox.exec(["bash", "-c", attack])
        assert result.returncode != 0, attack
    assert (shared / "agent-2" / "post-1" / "train.py").read_text() == "print('shared')\n"
    assert sorted(p.name for p in shared.iterdir()) == ["agent-2"]
    (shared / "agent-3").mkdir()  # a snapshot the host adds later appears at once
    (shared / "agent-3" / "notes.txt").write_text("later")
    later = await sandbox.exec(["cat", "shared/agent-3/notes.txt"])
    assert later.stdout == "later"
