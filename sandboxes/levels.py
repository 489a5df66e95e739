"""Which isolation level a local sandbox can have on this host, strongest first.

- ``bwrap``: bubblewrap namespaces and a filesystem built from nothing (see bwrap.py).
- ``namespaces``: ``unshare`` gives no network and an own PID namespace, but the
  host filesystem stays visible.
- ``process``: rlimits and a scrubbed environment only.

Each level is probed once by running ``true`` under it: an installed bwrap may still
fail where the kernel forbids user namespaces, and a probe says so plainly.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

from sandboxes.bwrap import unshare_argv
from sandboxes.errors import SandboxError

logger = logging.getLogger(__name__)

BWRAP = "bwrap"
NAMESPACES = "namespaces"
PROCESS = "process"
LEVELS = (BWRAP, NAMESPACES, PROCESS)
PROBE_TIMEOUT_S = 10.0
_SYSTEM_DIRS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin")


def system_tool(name: str) -> str | None:
    """Absolute path of ``name`` in the system dirs (never a PATH entry agent code could plant)."""
    return shutil.which(name, path=os.pathsep.join(_SYSTEM_DIRS))


def _run_probe(argv: list[str]) -> str | None:
    """None when ``argv`` runs and exits 0; else why not, in a few words."""
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{argv[0]} could not run: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return f"{os.path.basename(argv[0])} failed: {detail[-1] if detail else f'exit {done.returncode}'}"
    return None


@dataclass(frozen=True)
class LevelProbe:
    """Whether one level works here, and why not when it does not."""

    level: str
    available: bool
    reason: str = ""


@functools.lru_cache(maxsize=None)
def probe(level: str) -> LevelProbe:
    """Try ``level`` once (cached for the life of the process)."""
    as_root = os.geteuid() == 0
    if level == PROCESS:
        return LevelProbe(level, True)
    if level == BWRAP:
        bwrap = system_tool("bwrap")
        if bwrap is None:
            return LevelProbe(level, False, "bubblewrap is not installed (apt-get install bubblewrap)")
        if as_root and system_tool("setpriv") is None:
            return LevelProbe(level, False, "setpriv (util-linux) is missing, so root cannot drop to a sandbox uid")
        namespaces = ["--unshare-net", "--unshare-pid", "--unshare-ipc"] if as_root else ["--unshare-all"]
        reason = _run_probe([bwrap, *namespaces, "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"])
        return LevelProbe(level, reason is None, reason or "")
    if level == NAMESPACES:
        unshare = system_tool("unshare")
        if unshare is None:
            return LevelProbe(level, False, "unshare (util-linux) is not installed")
        reason = _run_probe([*unshare_argv(unshare, as_root=as_root), "true"])
        return LevelProbe(level, reason is None, reason or "")
    raise SandboxError(f"unknown isolation level {level!r} (known: {', '.join(LEVELS)})")


@functools.lru_cache(maxsize=1)
def strongest_level() -> str:
    """The strongest level that works here; logs (once) why each stronger one was passed over."""
    for level in LEVELS:
        result = probe(level)
        if result.available:
            return level
        logger.warning("sandbox isolation level %r is unavailable: %s", level, result.reason)
    return PROCESS  # unreachable: PROCESS always probes available


def require_level(level: str) -> None:
    """Raise ``SandboxError`` saying why, when ``level`` does not work here."""
    result = probe(level)
    if not result.available:
        raise SandboxError(f"the {level!r} sandbox isolation level is unavailable here: {result.reason}")
