"""The bubblewrap command line of one confined exec.

What the sandbox sees is built up from nothing: a read-only tmpfs root holding the
system dirs (read-only), a handful of ``/etc`` files, the agent runtime (a virtualenv
of numpy and torch, never aar's own; see ``runtime``) and the base Python it links to
(read-only, at their host paths so the venv's symlinks resolve; the base install's
site-packages masked), fresh ``/proc`` and ``/dev``, a size-capped private ``/tmp``, and
the work dir (read-write) with the read-only inputs bound read-only over their
copies. Nothing else of the host exists inside: not the home dirs, not the repo, not
the scorer's labels.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping

from sandboxes.runtime import SYSTEM_DIRS, AgentRuntime

# Enough of /etc for the dynamic linker, name lookups of uids and Debian's
# alternatives symlinks (awk, editors); never shadow, sudoers or credentials.
ETC_FILES = (
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
)
DIR_MODE = "0755"


def _parent_dirs(path: str, made: set[str]) -> list[str]:
    """``--dir`` options creating the missing ancestors of ``path`` with mode 0755.

    Without ``--perms`` bwrap creates them 0700 when it runs as root, which a
    sandbox running as another uid could not traverse.
    """
    args: list[str] = []
    parts = path.strip("/").split("/")[:-1]
    current = ""
    for part in parts:
        current += "/" + part
        if current not in made:
            made.add(current)
            args += ["--perms", DIR_MODE, "--dir", current]
    return args


@functools.lru_cache(maxsize=1)
def host_binds() -> tuple[str, ...]:
    """The part of the command line that depends only on the host's layout (computed once)."""
    args: list[str] = []
    made: set[str] = set()
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]  # merged /usr: /bin -> usr/bin
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--perms", DIR_MODE, "--dir", "/etc"]
    made.add("/etc")
    for path in ETC_FILES:
        if os.path.exists(path):
            args += ["--ro-bind-try", path, path]
    return tuple(args)


@functools.lru_cache(maxsize=8)
def runtime_binds(runtime: AgentRuntime) -> tuple[str, ...]:
    """Read-only binds of the agent runtime and the base Python it links to, then empty
    read-only mounts over what must stay hidden (site-packages of the base install,
    aar's own install). They go after the private /tmp is mounted: a checkout (and its
    runtime cache) under /tmp would otherwise be hidden by it."""
    args: list[str] = []
    made = {"/", "/etc", "/tmp", "/dev", "/proc"}
    for path in runtime.binds():
        args += _parent_dirs(path, made)
        args += ["--ro-bind", path, path]
        made.add(path)
    for path in runtime.hidden:
        args += ["--size", "4096", "--perms", "0555", "--tmpfs", path, "--remount-ro", path]
    return tuple(args)


def bwrap_argv(
    bwrap: str,
    *,
    workdir: str,
    run_dir: str,
    readonly: Iterable[str],
    tmp_bytes: int,
    own_uid: bool,
    runtime: AgentRuntime,
    shared: Mapping[str, str] | None = None,
) -> list[str]:
    """The bwrap options (ending in ``--``) for one exec in ``workdir``, starting in ``run_dir``.

    ``runtime`` is the agent runtime the exec's ``python`` comes from (see ``runtime``);
    ``shared`` maps mount points inside the work dir to host dirs bound read-only there.

    ``own_uid``: the host is root and the command drops to the sandbox's uid with
    ``setpriv``; bwrap then runs privileged without a user namespace, keeping only the
    capabilities ``setpriv`` needs, which the uid change clears. Otherwise bwrap builds
    a user namespace for the host user.
    """
    if own_uid:
        namespaces = ["--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        caps = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        namespaces = ["--unshare-all"]
        caps = []
    made: set[str] = set()
    args = [
        bwrap,
        *namespaces,
        "--die-with-parent",  # our exit, or the wrapper's death, takes the whole namespace down
        "--new-session",  # `kill -9 0` in agent code then hits only its own session
        "--hostname",
        "sandbox",
        *host_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(tmp_bytes),
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--size",
        str(tmp_bytes),
        "--perms",
        "1777",
        "--tmpfs",
        "/dev/shm",
    ]
    made.update({"/tmp", "/dev", "/proc"})
    args += runtime_binds(runtime)
    made.update(runtime.binds())
    args += _parent_dirs(workdir, made)
    args += ["--bind", workdir, workdir]
    for inside, host in sorted((shared or {}).items()):
        args += ["--ro-bind-try", host, inside]
    for path in sorted(readonly):
        # Over its own copy: not even its owner can change it. "-try": agent code that
        # moved the copy away must not make every later exec fail.
        args += ["--ro-bind-try", path, path]
    args += ["--remount-ro", "/", "--chdir", run_dir, *caps, "--"]
    return args


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
    """The fallback without bubblewrap: network, PID, IPC and UTS namespaces, no filesystem view."""
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
