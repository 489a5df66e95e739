"""The bubblewrap command line of one confined exec: two bubblewraps, one inside the other.

The *outer* bwrap runs on the host's paths. It binds the host-owned places a sandbox
is made from (the box, the shared folder, the agent runtime; see ``layout``) at
neutral staging paths under ``/s`` in a mount namespace of its own, and runs the
*inner* bwrap there. The inner bwrap builds what agent code sees, from nothing: a
read-only tmpfs root, and every input as a read-only **overlay** of its staged dir
(``/usr``, ``/etc``, ``/runtime``, ``/data``, ``/shared``; ``/work`` a writable overlay
whose upper dir is the work dir), fresh ``/proc``, ``/tmp`` and ``/dev``.

Why so: bubblewrap shows a bind's host path in ``/proc/self/mountinfo`` and an
overlay's source paths in its options, as the mounting bwrap named them. Staged first,
they read ``/oldroot/s/...`` for every sandbox, live run or re-run. And an overlay has
inodes of its own: two sandboxes reading the same host file never share an inode,
so no lock taken in one is seen by another (the flock channel).

A Docker sandbox runs the same inner bwrap in its container, which stages the same
dirs under ``/s`` with Docker binds (``Outer`` says what the inner one finds there).

No path given to either bwrap passes through agent-writable space: the outer binds
host-owned dirs only (the work dir's parent included, whose ``work`` entry the agent
cannot replace), and the inner's mount targets lie in its own tmpfs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sandboxes.layout import DATA, SANDBOX_HOSTNAME, SHARED, WORK, Box
from sandboxes.runtime import RUNTIME_MOUNT, SYSTEM_DIRS, AgentRuntime

STAGE = "/s"
"""Where the outer bwrap stages host inputs; only the inner bwrap ever sees it."""
DIR_MODE = "0755"


@dataclass(frozen=True)
class BwrapBinary:
    """A bwrap executable, and how the outer view makes it runnable inside as the inner one."""

    path: str
    """Its host path."""
    stage: tuple[tuple[str, str], ...] = ()
    """(host dir, staged dir) pairs to bind read-only so the inner copy runs (its package and libs)."""
    inner_path: str = ""
    """Its path in the outer view; the host path when it lies in the system dirs."""

    @property
    def inside(self) -> str:
        return self.inner_path or self.path


SystemLayout = tuple[tuple[str, str | None], ...]
"""The system dirs a root has: (path, link target), the target None for a real dir."""
PROC_MASKS = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats")
"""Files of ``/proc`` covered with ``/dev/null`` in the sandbox, as Docker masks them."""


@functools.lru_cache(maxsize=1)
def host_layout() -> SystemLayout:
    """The host's system dirs: its links as links (merged /usr: /bin -> usr/bin)."""
    layout: list[tuple[str, str | None]] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            layout.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            layout.append((path, None))
    return tuple(layout)


def _system_dirs(layout: Iterable[tuple[str, str | None]], show: Callable[[str], list[str]]) -> tuple[str, ...]:
    """bwrap options making the system dirs of ``layout``: links as links, each dir as ``show`` makes it."""
    args: list[str] = []
    for path, target in layout:
        args += ["--symlink", target, path] if target is not None else show(path)
    return tuple(args)


@functools.lru_cache(maxsize=1)
def system_binds() -> tuple[str, ...]:
    """The outer view's system dirs, bound at their own paths (the inner bwrap's libc)."""
    return _system_dirs(host_layout(), lambda path: ["--ro-bind", path, path])


@functools.lru_cache(maxsize=8)
def system_overlays(layout: SystemLayout) -> tuple[str, ...]:
    """The inner view's system dirs, each a read-only overlay of the same path outside."""
    return _system_dirs(layout, lambda path: _ro_overlay(path, path))


@functools.lru_cache(maxsize=1)
def _proc_masks() -> tuple[str, ...]:
    # The sandbox's /proc shows the host kernel's files: only those this kernel has.
    args: list[str] = []
    for path in PROC_MASKS:
        if os.path.exists(path):
            args += ["--ro-bind", "/dev/null", path]
    return tuple(args)


def _ro_overlay(staged: str, dest: str) -> list[str]:
    # bwrap wants two lower dirs for a read-only overlay; the empty one changes nothing in
    # what it shows. On top, it makes statvfs report the empty dir's private tmpfs, not the
    # host filesystem's free space, which another sandbox's writes move (a covert channel).
    return ["--overlay-src", staged, "--overlay-src", f"{STAGE}/empty", "--ro-overlay", dest]


@dataclass(frozen=True)
class Outer:
    """Where the inner bwrap starts: the outer bwrap's view, or a sandbox container.

    Either way it holds the staged dirs under ``STAGE`` (``box`` (the work dir's parent),
    ``empty``, ``shared``, ``runtime/...``) and system dirs to show at their own paths.
    """

    bwrap: str
    """The inner bwrap's path there."""
    layout: SystemLayout
    """Its system dirs."""
    etc: str
    """The dir whose entries the sandbox's ``/etc`` shows under the sandbox's own."""


def local_outer(binary: BwrapBinary) -> Outer:
    """The outer bwrap's view (``outer_argv``)."""
    return Outer(binary.inside, host_layout(), f"{STAGE}/etc")


def outer_argv(
    binary: BwrapBinary, *, box: Box, etc: str, shared: str | None, runtime: AgentRuntime | None, as_root: bool
) -> list[str]:
    """The outer bwrap: host inputs staged under ``/s``, ending in ``--``."""
    args = [binary.path, "--unshare-pid", "--die-with-parent"]
    if as_root:
        args += ["--cap-add", "ALL"]  # the inner bwrap mounts as root; it drops everything itself
    else:
        args += ["--unshare-user"]
    args += system_binds()
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for host, staged in binary.stage:
        args += ["--ro-bind", host, staged]
    args += ["--dir", f"{STAGE}/empty"]
    # One mount holds the work dir and the overlay scratch dir (overlayfs needs both on one).
    args += ["--bind", box.parent, f"{STAGE}/box"]
    args += ["--ro-bind", shared or box.empty, f"{STAGE}/shared"]
    args += ["--ro-bind", etc, f"{STAGE}/etc"]
    for host, inside in runtime.mounts() if runtime is not None else ():
        args += ["--ro-bind", host, f"{STAGE}{inside}"]
    args += ["--"]
    return args


def inner_argv(
    outer: Outer,
    *,
    box: Box,
    run_dir: str,
    scratch: str,
    tmp_bytes: int,
    runtime: AgentRuntime | None,
    as_root: bool,
) -> list[str]:
    """The inner bwrap: the sandbox's own view, entering ``run_dir`` (an in-sandbox path).

    ``scratch``: this exec's own overlay work dir, by name under the box's ``overlay``
    (``layout.exec_scratch``).

    ``as_root``: the host is root and the command drops to the sandbox's uid with
    ``setpriv``; bwrap then runs privileged without a user namespace, keeping only the
    capabilities ``setpriv`` needs, which the uid change clears. Otherwise bwrap builds a
    user namespace for the host user, and agent code can make no namespace of its own.
    """
    if as_root:
        namespaces = ["--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        caps = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        namespaces = ["--unshare-all", "--unshare-user", "--disable-userns"]
        caps = []
    staged_box = f"{STAGE}/box/{os.path.basename(box.root)}"
    args = [
        outer.bwrap,
        *namespaces,
        "--die-with-parent",  # our exit, or the wrapper's death, takes the whole namespace down
        "--new-session",  # `kill -9 0` in agent code then hits only its own session
        "--hostname",
        SANDBOX_HOSTNAME,
        *system_overlays(outer.layout),
        # The shared entries under the sandbox's own (passwd, group, hostname), and the empty
        # dir on top: an overlay's free-space counts are its top layer's (see _ro_overlay).
        "--overlay-src", outer.etc, "--overlay-src", f"{staged_box}/etc", "--overlay-src", f"{STAGE}/empty",
        "--ro-overlay", "/etc",
    ]
    if runtime is not None:
        # Without --perms a root bwrap makes parents 0700, which the sandbox's uid cannot traverse.
        args += ["--perms", DIR_MODE, "--dir", RUNTIME_MOUNT]
        for _, inside in runtime.mounts():
            args += _ro_overlay(f"{STAGE}{inside}", inside)
    for path in runtime.hidden if runtime is not None else ():
        args += ["--size", "4096", "--perms", "0555", "--tmpfs", path, "--remount-ro", path]
    args += _ro_overlay(f"{staged_box}/data", DATA)
    args += _ro_overlay(f"{STAGE}/shared", SHARED)
    args += ["--overlay-src", f"{STAGE}/empty", "--overlay", f"{STAGE}/box/{os.path.basename(box.workdir)}",
             f"{staged_box}/overlay/{scratch}", WORK]
    args += ["--proc", "/proc", *_proc_masks()]
    if as_root:
        args += _ro_overlay(f"{staged_box}/dev", "/dev")  # device nodes of this sandbox's own
    else:
        args += ["--dev", "/dev"]
    for path in ("/tmp", "/dev/shm"):
        args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", path]
    args += ["--remount-ro", "/", "--chdir", run_dir, *caps, "--"]
    return args


def bwrap_argv(
    binary: BwrapBinary,
    *,
    box: Box,
    etc: str,
    run_dir: str,
    scratch: str,
    shared: str | None,
    tmp_bytes: int,
    runtime: AgentRuntime | None,
    as_root: bool,
) -> list[str]:
    """Both bwraps, ending in ``--``: what goes before the command of one exec.

    ``etc`` is the per-host copy of the shared ``/etc`` entries (``layout.host_etc``);
    ``runtime`` None leaves ``/runtime`` out (the level probe, which runs ``true``).
    """
    return [
        *outer_argv(binary, box=box, etc=etc, shared=shared, runtime=runtime, as_root=as_root),
        *inner_argv(
            local_outer(binary), box=box, run_dir=run_dir, scratch=scratch, tmp_bytes=tmp_bytes, runtime=runtime,
            as_root=as_root,
        ),
    ]


def setpriv_argv(setpriv: str, uid: int, gid: int) -> list[str]:
    """Drop from root to ``uid`` for good: no groups, no capabilities, no privilege gain on exec."""
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def unshare_argv(unshare: str, *, as_root: bool) -> list[str]:
    """The weaker level without bubblewrap: network, PID, IPC and UTS namespaces, no filesystem view."""
    user = [] if as_root else ["--user", "--map-current-user"]
    return [
        unshare,
        *user,
        "--net",
        "--pid",
        "--ipc",
        "--uts",
        "--mount",
        "--mount-proc",
        "--fork",
        "--kill-child",
        "--",
    ]
