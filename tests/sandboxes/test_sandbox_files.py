"""Reading and writing files in the work dir, path escapes, read-only inputs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sandboxes.layout import box_for
from sandboxes import (
    LocalSandbox,
    PathEscapeError,
    SandboxError,
    SandboxFileNotFoundError,
)


async def test_write_then_read_text_and_bytes(sandbox: LocalSandbox) -> None:
    await sandbox.write_file("deep/nested/notes.txt", "héllo\n")
    await sandbox.write_file("blob.bin", b"\x00\x01\xff")
    assert await sandbox.read_file("deep/nested/notes.txt") == "héllo\n".encode()
    assert await sandbox.read_file("blob.bin") == b"\x00\x01\xff"
    assert (sandbox.workdir / "deep" / "nested" / "notes.txt").is_file()


async def test_child_sees_written_files(sandbox: LocalSandbox) -> None:
    await sandbox.write_file("script.py", "print(open('data.txt').read())")
    await sandbox.write_file("data.txt", "42")
    result = await sandbox.exec(["python", "script.py"])
    assert result.stdout == "42\n"


async def test_escaping_paths_are_refused(sandbox: LocalSandbox, tmp_path: Path) -> None:
    with pytest.raises(PathEscapeError):
        await sandbox.write_file("../x", "nope")
    assert not (sandbox.workdir.parent / "x").exists()
    with pytest.raises(PathEscapeError):
        await sandbox.read_file("/etc/passwd")
    with pytest.raises(PathEscapeError):
        await sandbox.read_file("sub/../../etc/passwd")


async def test_symlinks_planted_by_agent_code_cannot_point_out(sandbox: LocalSandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    result = await sandbox.exec(["sh", "-c", f"ln -s /etc/passwd leak && ln -s {outside} outdir"])
    assert result.returncode == 0
    with pytest.raises(PathEscapeError):
        await sandbox.read_file("leak")
    with pytest.raises(PathEscapeError):
        await sandbox.write_file("outdir/planted.txt", "x")
    assert not (outside / "planted.txt").exists()
    with pytest.raises(PathEscapeError):
        await sandbox.exec(["pwd"], cwd="outdir")


async def test_the_host_follows_no_link_even_one_that_stays_inside(sandbox: LocalSandbox) -> None:
    # A link that points inside now may point elsewhere a moment later: the host never follows one.
    await sandbox.write_file("real.txt", "inside")
    await sandbox.exec(["ln", "-s", "real.txt", "alias.txt"])
    await sandbox.exec(["ln", "-s", ".", "here"])
    with pytest.raises(PathEscapeError, match="symlink"):
        await sandbox.read_file("alias.txt")
    with pytest.raises(PathEscapeError, match="symlink"):
        await sandbox.read_file("here/real.txt")
    with pytest.raises(PathEscapeError, match="symlink"):
        await sandbox.write_file("alias.txt", "overwritten")
    assert await sandbox.read_file("real.txt") == b"inside"


async def test_read_limit_names_the_size(sandbox: LocalSandbox) -> None:
    await sandbox.write_file("big.bin", b"a" * 5000)
    with pytest.raises(SandboxError, match="5000 bytes"):
        await sandbox.read_file("big.bin", max_bytes=4096)
    assert len(await sandbox.read_file("big.bin", max_bytes=5000)) == 5000


async def test_missing_file_and_directories(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxFileNotFoundError):
        await sandbox.read_file("missing.txt")
    with pytest.raises(FileNotFoundError):  # also the builtin type
        await sandbox.read_file("missing.txt")
    await sandbox.write_file("d/f.txt", "x")
    with pytest.raises(SandboxError, match="not a regular file"):
        await sandbox.read_file("d")


async def test_a_fifo_cannot_hang_the_host(sandbox: LocalSandbox) -> None:
    os.mkfifo(sandbox.workdir / "pipe")
    with pytest.raises(SandboxError):
        await sandbox.read_file("pipe")
    with pytest.raises(SandboxError):
        await sandbox.write_file("pipe", "x")


async def test_workdir_is_private(sandbox: LocalSandbox) -> None:
    assert stat.S_IMODE(sandbox.workdir.stat().st_mode) == 0o700


async def test_inputs_are_host_owned_copies_outside_the_work_dir(make_sandbox, tmp_path: Path) -> None:
    source = tmp_path / "host" / "train_x.npy"
    source.parent.mkdir()
    source.write_bytes(b"host data")
    sandbox: LocalSandbox = await make_sandbox(data_files={"train_x.npy": source})
    assert (sandbox.workdir / "data").is_symlink(), "data/ in the work dir only points at the inputs"
    copy = box_for(str(sandbox.workdir)).data + "/train_x.npy"
    assert not os.path.islink(copy) and os.stat(copy).st_ino != source.stat().st_ino
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o444
    assert await sandbox.read_file("data/train_x.npy") == b"host data"
    # The process level shows the host: root may overwrite the copy, never the host's file.
    result = await sandbox.exec(["sh", "-c", "echo tampered > data/train_x.npy"])
    assert result.returncode == 0
    assert source.read_bytes() == b"host data"
    with pytest.raises(SandboxError, match="symlink"):
        await sandbox.write_file("data/train_x.npy", "x")


async def test_restart_rebuilds_the_inputs_from_the_host(tmp_path: Path) -> None:
    source = tmp_path / "labels.txt"
    source.write_text("weak labels")
    workdir = tmp_path / "w"
    sandbox = LocalSandbox(workdir=workdir, data_files={"labels.txt": source})
    await sandbox.start()
    await sandbox.exec(["sh", "-c", "echo planted > data/labels.txt"])  # the process level shows the box
    await sandbox.close()
    again = LocalSandbox(workdir=workdir, data_files={"labels.txt": source})
    await again.start()
    try:
        assert await again.read_file("data/labels.txt") == b"weak labels"
    finally:
        await again.close()


async def test_bad_readonly_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PathEscapeError):
        LocalSandbox(workdir=tmp_path / "w", data_files={"../escape.txt": tmp_path / "a"})
    sandbox = LocalSandbox(workdir=tmp_path / "w", data_files={"a.txt": tmp_path / "missing"})
    with pytest.raises(SandboxError, match="not found"):
        await sandbox.start()
