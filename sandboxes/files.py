"""Blocking file operations on a sandbox work dir (run them off the event loop).

Agent code may change its work dir at any moment, so the host never resolves a path
there and then uses it (a check-then-use gap). Every operation walks the path one
component at a time from a descriptor of the work dir, opening each directory with
``O_NOFOLLOW | O_DIRECTORY`` relative to its parent (``openat``) and the last
component with ``O_NOFOLLOW | O_NONBLOCK``: a symlink anywhere in the path is
refused, never followed, a FIFO planted by agent code cannot hang the host, and a
device or other special file is refused before it is read. ``..`` is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sandboxes.errors import PathEscapeError, SandboxError, SandboxFileNotFoundError

WORKDIR_MODE = 0o700
WRITE_MODE = 0o644
DIR_MODE = 0o755
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20


def _os_error(action: str, path: str, exc: OSError) -> SandboxError:
    if exc.errno == errno.ELOOP:
        return PathEscapeError(f"cannot {action} {path!r}: it is (or passes through) a symlink")
    if exc.errno == errno.ENOTDIR:
        return SandboxError(f"cannot {action} {path!r}: a part of the path is not a directory")
    if exc.errno == errno.ENOENT:
        return SandboxFileNotFoundError(f"no such file in the sandbox: {path!r}")
    return SandboxError(f"cannot {action} {path!r}: {exc.strerror or exc}")


def split_relative(path: str) -> list[str]:
    """The components of a relative sandbox path; refuses absolute paths, ``..`` and NUL bytes."""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise SandboxError(f"sandbox paths must be text, got {type(path).__name__}")
    if "\0" in path:
        raise SandboxError(f"sandbox path contains a NUL byte: {path!r}")
    if os.path.isabs(path):
        raise PathEscapeError(f"absolute paths are not allowed in the sandbox: {path!r}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PathEscapeError(f"'..' is not allowed in sandbox paths: {path!r}")
    return parts


@contextmanager
def open_dir(root: str, parts: list[str], *, create: bool = False,
             owner: tuple[int, int] | None = None) -> Iterator[int]:
    """A descriptor of ``root/parts...``, reached without following any link.

    ``create`` makes missing directories (mode 0755, given to ``owner`` when set).
    ``root`` itself is the host's (a real path it made); everything below it is the agent's.
    """
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, DIR_MODE, dir_fd=fd)
                    if owner is not None:
                        os.chown(part, *owner, dir_fd=fd, follow_symlinks=False)
                except FileExistsError:
                    pass
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                # O_NOFOLLOW | O_DIRECTORY on a link fails with ENOTDIR: name the link for what it is.
                if exc.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link(fd, part):
                    raise OSError(errno.ELOOP, "symlink in the path") from exc
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open_regular(dir_fd: int, name: str, flags: int, label: str, action: str) -> int:
    """Open ``name`` in ``dir_fd`` only if it is a regular file (checked before and after opening)."""
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        if flags & os.O_CREAT:
            before = None
        else:
            raise
    if before is not None and not stat.S_ISREG(before.st_mode):
        kind = "a symlink" if stat.S_ISLNK(before.st_mode) else "not a regular file"
        error = PathEscapeError if stat.S_ISLNK(before.st_mode) else SandboxError
        raise error(f"cannot {action} {label!r}: it is {kind}")
    fd = os.open(name, flags, WRITE_MODE, dir_fd=dir_fd)
    info = os.fstat(fd)
    swapped = before is not None and (info.st_ino, info.st_dev) != (before.st_ino, before.st_dev)
    if not stat.S_ISREG(info.st_mode) or swapped:
        os.close(fd)
        raise SandboxError(f"cannot {action} {label!r}: not a regular file (or replaced while opened)")
    return fd


def _read_fd(fd: int, label: str, max_bytes: int) -> bytes:
    size = os.fstat(fd).st_size
    if size > max_bytes:
        raise SandboxError(f"{label!r} is {size} bytes, over the read limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:  # the file may grow while we read: stop one byte past the cap
        chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise SandboxError(f"{label!r} grew past the read limit of {max_bytes} bytes while being read")
    return b"".join(chunks)


def read_inside(root: str, path: str, max_bytes: int) -> bytes:
    """Read a regular file under ``root``, refusing links, special files and anything over ``max_bytes``."""
    parts = split_relative(path)
    if not parts:
        raise SandboxError(f"cannot read {path!r}: it is the work dir itself")
    try:
        with open_dir(root, parts[:-1]) as dir_fd:
            fd = _open_regular(dir_fd, parts[-1], _READ_FLAGS, path, "read")
            try:
                return _read_fd(fd, path, max_bytes)
            finally:
                os.close(fd)
    except OSError as exc:
        raise _os_error("read", path, exc) from exc


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_inside(
    root: str,
    path: str,
    content: str | bytes,
    owner: tuple[int, int] | None = None,
) -> None:
    """Write a file under ``root``, creating its parents.

    ``owner`` (uid, gid), when given, is made the owner of the file and of the parents
    created here: a sandbox that runs as its own uid must be able to change what the
    host wrote for it.
    """
    parts = split_relative(path)
    if not parts:
        raise SandboxError(f"cannot write {path!r}: it is the work dir itself")
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    try:
        with open_dir(root, parts[:-1], create=True, owner=owner) as dir_fd:
            fd = _open_regular(dir_fd, parts[-1], _WRITE_FLAGS, path, "write")
            try:
                if owner is not None:
                    os.fchown(fd, *owner)
                _write_fd(fd, data)
            finally:
                os.close(fd)
    except OSError as exc:
        raise _os_error("write", path, exc) from exc


def ensure_tmp(root: str, owner: tuple[int, int] | None = None) -> None:
    """(Re)create ``tmp/`` (the child's TMPDIR), which agent code may have removed.

    ``owner`` (uid, gid) receives a newly created one, so a sandbox with a uid of its
    own can write there.
    """
    try:
        with open_dir(root, ["tmp"], create=True, owner=owner):
            pass
    except OSError:
        pass  # a child without a usable TMPDIR falls back to /tmp; not worth failing the exec


def prepare_workdir(root: str) -> None:
    """Create the private work dir (mode 0700) and its ``tmp/``; refuse a link or a non-directory."""
    try:
        if os.path.islink(root):
            raise PathEscapeError(f"the sandbox work dir {root} is a symlink")
        os.makedirs(root, mode=WORKDIR_MODE, exist_ok=True)
        if not stat.S_ISDIR(os.lstat(root).st_mode):
            raise SandboxError(f"the sandbox work dir {root} is not a directory")
        os.chmod(root, WORKDIR_MODE, follow_symlinks=False)  # also for one that existed with wider access
    except OSError as exc:
        raise SandboxError(f"cannot create the sandbox work dir {root}: {exc.strerror or exc}") from exc
    ensure_tmp(root)


def place_link(root: str, name: str, target: str) -> None:
    """A symlink ``name`` (one component) under ``root`` to ``target``, for agent code to follow.

    A link or an empty directory already there is replaced (a mount point of the layout
    before the fixed view); anything else the agent put there is left alone (it is the
    agent's to keep). The host itself never follows the link: every host access to the
    work dir refuses links.
    """
    parts = split_relative(name)
    if len(parts) != 1:
        raise SandboxError(f"a link in the work dir must be one name, not {name!r}")
    with open_dir(root, []) as fd:
        try:
            old = os.stat(parts[0], dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None:
            if stat.S_ISLNK(old.st_mode):
                os.unlink(parts[0], dir_fd=fd)
            elif stat.S_ISDIR(old.st_mode):
                try:
                    os.rmdir(parts[0], dir_fd=fd)
                except OSError:
                    return  # not empty: the agent's
            else:
                return
        os.symlink(target, parts[0], dir_fd=fd)


def snapshot_files(
    root: str,
    *,
    select: Callable[[str], bool],
    max_total_bytes: int,
    max_files: int = 10_000,
    skip_dirs: frozenset[str] = frozenset(),
) -> tuple[dict[str, bytes], list[str]]:
    """Read the regular files under ``root`` that ``select(relative_path)`` keeps.

    For the host's copies of agent files (reproduction runs, forum attachments): the
    tree is walked by descriptors, so a file swapped for a link while we walk is
    refused, never followed. Links, special files and top-level ``skip_dirs`` are left
    out. Returns ({relative path: content}, notes on what was left out and why).
    """
    files: dict[str, bytes] = {}
    notes: list[str] = []
    budget = [max_total_bytes]

    def walk(dir_fd: int, prefix: str) -> None:
        with os.scandir(dir_fd) as entries:
            names = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries)
        for name, is_dir in names:
            relative = f"{prefix}{name}"
            if is_dir:
                if not prefix and name in skip_dirs:
                    continue
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    notes.append(f"{relative}/: {exc.strerror or exc}")
                    continue
                try:
                    walk(child, relative + "/")
                finally:
                    os.close(child)
                continue
            if not select(relative):
                continue
            if len(files) >= max_files:
                notes.append(f"{relative}: over {max_files} files")
                continue
            try:
                fd = _open_regular(dir_fd, name, _READ_FLAGS, relative, "copy")
            except (OSError, SandboxError) as exc:
                notes.append(f"{relative}: {exc}")
                continue
            try:
                data = _read_fd(fd, relative, budget[0])
            except SandboxError:
                notes.append(f"{relative}: over the {max_total_bytes}-byte budget")
                continue
            finally:
                os.close(fd)
            budget[0] -= len(data)
            files[relative] = data

    try:
        with open_dir(root, []) as fd:
            walk(fd, "")
    except OSError as exc:
        raise _os_error("read", ".", exc) from exc
    return files, notes


def exec_dir(root: str, cwd: str) -> str:
    """The path of an exec's working dir ``cwd`` under ``root``, checked to be a directory
    reached without any link (the exec itself resolves it again, inside the sandbox)."""
    parts = split_relative(cwd)
    try:
        with open_dir(root, parts):
            pass
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise SandboxError(f"working directory {cwd!r} does not exist in the sandbox") from exc
        raise _os_error("enter", cwd, exc) from exc
    return os.path.join(root, *parts)


def list_tree(root: str, path: str, *, max_depth: int, max_entries: int) -> list[tuple[str, str, int]]:
    """(relative path, kind, size) under ``path`` in ``root``, by descriptor: links are
    listed as links, never followed; at most ``max_entries`` rows, ``max_depth`` levels."""
    rows: list[tuple[str, str, int]] = []
    parts = split_relative(path)

    def walk(dir_fd: int, prefix: str, depth: int) -> None:
        with os.scandir(dir_fd) as entries:
            found = sorted(entries, key=lambda e: e.name)
        for entry in found:
            if len(rows) >= max_entries:
                return
            relative = f"{prefix}{entry.name}"
            info = entry.stat(follow_symlinks=False)
            kind = ("dir" if stat.S_ISDIR(info.st_mode) else "link" if stat.S_ISLNK(info.st_mode)
                    else "file" if stat.S_ISREG(info.st_mode) else "other")
            rows.append((relative + ("/" if kind == "dir" else ""), kind, info.st_size if kind == "file" else 0))
            if kind == "dir" and depth < max_depth:
                try:
                    child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError:
                    continue
                try:
                    walk(child, relative + "/", depth + 1)
                finally:
                    os.close(child)

    try:
        with open_dir(root, parts) as fd:
            walk(fd, "/".join(parts) + "/" if parts else "", 1)
    except OSError as exc:
        raise _os_error("list", path, exc) from exc
    return rows
