"""The fixed view every sandbox has, and the host-owned places it is made from.

Whoever runs in a sandbox, and whether it is a live run or a re-run, it sees the same
paths: the work dir at ``/work``, the read-only inputs at ``/data``, the shared folder
at ``/shared``, the agent runtime at ``/runtime`` (see ``runtime``), its own ``/etc``
(generated ``passwd`` and ``group``), ``/tmp`` and ``/dev``. Nothing in the view names a
host path, a campaign or the kind of run.

On the host a sandbox's work dir ``W`` gets a private sibling, the *box*
``W.parent/.W.name.box``: host-owned, never writable by agent code and never inside
the work dir. It holds the inputs (hard links or copies), the generated ``etc``
(``passwd``, ``group``; the rest of ``/etc`` is a per-host copy, ``host_etc``), the
overlay scratch dir the work dir's view needs, an empty dir and, on a root host, the
sandbox's own device nodes. Every path the host hands to bubblewrap or Docker is a
host-owned dir or file; the only agent-writable one is ``W`` itself, bound once as a
whole, through a parent the agent cannot change.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sandboxes.errors import PathEscapeError, SandboxError
from sandboxes.files import split_relative
from sandboxes.runtime import link_or_copy

WORK = "/work"
DATA = "/data"
SHARED = "/shared"
SANDBOX_HOSTNAME = "sandbox"
SANDBOX_USER = "sandbox"

BOX_MODE = 0o755  # traversable by a sandbox's own uid (a root host's inner bubblewrap runs as root, Docker as the engine)
FILE_MODE = 0o444
# What a confined /etc holds besides passwd and group: the dynamic linker's cache, name
# lookup order and Debian's alternatives links (awk, editors). Copied, never bound: a
# host inode seen by two sandboxes at once is a channel between them (flock).
HOST_ETC = ("nsswitch.conf", "hosts", "localtime", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives")
BOX_ETC = ("passwd", "group")
"""What a box's ``etc`` holds for Docker to bind (bwrap shows ``hostname`` too): generated per sandbox."""
ETC_ENTRIES = (*BOX_ETC, *HOST_ETC)
"""Every ``/etc`` entry a sandbox has."""
# Device nodes of a root host's sandboxes: their own inodes, so no two sandboxes share one.
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx", "core": "/proc/kcore"}


@dataclass(frozen=True)
class Box:
    """The host-owned places one sandbox is made from (all real host paths)."""

    workdir: str
    """The agent's work dir, seen at ``/work``."""
    root: str
    """The box itself (``W.parent/.W.name.box``)."""

    @property
    def parent(self) -> str:
        """The work dir's parent: one mount holds both the work dir and the overlay scratch dir."""
        return os.path.dirname(self.workdir)

    @property
    def data(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def etc(self) -> str:
        return os.path.join(self.root, "etc")

    @property
    def overlay(self) -> str:
        return os.path.join(self.root, "overlay")

    @property
    def empty(self) -> str:
        return os.path.join(self.root, "empty")

    @property
    def dev(self) -> str:
        return os.path.join(self.root, "dev")


def box_for(workdir: str) -> Box:
    """The box of the sandbox whose (real) work dir is ``workdir``."""
    return Box(workdir=workdir, root=os.path.join(os.path.dirname(workdir), f".{os.path.basename(workdir)}.box"))


def check_data_name(name: str) -> list[str]:
    """The components of a path under ``/data``; refuses absolute paths, ``..`` and empty names."""
    parts = split_relative(name)
    if not parts:
        raise PathEscapeError(f"path {name!r} does not name a file under {DATA}")
    return parts


def _fresh_dir(path: str, mode: int = BOX_MODE) -> None:
    """``path`` as an empty host-owned dir, whatever was there (the box is the host's alone)."""
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    os.mkdir(path, mode)
    os.chmod(path, mode)


def _place_input(source: Path, dest: str, *, link: bool) -> None:
    """``link``: a hard link where the filesystem allows, which shares the host file's inode
    (agent code sees inputs only through an overlay, whose inodes are its own); else a
    read-only copy (a weaker level shows the box's files themselves)."""
    if link:
        link_or_copy(str(source), dest)
    else:
        shutil.copyfile(source, dest)
        os.chmod(dest, FILE_MODE)


def _passwd(uid: int, gid: int) -> tuple[bytes, bytes]:
    users = ["root:x:0:0:root:/root:/bin/sh", f"{SANDBOX_USER}:x:{uid}:{gid}::{WORK}:/bin/sh",
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]
    groups = ["root:x:0:", f"{SANDBOX_USER}:x:{gid}:", "nogroup:x:65534:"]
    return ("\n".join(users) + "\n").encode(), ("\n".join(groups) + "\n").encode()


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _etc(box: Box, uid: int, gid: int) -> None:
    """The sandbox's own ``/etc`` entries; the rest comes from ``host_etc``, shared."""
    _fresh_dir(box.etc)
    passwd, group = _passwd(uid, gid)
    _write(os.path.join(box.etc, "passwd"), passwd)
    _write(os.path.join(box.etc, "group"), group)
    _write(os.path.join(box.etc, "hostname"), f"{SANDBOX_HOSTNAME}\n".encode())


def _etc_digest() -> str:
    digest = hashlib.sha256()
    for name in HOST_ETC:
        source = os.path.join("/etc", name)
        if os.path.isdir(source):
            for entry in sorted(os.listdir(source)):
                path = os.path.join(source, entry)
                if os.path.islink(path):
                    digest.update(f"{name}/{entry} -> {os.readlink(path)}\n".encode())
                elif os.path.isfile(path):
                    with open(path, "rb") as f:
                        digest.update(f"{name}/{entry}\n".encode() + f.read())
        elif os.path.isfile(source):
            with open(source, "rb") as f:
                digest.update(f"{name}\n".encode() + f.read())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def host_etc(cache_root: str) -> str:
    """A host-owned copy of the ``/etc`` entries every sandbox shares (``HOST_ETC``), made
    once per host and content under ``cache_root`` (named by a digest of what it holds,
    built aside and renamed into place). Copied, never bound from ``/etc``: bwrap shows it
    through an overlay per sandbox, so no host inode is shared. Blocking; cached per process.
    """
    final = os.path.join(cache_root, f"etc-{_etc_digest()}")
    if os.path.isdir(final):
        return final
    os.makedirs(cache_root, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".etc-", dir=cache_root)
    try:
        os.chmod(work, BOX_MODE)
        for name in HOST_ETC:
            source = os.path.join("/etc", name)
            dest = os.path.join(work, name)
            if os.path.isdir(source):
                shutil.copytree(source, dest, symlinks=True)
            elif os.path.isfile(source):
                shutil.copyfile(source, dest)  # follows a host link (localtime): the content is what counts
                os.chmod(dest, FILE_MODE)
        os.rename(work, final)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
        if not os.path.isdir(final):  # another process may have finished first
            raise
    return final


def _devices(box: Box) -> None:
    """Device nodes of the sandbox's own (needs CAP_MKNOD: a root host)."""
    _fresh_dir(box.dev)
    for name, (major, minor) in DEVICES.items():
        path = os.path.join(box.dev, name)
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)
    for name, target in DEV_LINKS.items():
        os.symlink(target, os.path.join(box.dev, name))
    for name in ("shm", "pts", "mqueue"):
        os.mkdir(os.path.join(box.dev, name), BOX_MODE)


def prepare_box(box: Box, data_files: Mapping[str, Path], *, uid: int, gid: int, devices: bool,
                link: bool) -> None:
    """(Re)build the box of one sandbox: inputs, ``etc``, overlay scratch, empty dir, devices.

    ``link``: inputs may be hard links of the host's files (bwrap, local or in a container);
    else copies (the weaker levels, which show host files as they are).

    Rebuilt from the host's files on every start, so nothing an earlier run left there
    counts. Raises ``SandboxError`` for a missing input or a box that is not the host's.
    """
    missing = sorted(str(src) for src in data_files.values() if not os.path.isfile(src))
    if missing:
        raise SandboxError(f"read-only input files not found: {', '.join(missing)}")
    try:
        if os.path.islink(box.root):
            raise PathEscapeError(f"the sandbox box {box.root} is a symlink")
        os.makedirs(box.root, BOX_MODE, exist_ok=True)
        os.chmod(box.root, BOX_MODE)
        _fresh_dir(box.data)
        for name, source in sorted(data_files.items()):
            parts = check_data_name(name)
            here = box.data
            for part in parts[:-1]:
                here = os.path.join(here, part)
                os.makedirs(here, BOX_MODE, exist_ok=True)
            _place_input(source, os.path.join(here, parts[-1]), link=link)
        _etc(box, uid, gid)
        _fresh_dir(box.overlay, 0o700)
        _fresh_dir(box.empty)
        if devices:
            _devices(box)
    except OSError as exc:
        raise SandboxError(f"cannot prepare the sandbox's inputs in {box.root}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def exec_scratch(box: Box, owner: tuple[int, int] | None) -> Iterator[str]:
    """A fresh overlay work dir for one exec (its name under ``box.overlay``), removed after.

    Each exec mounts its own ``/work`` overlay, and overlayfs resets its work dir on every
    mount: two execs sharing one fail at random. ``owner``: the uid that mounts it (a
    container's), when not the host's.
    """
    name = uuid.uuid4().hex
    path = os.path.join(box.overlay, name)
    os.mkdir(path, 0o700)
    if owner is not None:
        os.chown(path, *owner)
    try:
        yield name
    finally:
        _remove_tree(path)


def _remove_tree(path: str) -> None:
    """Remove a tree the host made, whatever modes the kernel left in it (overlayfs makes
    its own work dir mode 000)."""

    def unlock(function: object, name: str, error: object) -> None:
        try:
            os.chmod(os.path.dirname(name), 0o700)
            os.chmod(name, 0o700)
        except OSError:
            return
        if os.path.isdir(name) and not os.path.islink(name):
            shutil.rmtree(name, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(name)

    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    shutil.rmtree(path, onerror=unlock)


def read_root(box: Box, shared: str | None, path: str) -> tuple[str, str]:
    """Where the host reads ``path`` as agent code would see it: (host root, path under it).

    ``/data/...`` and ``/shared/...`` (or ``data/...`` and ``shared/...`` while the work
    dir's link of that name still points at its fixed mount, read with ``readlink``,
    never followed) come from the host-owned places behind those mounts; anything else
    from the work dir. Every read under the root still refuses links.
    """
    mounts = {DATA.lstrip("/"): box.data, SHARED.lstrip("/"): shared or box.empty}
    if path.startswith("/"):
        head, _, rest = path.lstrip("/").partition("/")
        if head in mounts:
            return mounts[head], rest
        raise PathEscapeError(f"absolute paths are not allowed in the sandbox, except under {DATA} and {SHARED}: "
                              f"{path!r}")
    head, _, rest = path.partition("/")
    if head in mounts:
        try:
            target = os.readlink(os.path.join(box.workdir, head))
        except OSError:
            target = None
        if target in (f"/{head}", mounts[head]):  # a weaker level links to the host place itself
            return mounts[head], rest
    return box.workdir, path
