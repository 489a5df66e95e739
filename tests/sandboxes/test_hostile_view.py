"""Hostile code against the sandbox's view: links planted where inputs were, what the view
says about the host, and lock channels between sandboxes.

The link attacks run on both confined backends: agent code swaps each read-only input
(a data file, the data dir, shared/, and the runtime and /etc it can reach) for a link
aimed at host places that hold what it must not read: ``/tmp``, ``$AAR_HOME``, aar's
virtualenv and ``/``. Then the sandbox is used again, restarted, and (Docker) its
container replaced: a host canary must never become readable. Before this view, each
exec re-bound ``<workdir>/data/...`` and bubblewrap followed the planted link on the
host, mounting host ``/tmp`` into the sandbox.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from sandboxes.protocol import Sandbox
from tests.sandboxes.backends import assert_still_works
from tests.sandboxes.conftest import ConfinedMaker
from tests.security.link_attack import CANARY, PLANT, SEARCH

CAMPAIGN = "campaign-7f3e9a"


def _host_places(tmp_path: Path) -> list[str]:
    """Host dirs holding a canary: /tmp's test dir, an AAR_HOME, and where links reach."""
    home = tmp_path / "aar-home"
    home.mkdir()
    (home / "canary-store.txt").write_text(CANARY)
    (tmp_path / "canary-tmp.txt").write_text(CANARY)
    return [str(tmp_path), str(home), sys.prefix, "/", "/tmp"]


async def _attack(sandbox: Sandbox, targets: list[str]) -> str:
    # Positive control: a canary the sandbox may see (its own file) is found by the search.
    await sandbox.write_file("control-canary.txt", CANARY)
    control = await sandbox.exec(["bash", "-c", SEARCH, "search", CANARY], timeout_s=60)
    assert "FOUND /work/control-canary.txt" in control.stdout, control
    await sandbox.exec(["rm", "control-canary.txt"])
    planted = await sandbox.exec(["bash", "-c", PLANT, "plant", " ".join(targets)], timeout_s=20)
    assert planted.stdout.strip() == "planted", planted
    found = await sandbox.exec(["bash", "-c", SEARCH, "search", CANARY], timeout_s=60)
    return found.stdout


@pytest.mark.parametrize("restart", ["exec", "restart"])
async def test_hostile_links_in_place_of_inputs_never_mount_a_host_file(
    make_confined: ConfinedMaker, backend: str, tmp_path: Path, restart: str
) -> None:
    targets = _host_places(tmp_path)
    data = tmp_path / "task"
    data.mkdir()
    (data / "TASK.md").write_text("the task")
    (data / "train_x.npy").write_bytes(b"features")
    shared = tmp_path / "forum"
    shared.mkdir()
    workdir = tmp_path / "agent-1" / "work"
    files = {"TASK.md": data / "TASK.md", "train_x.npy": data / "train_x.npy"}
    sandbox = await make_confined(workdir=workdir, data_files=files, shared_dir=shared)
    first = await _attack(sandbox, targets)
    assert "FOUND" not in first and first.strip().splitlines()[-1] == "0", first
    if restart == "restart":
        await sandbox.close()
        sandbox = await make_confined(workdir=workdir, data_files=files, shared_dir=shared)
    elif backend == "docker":
        await sandbox._recreate()  # type: ignore[attr-defined]  # what a wedged exec leads to
    again = await sandbox.exec(["bash", "-c", SEARCH, "search", CANARY], timeout_s=60)
    assert "FOUND" not in again.stdout and again.stdout.strip().splitlines()[-1] == "0", again.stdout
    inputs = await sandbox.exec(["cat", "/data/TASK.md"])
    assert inputs.stdout == "the task", "the inputs are still the host's, at their fixed place"
    await assert_still_works(sandbox)


VIEW = r"""
echo "CWD $(pwd)"
echo "MOUNTINFO"; cat /proc/self/mountinfo
echo "CGROUP"; cat /proc/self/cgroup
echo "ENVIRON"; tr '\0' '\n' < /proc/self/environ
echo "HOST"; hostname; cat /etc/passwd
"""


def _forbidden(tmp_path: Path) -> list[str]:
    import os

    from sandboxes.runtime import default_cache_root

    return [str(tmp_path), os.path.realpath(tmp_path), str(Path.home()) + "/", sys.prefix, str(default_cache_root()),
            CAMPAIGN, "shuffled", "reproduction", "agent-1"]


async def test_hostile_view_names_no_host_path_campaign_or_run_kind(
    make_confined: ConfinedMaker, backend: str, tmp_path: Path
) -> None:
    workdir = tmp_path / CAMPAIGN / "agent-1" / "work"
    sandbox = await make_confined(workdir=workdir)
    seen = (await sandbox.exec(["sh", "-c", VIEW], cwd=".")).stdout
    assert seen.startswith("CWD /work\n")
    sections = dict(re.findall(r"^(MOUNTINFO|CGROUP|ENVIRON|HOST)\n(.*?)(?=^[A-Z]+\n|\Z)", seen, re.S | re.M))
    for name in ("MOUNTINFO", "CGROUP", "ENVIRON", "HOST"):
        leaks = [word for word in _forbidden(tmp_path) if word in sections[name]]
        assert not leaks, f"{name} names {leaks}:\n{sections[name]}"
    assert all(line.endswith(":/") for line in sections["CGROUP"].split()), sections["CGROUP"]


STATVFS = "import os, sys; [print(p, os.statvfs(p).f_blocks) for p in sys.argv[1:]]"
SHARED_FS = ("/etc", "/usr", "/data", "/shared", "/runtime/venv", "/tmp")


async def test_hostile_statvfs_of_the_read_only_mounts_shows_no_host_filesystem(
    make_confined: ConfinedMaker, tmp_path: Path
) -> None:
    """Another sandbox's writes move the host filesystem's free space: a covert channel
    wherever a mount reports it. Only /work does (its overlay's upper dir is the host's)."""
    import os

    forum = tmp_path / "forum"
    forum.mkdir()
    data = tmp_path / "x.npy"
    data.write_bytes(b"x")
    sandbox = await make_confined(data_files={"x.npy": data}, shared_dir=forum)
    seen = await sandbox.exec(["python", "-c", STATVFS, *SHARED_FS, "/work"])
    blocks = dict(line.split() for line in seen.stdout.splitlines())
    host = {str(os.statvfs(path).f_blocks) for path in (tmp_path, "/usr", sys.prefix)}
    assert blocks["/work"] in host, "the positive control: /work is the host filesystem"
    assert not [path for path in SHARED_FS if blocks[path] in host], blocks


def _without_kernel_ids(mountinfo: str) -> list[str]:
    """mountinfo with what the kernel assigns (mount ids, device numbers) taken out, and the
    random name of each exec's own overlay work dir (``layout.exec_scratch``)."""
    return [re.sub(r"/overlay/[0-9a-f]{32}\b", "/overlay/EXEC", re.sub(r"^\d+ \d+ \d+:\d+ ", "", line))
            for line in mountinfo.splitlines()]


async def test_a_live_exec_and_a_rerun_see_identical_mountinfo(
    make_confined: ConfinedMaker, backend: str, tmp_path: Path
) -> None:
    task = tmp_path / CAMPAIGN / "task"
    task.mkdir(parents=True)
    (task / "train_weak.npy").write_bytes(b"live")
    variant = tmp_path / CAMPAIGN / "reproductions" / "agent-1-3-shuffled_weak-300" / "task"
    variant.mkdir(parents=True)
    (variant / "train_weak.npy").write_bytes(b"rerun")
    forum = tmp_path / CAMPAIGN / "shared"
    forum.mkdir()
    live = await make_confined(workdir=tmp_path / CAMPAIGN / "agent-1" / "work",
                               data_files={"train_weak.npy": task / "train_weak.npy"}, shared_dir=forum)
    # A re-run runs as the live agent's uid (the campaign's Reproducer passes its work dir).
    same_uid = {"identity": str(tmp_path / CAMPAIGN / "agent-1" / "work")} if backend == "local" else {}
    rerun = await make_confined(workdir=variant.parent / "work",
                                data_files={"train_weak.npy": variant / "train_weak.npy"}, shared_dir=forum,
                                **same_uid)
    views = [(await box.exec(["cat", "/proc/self/mountinfo"])).stdout for box in (live, rerun)]
    assert _without_kernel_ids(views[0]) == _without_kernel_ids(views[1]), views
    ids = [(await box.exec(["sh", "-c", "id; cat /etc/passwd /etc/group; env | sort"])).stdout for box in (live, rerun)]
    assert ids[0] == ids[1], ids
    assert (await rerun.exec(["cat", "data/train_weak.npy"])).stdout == "rerun"


LOCK_FILES = ("/etc/passwd", "/etc/group", "/etc/ld.so.cache", "/usr/bin/ls", "/data/x.npy", "/shared/post.txt",
              "/runtime/venv/pyvenv.cfg", "/dev/null", "/dev/urandom")
# Holds every lock until the test writes "done" (looked for by listing: see COUNTER in
# test_confined_backends), so the probe runs while they are surely held.
HOLD = ("for f in {files}; do exec {{fd}}<$f && flock -x $fd; done; echo held; "
        "until ls | grep -qx done; do sleep 0.05; done")
PROBE = "for f in {files}; do if flock -n -x $f true; then echo free $f; else echo LOCKED $f; fi; done"


async def test_hostile_flock_carries_no_bit_between_two_running_sandboxes(
    make_confined: ConfinedMaker, backend: str, tmp_path: Path
) -> None:
    import os

    if backend == "local" and os.geteuid() != 0:
        pytest.skip("a non-root host's sandboxes share the host's /dev nodes (see the README's security section)")
    data = tmp_path / "x.npy"
    data.write_bytes(b"x")
    forum = tmp_path / "forum"
    forum.mkdir()
    (forum / "post.txt").write_text("post")
    sender = await make_confined(data_files={"x.npy": data}, shared_dir=forum)
    receiver = await make_confined(data_files={"x.npy": data}, shared_dir=forum)
    files = " ".join(LOCK_FILES)
    holding = asyncio.Event()
    held = asyncio.create_task(sender.exec(["bash", "-c", HOLD.format(files=files)], timeout_s=60,
                                           on_output=lambda _, line: holding.set() if line == "held" else None))
    await asyncio.wait_for(holding.wait(), 30)
    probe = await receiver.exec(["bash", "-c", PROBE.format(files=files)], timeout_s=20)
    await sender.write_file("done", "")
    result = await held
    assert result.stdout.startswith("held"), result
    assert probe.stdout.split("\n")[:-1] == [f"free {f}" for f in LOCK_FILES], probe.stdout
    # Positive control: the same lock inside one sandbox is seen.
    inside = await sender.exec(["bash", "-c", "exec {fd}</etc/passwd; flock -x $fd; flock -n -x /etc/passwd true "
                                "&& echo free || echo LOCKED"])
    assert inside.stdout == "LOCKED\n"
