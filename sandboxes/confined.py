"""The hardened local sandbox: ``LocalSandbox`` with each exec inside namespaces.

At the ``bwrap`` level an exec sees no network, a read-only system, a private
``/tmp`` and its own PID namespace; on a root host it runs as a uid of its own, so
RLIMIT_NPROC bounds fork bombs and no host file is its to change. Where bubblewrap
is missing the sandbox falls back to ``unshare`` (no network, own PIDs, but the host
filesystem visible) and, last, to the bare process level; the ``isolation`` string
names the level in force and what it leaves open, and a weaker level logs a warning.

Every exec is its own namespace: when its main process exits, the namespace's init
dies and the kernel kills whatever it left behind, ``setsid`` or not.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from sandboxes import levels
from sandboxes.bwrap import bwrap_argv, setpriv_argv, unshare_argv
from sandboxes.limits import SandboxLimits, find_prlimit, rlimit_launcher
from sandboxes.local import ISOLATION as PROCESS_ISOLATION
from sandboxes.local import LocalSandbox
from sandboxes.pidns import namespace_below, signal_namespace
from sandboxes.process import ChildProcess
from sandboxes.users import SandboxUser, hand_over, sandbox_user

logger = logging.getLogger(__name__)

_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_FILES: Mapping[str, Path] = MappingProxyType({})


def describe_isolation(level: str, user: SandboxUser) -> str:
    """The ``isolation`` string of a local sandbox at ``level``: what holds, and what does not."""
    if level == levels.BWRAP:
        return (
            "bwrap (no network; read-only system, inputs and agent Python (numpy, torch; no aar); "
            "private /tmp and work dir; "
            f"own PID namespace; {user.describe()}; rlimits incl. processes; "
            "not isolated: the kernel, total disk use of the work dir)"
        )
    if level == levels.NAMESPACES:
        who = "root without capabilities" if user.uid == 0 else f"the host user (uid {user.uid})"
        return (
            f"namespaces (no network, own PID namespace, rlimits; runs as {who}; "
            "NOT isolated: the host filesystem is visible, and writable wherever that user may write)"
        )
    return PROCESS_ISOLATION


class ConfinedSandbox(LocalSandbox):
    """A local sandbox whose execs run under the strongest available isolation level."""

    def __init__(
        self,
        *,
        workdir: Path,
        readonly_files: Mapping[str, Path] = _NO_FILES,
        limits: SandboxLimits = SandboxLimits(),
        extra_env: Mapping[str, str] = _EMPTY,
        shared_dirs: Mapping[str, Path] = _NO_FILES,
        level: str | None = None,
    ) -> None:
        """``level`` forces one of ``levels.LEVELS``; None picks the strongest that works here."""
        super().__init__(workdir=workdir, readonly_files=readonly_files, limits=limits, extra_env=extra_env,
                         shared_dirs=shared_dirs)
        if level is None:
            level = levels.strongest_level()
        else:
            levels.require_level(level)
        self.level = level
        self._binds_shared = level == levels.BWRAP
        if level == levels.BWRAP:
            self._user = sandbox_user(self._root)
        else:
            self._user = SandboxUser(*_host_ids(), dedicated=False)
        self._owner = self._user.owner
        self.isolation = describe_isolation(level, self._user)
        confined = level != levels.PROCESS
        # RLIMIT_NPROC only where the uid is the sandbox's own or lives in its own namespace.
        self._launcher = rlimit_launcher(limits, find_prlimit(), processes=level == levels.BWRAP)
        self._prefix = self._build_prefix() if confined else []
        # Looked up once: `which` on every exec would cost stat calls for nothing.
        self._wrapper = levels.system_tool("bwrap" if level == levels.BWRAP else "unshare") if confined else None
        self._announced = False

    def _build_prefix(self) -> list[str]:
        """Tools between the wrapper and the rlimits: uid drop, OOM preference."""
        prefix: list[str] = []
        choom = levels.system_tool("choom")
        if choom is not None:
            # Under host memory pressure the kernel kills agent code before the host.
            prefix += [choom, "-n", "1000", "--"]
        setpriv = levels.system_tool("setpriv")
        if self._user.dedicated and setpriv is not None:
            prefix += setpriv_argv(setpriv, self._user.uid, self._user.gid)
        elif self.level == levels.NAMESPACES and self._user.uid == 0 and setpriv is not None:
            prefix += [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return prefix

    @property
    def user(self) -> SandboxUser:
        """The uid and gid agent code runs as."""
        return self._user

    async def start(self) -> None:
        """Prepare the work dir, give it to the sandbox's uid, and log the isolation level."""
        await super().start()
        await asyncio.to_thread(hand_over, self._root, self._user, self._readonly_copies)
        if not self._announced:
            self._announced = True
            log = logger.info if self.level == levels.BWRAP else logger.warning
            log("sandbox at %s: isolation %s", self._root, self.isolation)

    def _spawn_dir(self, run_dir: str) -> str:
        # bwrap enters run_dir with --chdir inside the sandbox's own view: the host never
        # chdirs through a path agent code controls.
        return self._root if self.level == levels.BWRAP else run_dir

    def _command(self, argv: list[str], run_dir: str) -> list[str]:
        inner = [*self._prefix, *self._launcher.wrap(argv)]
        if self._wrapper is None:
            return inner
        if self.level == levels.BWRAP:
            outer = bwrap_argv(
                self._wrapper,
                workdir=self._root,
                run_dir=run_dir,
                readonly=self._readonly_copies,
                tmp_bytes=self.limits.tmp_bytes,
                own_uid=self._user.dedicated,
                runtime=self.runtime,
                shared={os.path.join(self._root, name): str(src) for name, src in self._shared_dirs.items()},
            )
            return [*outer, *inner]
        return [*unshare_argv(self._wrapper, as_root=self._user.uid == 0), *inner]

    def _pause_child(self, child: ChildProcess) -> None:
        child.pause()  # the wrapper's group, and the deadline
        if self.level != levels.PROCESS:
            namespace = namespace_below(child.pgid)
            if namespace is not None:
                signal_namespace(namespace, signal.SIGSTOP)

    def _resume_child(self, child: ChildProcess) -> None:
        if self.level != levels.PROCESS:
            namespace = namespace_below(child.pgid)
            if namespace is not None:
                signal_namespace(namespace, signal.SIGCONT)
        child.resume()


def _host_ids() -> tuple[int, int]:
    return os.getuid(), os.getgid()


def create_local_sandbox(
    *,
    workdir: Path,
    readonly_files: Mapping[str, Path] = _NO_FILES,
    limits: SandboxLimits = SandboxLimits(),
    extra_env: Mapping[str, str] = _EMPTY,
    shared_dirs: Mapping[str, Path] = _NO_FILES,
) -> ConfinedSandbox:
    """Registry factory of the ``local`` backend: the strongest isolation this host allows."""
    return ConfinedSandbox(workdir=workdir, readonly_files=readonly_files, limits=limits, extra_env=extra_env,
                           shared_dirs=shared_dirs)
