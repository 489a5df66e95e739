"""Signalling every process of a confined exec, found by its PID namespace.

A confined exec runs in PID namespaces of its own, started by a wrapper process
(``bwrap`` or ``unshare``) that stays in the host's namespace; the bwrap level nests
two (the outer and the inner bwrap). Agent code may leave the wrapper's process group
(``setsid``), so signalling the group does not reach it; membership in a namespace
cannot be shed, so pause and resume signal every process whose ``/proc/PID/ns/pid``
is one of the namespaces found below the wrapper.
"""

from __future__ import annotations

import os
import signal

# A process forking while we stop its siblings may add an unstopped one; rescans
# catch those. Processes are bounded (RLIMIT_NPROC), so a few rounds suffice.
STOP_ROUNDS = 8


def _pid_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def namespaces_below(wrapper_pid: int, max_depth: int = 6) -> set[str]:
    """The PID namespaces of ``wrapper_pid``'s descendants that differ from the wrapper's own."""
    own = _pid_ns(wrapper_pid)
    found: set[str] = set()
    level = [wrapper_pid]
    for _ in range(max_depth):
        level = [child for pid in level for child in _children(pid)]
        if not level:
            break
        for pid in level:
            ns = _pid_ns(pid)
            if ns is not None and ns != own:
                found.add(ns)
    return found


def members(namespaces: set[str]) -> list[int]:
    """Host pids of the processes in any of ``namespaces`` (as ``readlink`` shows them)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _pid_ns(int(entry)) in namespaces:
            found.append(int(entry))
    return found


def signal_namespaces(namespaces: set[str], sig: int) -> int:
    """Send ``sig`` to every process in ``namespaces``; returns how many got it.

    For SIGSTOP, rescans until every member is stopped (or ``STOP_ROUNDS`` pass), so a
    child forked during the sweep is frozen too.
    """
    if not namespaces:
        return 0
    signalled: set[int] = set()
    for _ in range(STOP_ROUNDS if sig == signal.SIGSTOP else 1):
        pending = [pid for pid in members(namespaces) if pid not in signalled or _state(pid) not in "TtZX"]
        if not pending:
            break
        for pid in pending:
            try:
                os.kill(pid, sig)
                signalled.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
    return len(signalled)
