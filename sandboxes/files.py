"""Blocking file operations on a sandbox work dir (run them off the event loop).

The real path is checked first (``resolve_inside``), then opened with ``O_NOFOLLOW``
so a final component swapped for a symlink in between is refused too, and
``O_NONBLOCK`` so a FIFO planted by agent code cannot hang the host.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from sandboxes.errors import PathEscapeError, SandboxError, SandboxFileNotFoundError
from sandboxes.paths import resolve_entry_inside, resolve_inside

WORKDIR_MODE = 0o700
READONLY_MODE = 0o444
WRITE_MODE = 0o644
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _os_error(action: str, path: str, exc: OSError) -> SandboxError:
    if exc.errno == errno.ELOOP:
        return PathEscapeError(f"cannot {action} {path!r}: it is a symlink")
    return SandboxError(f"cannot {action} {path!r}: {exc.strerror or exc}")


def ensure_tmp(root: str, owner: tuple[int, int] | None = None) -> None:
    """(Re)create ``tmp/`` (the child's TMPDIR), which agent code may have removed.

    ``owner`` (uid, gid) receives a newly created one, so a sandbox with a uid of its
    own can write there.
    """
    try:
        tmp = resolve_inside(root, "tmp")
        if not os.path.isdir(tmp):
            os.makedirs(tmp, exist_ok=True)
            if owner is not None:
                os.chown(tmp, *owner, follow_symlinks=False)
    except (OSError, SandboxError):
        pass  # a child without a usable TMPDIR falls back to /tmp; not worth failing the exec


def prepare_workdir(root: str, readonly_files: Mapping[str, Path]) -> set[str]:
    """Create the private work dir and copy the read-only inputs into it.

    Returns the real paths of the copies. Inputs are copied, never linked, so the
    agent can neither follow a link back to the host path nor modify the host file.
    """
    missing = sorted(str(src) for src in readonly_files.values() if not os.path.isfile(src))
    if missing:
        raise SandboxError(f"read-only input files not found: {', '.join(missing)}")
    try:
        os.makedirs(root, mode=WORKDIR_MODE, exist_ok=True)
        os.chmod(root, WORKDIR_MODE)  # also for a work dir that existed with wider access
    except OSError as exc:
        raise SandboxError(f"cannot create the sandbox work dir {root}: {exc.strerror or exc}") from exc
    ensure_tmp(root)
    copies: set[str] = set()
    for name, source in readonly_files.items():
        dest = resolve_entry_inside(root, name)
        try:
            _copy_readonly(source, dest)
        except OSError as exc:
            raise SandboxError(f"cannot copy read-only input {name!r} from {source}: {exc.strerror or exc}") from exc
        copies.add(dest)
    return copies


def _copy_readonly(source: Path, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest):
        if os.path.isdir(dest) and not os.path.islink(dest):
            raise SandboxError(f"cannot place a read-only input at {dest}: a directory is there")
        os.unlink(dest)  # a copy from an earlier start, or whatever agent code put there
    shutil.copyfile(source, dest)  # follows a symlinked source: copies content, never the link
    os.chmod(dest, READONLY_MODE)


def read_inside(root: str, path: str, max_bytes: int) -> bytes:
    """Read a regular file under ``root``, refusing anything over ``max_bytes``."""
    real = resolve_inside(root, path)
    try:
        fd = os.open(real, _READ_FLAGS)
    except FileNotFoundError as exc:
        raise SandboxFileNotFoundError(f"no such file in the sandbox: {path!r}") from exc
    except OSError as exc:
        raise _os_error("read", path, exc) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SandboxError(f"cannot read {path!r}: not a regular file")
        if info.st_size > max_bytes:
            raise SandboxError(f"{path!r} is {info.st_size} bytes, over the read limit of {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:  # the file may grow while we read: stop one byte past the cap
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise SandboxError(f"{path!r} grew past the read limit of {max_bytes} bytes while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _missing_parents(path: str) -> list[str]:
    """The ancestors of ``path`` that do not exist yet, outermost first."""
    missing: list[str] = []
    parent = os.path.dirname(path)
    while parent and not os.path.lexists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    return missing[::-1]


def write_inside(
    root: str,
    path: str,
    content: str | bytes,
    readonly: set[str],
    owner: tuple[int, int] | None = None,
) -> None:
    """Write a file under ``root``, creating its parents; read-only inputs are refused.

    ``owner`` (uid, gid), when given, is made the owner of the file and of the parents
    created here: a sandbox that runs as its own uid must be able to change what the
    host wrote for it.
    """
    real = resolve_inside(root, path)
    if real == root:
        raise SandboxError(f"cannot write {path!r}: it is the work dir itself")
    if real in readonly:
        raise SandboxError(f"cannot write {path!r}: it is a read-only input of the sandbox")
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    try:
        created = _missing_parents(real)
        os.makedirs(os.path.dirname(real), exist_ok=True)
        if owner is not None:
            for directory in created:
                os.chown(directory, *owner, follow_symlinks=False)
        fd = os.open(real, _WRITE_FLAGS, WRITE_MODE)
    except OSError as exc:
        raise _os_error("write", path, exc) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SandboxError(f"cannot write {path!r}: not a regular file")
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise _os_error("write", path, exc) from exc
    finally:
        os.close(fd)
