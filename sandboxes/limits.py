"""Resource limits for sandboxed processes and the rlimit hook that applies them."""

from __future__ import annotations

import math
import os
import resource
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sandboxes.errors import SandboxError

# Seconds between the soft CPU limit (SIGXCPU, catchable, lets the child report it)
# and the hard one (SIGKILL).
CPU_HARD_GRACE_S = 5
_PRLIMIT_DIRS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin")
_PRLIMIT_OPTION = {
    resource.RLIMIT_AS: "--as",
    resource.RLIMIT_CORE: "--core",
    resource.RLIMIT_CPU: "--cpu",
    resource.RLIMIT_FSIZE: "--fsize",
    resource.RLIMIT_NOFILE: "--nofile",
    resource.RLIMIT_NPROC: "--nproc",
}


@dataclass(frozen=True)
class SandboxLimits:
    """Limits applied to every exec in a sandbox. ``None`` leaves a limit as inherited."""

    timeout_s: float = 300.0
    """Default wall-clock budget of one exec, in seconds (time spent paused is not counted)."""
    output_cap_bytes: int = 1_048_576
    """Bytes captured per stream (stdout, stderr) per exec; the rest is drained and dropped."""
    memory_bytes: int | None = 4 * 1024**3
    """Address-space limit (RLIMIT_AS) of each process."""
    cpu_seconds: int | None = 600
    """CPU-time limit (RLIMIT_CPU) of each process."""
    file_size_bytes: int | None = 512 * 1024**2
    """Largest file a process may write (RLIMIT_FSIZE)."""
    open_files: int | None = 256
    """Most open file descriptors per process (RLIMIT_NOFILE)."""
    processes: int | None = 256
    """Most processes at once: the pids limit (docker) or RLIMIT_NPROC of the sandbox's own
    uid (bwrap). Not applied by the unconfined process level, whose uid is the host's."""
    cpus: float | None = 1.0
    """CPU share of the whole sandbox, in cores (docker only; local sandboxes have no cgroup)."""
    tmp_bytes: int = 256 * 1024**2
    """Size of the private ``/tmp`` (and ``/dev/shm``) tmpfs of confined sandboxes."""
    nice: int | None = 10
    """CPU priority of agent code below the engine and the UI (``nice``; a quarter of the
    default CPU weight for docker): agents that fill every core must not freeze the room."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise SandboxError(f"timeout_s must be a positive number of seconds, got {self.timeout_s!r}")
        if self.output_cap_bytes < 1:
            raise SandboxError(f"output_cap_bytes must be at least 1, got {self.output_cap_bytes!r}")
        for name in ("memory_bytes", "cpu_seconds", "file_size_bytes", "open_files", "processes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SandboxError(f"{name} must be positive or None, got {value!r}")
        if self.cpus is not None and not (math.isfinite(self.cpus) and self.cpus > 0):
            raise SandboxError(f"cpus must be a positive number of cores or None, got {self.cpus!r}")
        if self.tmp_bytes < 1024**2:
            raise SandboxError(f"tmp_bytes must be at least 1 MiB, got {self.tmp_bytes!r}")


RlimitSettings = list[tuple[int, tuple[int, int]]]


def _clamp_to_hard(res: int, value: int) -> int:
    """Never ask for more than the current hard limit: only root may raise it."""
    hard = resource.getrlimit(res)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def rlimit_settings(limits: SandboxLimits, *, processes: bool = False) -> RlimitSettings:
    """Compute ``(resource, (soft, hard))`` pairs in the parent, before any fork.

    Soft and hard are set together so the child cannot raise its own limits again.
    ``processes`` adds RLIMIT_NPROC: only for a child whose uid is its own (it counts
    every process of that uid, and root is exempt from it).
    """
    settings: RlimitSettings = [(resource.RLIMIT_CORE, (0, 0))]
    for res, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_NPROC, limits.processes if processes else None),
    ):
        if value is not None:
            clamped = _clamp_to_hard(res, value)
            settings.append((res, (clamped, clamped)))
    if limits.cpu_seconds is not None:
        soft = _clamp_to_hard(resource.RLIMIT_CPU, limits.cpu_seconds)
        hard = _clamp_to_hard(resource.RLIMIT_CPU, limits.cpu_seconds + CPU_HARD_GRACE_S)
        settings.append((resource.RLIMIT_CPU, (soft, max(soft, hard))))
    return settings


def make_preexec(limits: SandboxLimits, *, processes: bool = False) -> Callable[[], None]:
    """Return a ``preexec_fn`` that applies ``limits`` in the forked child.

    preexec_fn runs between fork and exec, where another thread of the host may have
    held a lock at fork time; so everything is computed here, in the parent, and the
    hook itself only makes ``setrlimit`` calls, which take no Python-level locks.
    """
    settings = rlimit_settings(limits, processes=processes)
    setrlimit = resource.setrlimit
    niceness = limits.nice

    def apply_limits() -> None:
        for res, pair in settings:
            setrlimit(res, pair)
        if niceness:
            os.nice(niceness)

    return apply_limits


def find_prlimit() -> str | None:
    """Absolute path of util-linux ``prlimit`` in the system dirs, or None."""
    return shutil.which("prlimit", path=os.pathsep.join(_PRLIMIT_DIRS))


@dataclass(frozen=True)
class RlimitLauncher:
    """How a child gets its limits: an argv prefix, or a ``preexec_fn`` hook.

    The preferred way is the ``prlimit`` wrapper, which sets the limits on itself and
    then execs the command (same pid, so same process group). Any ``preexec_fn`` makes
    ``subprocess`` fork instead of vfork, and fork copies the page tables of the host:
    measured here, a host holding 3 GB (torch loaded) paid ~100 ms per exec instead
    of ~1 ms. The hook is the fallback where ``prlimit`` is missing.
    """

    prefix: tuple[str, ...]
    preexec_fn: Callable[[], None] | None

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The argv to spawn for ``argv``."""
        return [*self.prefix, "--", *argv] if self.prefix else list(argv)


def rlimit_launcher(
    limits: SandboxLimits, prlimit: str | None = None, *, processes: bool = False
) -> RlimitLauncher:
    """Pick how ``limits`` are applied: through ``prlimit`` when given, else the hook."""
    if prlimit is None:
        return RlimitLauncher(prefix=(), preexec_fn=make_preexec(limits, processes=processes))
    settings = rlimit_settings(limits, processes=processes)
    options = [f"{_PRLIMIT_OPTION[res]}={soft}:{hard}" for res, (soft, hard) in settings]
    nice = shutil.which("nice", path=os.pathsep.join(_PRLIMIT_DIRS)) if limits.nice else None
    lower = (nice, "-n", str(limits.nice)) if nice else ()
    return RlimitLauncher(prefix=(*lower, prlimit, *options), preexec_fn=None)
