"""The hardened local sandbox: ``LocalSandbox`` with each exec inside namespaces.

At the ``bwrap`` level (the default, and the minimum unless a weaker one is asked for
by naming its risk; see ``levels``) an exec sees the fixed view of ``layout``: no
network, a read-only system, its own ``/etc``, ``/tmp`` and ``/dev``, its own PID
namespace, the inputs read-only at ``/data`` and ``/shared``, the work dir at
``/work``; on a root host it runs as a uid of its own, so RLIMIT_NPROC bounds fork
bombs and no host file is its to change. The ``namespaces`` level (no network, own
PIDs, the host filesystem visible) and the bare ``process`` level run only when a
campaign names their risk; the ``isolation`` string names the level in force and what
it leaves open.

Every exec is its own namespace: when its main process exits, the namespace's init
dies and the kernel kills whatever it left behind, ``setsid`` or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from sandboxes import levels
from sandboxes.bwrap import BwrapBinary, bwrap_argv, setpriv_argv, unshare_argv
from sandboxes.layout import DATA, SHARED, WORK, exec_scratch
from sandboxes.limits import SandboxLimits, find_prlimit, rlimit_launcher
from sandboxes.local import ISOLATION as PROCESS_ISOLATION
from sandboxes.local import LocalSandbox
from sandboxes.pidns import namespaces_below, signal_namespaces
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
            "private /tmp, /etc, /dev and work dir, at the same paths in every sandbox; "
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
    """A local sandbox whose execs run at the isolation level asked of it, never weaker."""

    def __init__(
        self,
        *,
        workdir: Path,
        data_files: Mapping[str, Path] = _NO_FILES,
        limits: SandboxLimits = SandboxLimits(),
        extra_env: Mapping[str, str] = _EMPTY,
        shared_dir: Path | None = None,
        level: str = levels.BWRAP,
        accept_risk: str = "",
        identity: str | None = None,
    ) -> None:
        """``level`` is one of ``levels.LEVELS``; one weaker than bwrap needs ``accept_risk``
        to be its risk's name (``levels.RISKS``). Raises ``SandboxError`` when the level
        may not, or cannot, run here: never a silent fallback. ``identity``: what a root
        host derives the sandbox's uid from (default: the work dir; see ``create_sandbox``)."""
        super().__init__(workdir=workdir, data_files=data_files, limits=limits, extra_env=extra_env,
                         shared_dir=shared_dir)
        levels.require_level(level, accept_risk)
        self.level = level
        self._own_devices = level == levels.BWRAP and os.geteuid() == 0
        self._overlay_view = level == levels.BWRAP
        if level == levels.BWRAP:
            self._user = sandbox_user(os.path.realpath(identity) if identity else self._root)
        else:
            self._user = SandboxUser(*_host_ids(), dedicated=False)
        self._owner = self._user.owner
        self.isolation = describe_isolation(level, self._user)
        confined = level != levels.PROCESS
        # RLIMIT_NPROC only where the uid is the sandbox's own or lives in its own namespace.
        self._launcher = rlimit_launcher(limits, find_prlimit(), processes=level == levels.BWRAP)
        self._prefix = self._build_prefix() if confined else []
        # Looked up once: `which` on every exec would cost stat calls for nothing.
        self._bwrap: BwrapBinary | None = levels.find_bwrap()[0] if level == levels.BWRAP else None
        self._unshare = levels.system_tool("unshare") if level == levels.NAMESPACES else None
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

    def _links(self) -> dict[str, str]:
        if self.level == levels.BWRAP:
            return {"data": DATA, "shared": SHARED}
        return super()._links()

    def _view_paths(self) -> tuple[Path, str]:
        if self.level == levels.BWRAP:
            return Path(WORK), self.runtime.bin_dir
        return super()._view_paths()

    async def start(self) -> None:
        """Prepare the work dir and box, give the work dir to the sandbox's uid, log the level."""
        await super().start()
        await asyncio.to_thread(hand_over, self._root, self._user)
        if not self._announced:
            self._announced = True
            log = logger.info if self.level == levels.BWRAP else logger.warning
            log("sandbox at %s: isolation %s", self._root, self.isolation)

    def _spawn_dir(self, run_dir: str) -> str:
        # bwrap enters run_dir with --chdir inside the sandbox's own view, from the host-owned
        # box: the host never chdirs through a path agent code controls.
        return self._box.root if self.level == levels.BWRAP else run_dir

    def _exec_scratch(self) -> contextlib.AbstractContextManager[str]:
        if self._bwrap is None:
            return super()._exec_scratch()
        return exec_scratch(self._box, None)  # mounted by bwrap as root, or as the host user

    def _command(self, argv: list[str], run_dir: str, scratch: str) -> list[str]:
        inner = [*self._prefix, *self._launcher.wrap(argv)]
        if self._bwrap is not None:
            outer = bwrap_argv(
                self._bwrap,
                box=self._box,
                etc=self._host_etc,
                run_dir=WORK + run_dir[len(self._root):],
                scratch=scratch,
                shared=self._shared_dir,
                tmp_bytes=self.limits.tmp_bytes,
                runtime=self.runtime,
                as_root=self._user.dedicated,
            )
            return [*outer, *inner]
        if self._unshare is not None:
            return [*unshare_argv(self._unshare, as_root=self._user.uid == 0), *inner]
        return inner

    def _pause_child(self, child: ChildProcess) -> None:
        child.pause()  # the wrapper's group, and the deadline
        if self.level != levels.PROCESS:
            signal_namespaces(namespaces_below(child.pgid), signal.SIGSTOP)

    def _resume_child(self, child: ChildProcess) -> None:
        if self.level != levels.PROCESS:
            signal_namespaces(namespaces_below(child.pgid), signal.SIGCONT)
        child.resume()


def _host_ids() -> tuple[int, int]:
    return os.getuid(), os.getgid()


def create_local_sandbox(
    *,
    workdir: Path,
    data_files: Mapping[str, Path] = _NO_FILES,
    limits: SandboxLimits = SandboxLimits(),
    extra_env: Mapping[str, str] = _EMPTY,
    shared_dir: Path | None = None,
    isolation: str = levels.BWRAP,
    accept_risk: str = "",
    identity: str | None = None,
) -> ConfinedSandbox:
    """Registry factory of the ``local`` backend, at ``isolation`` (bwrap unless a weaker
    level's risk is accepted by name)."""
    return ConfinedSandbox(workdir=workdir, data_files=data_files, limits=limits, extra_env=extra_env,
                           shared_dir=shared_dir, level=isolation, accept_risk=accept_risk, identity=identity)
