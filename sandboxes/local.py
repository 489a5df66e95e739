"""The local sandbox: agent code as host subprocesses with rlimits, a scrubbed
environment and a private work dir: the base of the ``local`` backend; no container engine needed.

What it does NOT isolate: the child sees the host filesystem (it runs as the host
user, so it can read whatever that user can), the network, and other processes. A
child that calls ``setsid`` leaves its process group and escapes pause and kill.
``ConfinedSandbox`` (confined.py, the ``local`` backend) wraps each exec in
namespaces and closes those gaps; this class is its ``process`` level (run only when a
campaign names that level's risk) and the base it builds on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from sandboxes.environment import build_env, check_env
from sandboxes.errors import SandboxClosedError, SandboxError
from sandboxes.files import (
    ensure_tmp,
    exec_dir,
    place_link,
    prepare_workdir,
    read_inside,
    write_inside,
)
from sandboxes.layout import box_for, check_data_name, host_etc, prepare_box, read_root
from sandboxes.limits import SandboxLimits, find_prlimit, rlimit_launcher
from sandboxes.output import OutputCapture
from sandboxes.process import ChildProcess
from sandboxes.protocol import ExecResult, OutputCallback
from sandboxes.runtime import AgentRuntime, agent_runtime, default_cache_root

logger = logging.getLogger(__name__)

ISOLATION = "process (rlimits, scrubbed env, private workdir; no filesystem, network or PID isolation)"
TIMEOUT_GRACE_S = 1.0  # SIGTERM -> SIGKILL when an exec's wall-clock budget runs out
CLOSE_GRACE_S = 2.0  # SIGTERM -> SIGKILL on close
PIPE_DRAIN_S = 1.0  # how long an exec waits for output after its main process exited
_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_FILES: Mapping[str, Path] = MappingProxyType({})


def check_argv(cmd: Sequence[str]) -> list[str]:
    """``cmd`` as a list, or ``SandboxError`` when it is a string, empty or holds non-strings."""
    if isinstance(cmd, (str, bytes)):
        raise SandboxError(
            "cmd must be an argv list such as ['python', 'train.py'], not a string; "
            "for shell syntax pass ['bash', '-lc', '...']"
        )
    argv = list(cmd)
    if not argv:
        raise SandboxError("cmd is empty")
    for arg in argv:
        if not isinstance(arg, str) or "\0" in arg:
            raise SandboxError(f"cmd arguments must be strings without NUL bytes, got {arg!r}")
    return argv


def exec_budget(timeout_s: float | None, default: float) -> float:
    """The wall-clock budget of one exec: ``timeout_s`` checked, or the sandbox default."""
    if timeout_s is None:
        return default
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
        raise SandboxError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    return float(timeout_s)


class LocalSandbox:
    """A sandbox whose execs are host subprocesses, each in its own process group.

    ``close()`` stops every process but keeps the work dir: a campaign reviews what an
    agent left there after the fact, and deleting it is the campaign's decision.
    """

    backend: str = "local"
    isolation: str = ISOLATION

    def __init__(
        self,
        *,
        workdir: Path,
        data_files: Mapping[str, Path] = _NO_FILES,
        limits: SandboxLimits = SandboxLimits(),
        extra_env: Mapping[str, str] = _EMPTY,
        shared_dir: Path | None = None,
    ) -> None:
        """``data_files`` maps a path under ``/data`` to the host file seen read-only there;
        ``shared_dir`` is a host dir seen read-only (live) at ``/shared``."""
        if os.path.islink(workdir):
            raise SandboxError(f"the sandbox work dir {workdir} is a symlink; give the real directory")
        # Real path: the host opens everything below it by descriptor, from this root.
        self.workdir: Path = Path(os.path.realpath(workdir))
        self._root = str(self.workdir)
        self._box = box_for(self._root)
        check_env(extra_env, origin="sandbox extra_env")
        self._extra_env = dict(extra_env)
        for name in data_files:
            check_data_name(name)  # refuse escaping names before anything runs
        self._data_sources = {name: Path(src) for name, src in data_files.items()}
        self._shared_dir = None if shared_dir is None else os.path.realpath(shared_dir)
        self._owner: tuple[int, int] | None = None  # (uid, gid) given what the host writes
        self._limits = limits
        self._launcher = rlimit_launcher(limits, find_prlimit())
        self._runtime: AgentRuntime | None = None  # the agent Python, found or built by start()
        self._host_etc = ""  # the shared /etc entries' per-host copy, found or made by start()
        self._children: set[ChildProcess] = set()
        self._resumed = asyncio.Event()  # cleared while paused; new execs wait on it
        self._resumed.set()
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._close_task: asyncio.Future[None] | None = None

    @property
    def paused(self) -> bool:
        """True between ``pause()`` and ``resume()``."""
        return not self._resumed.is_set() and not self._closed

    @property
    def limits(self) -> SandboxLimits:
        """The limits every exec runs under."""
        return self._limits

    @property
    def runtime(self) -> AgentRuntime:
        """The agent runtime whose ``python`` execs run (known once started)."""
        if self._runtime is None:
            raise SandboxError("the sandbox is not started: call start() first")
        return self._runtime

    async def start(self) -> None:
        """Create the work dir (mode 0700) and the box beside it (inputs, ``etc``), and find
        (or build, once per host) the agent runtime. Idempotent."""
        async with self._start_lock:
            if self._closed:
                raise SandboxClosedError("the sandbox is closed")
            if self._started:
                return
            self._runtime = await asyncio.to_thread(agent_runtime)
            self._host_etc = await asyncio.to_thread(host_etc, str(default_cache_root()))
            await asyncio.to_thread(self._prepare)
            self._started = True

    def _prepare(self) -> None:
        prepare_workdir(self._root)
        uid, gid = self._owner or (os.getuid(), os.getgid())
        # Hard links only where agent code sees them through an overlay: at a level that shows
        # the host's filesystem, a link would let agent code write the host's own input file.
        prepare_box(self._box, self._data_sources, uid=uid, gid=gid, devices=self._own_devices,
                    link=self._overlay_view)
        # Agent code reads data/ and shared/ relative to its work dir; in a confined view
        # they point at the fixed mounts, here at the host's (nothing is isolated here).
        for name, target in self._links().items():
            place_link(self._root, name, target)

    _own_devices = False  # only a confined view has device nodes of its own
    _overlay_view = False  # only a confined view shows inputs through overlays

    def _links(self) -> dict[str, str]:
        """Links placed in the work dir: name -> target, as agent code resolves it."""
        return {"data": self._box.data, "shared": self._shared_dir or self._box.empty}

    def _view_paths(self) -> tuple[Path, str]:
        """(HOME, PATH's runtime bin) as agent code sees them."""
        return self.workdir, self.runtime.host_bin_dir

    def _ensure_usable(self) -> None:
        if self._closed:
            raise SandboxClosedError("the sandbox is closed")
        if not self._started:
            raise SandboxError("the sandbox is not started: call start() first")

    async def exec(
        self,
        cmd: Sequence[str],
        *,
        timeout_s: float | None = None,
        on_output: OutputCallback | None = None,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run ``cmd`` (argv, no shell) in the work dir and return its captured result.

        Lines reach ``on_output`` as they arrive. While the sandbox is paused this waits
        for ``resume()`` before starting anything. A command that cannot be started
        returns 127 (not found) or 126 (not executable), as a shell would.
        """
        argv = check_argv(cmd)
        self._ensure_usable()
        budget = exec_budget(timeout_s, self._limits.timeout_s)
        home, python_bin = self._view_paths()
        child_env = build_env(home, extra_env=self._extra_env, exec_env=env, python_bin=python_bin)
        run_dir = exec_dir(self._root, cwd)
        await self._resumed.wait()
        self._ensure_usable()  # close() may have run while we waited
        ensure_tmp(self._root, self._owner)
        cap = self._limits.output_cap_bytes
        stdout = OutputCapture("stdout", cap, on_output)
        stderr = OutputCapture("stderr", cap, on_output)
        started = time.monotonic()
        with self._exec_scratch() as scratch:
            return await self._spawn_and_wait(argv, run_dir, scratch, child_env, budget, stdout, stderr, started)

    async def _spawn_and_wait(self, argv: list[str], run_dir: str, scratch: str, child_env: dict[str, str],
                              budget: float, stdout: OutputCapture, stderr: OutputCapture, started: float) -> ExecResult:
        try:
            child = await ChildProcess.spawn(
                self._command(argv, run_dir, scratch),
                cwd=self._spawn_dir(run_dir),
                env=child_env,
                preexec_fn=self._launcher.preexec_fn,
                stdout=stdout,
                stderr=stderr,
                budget_s=budget,
            )
        except OSError as exc:
            return self._spawn_failure(argv[0], exc, stderr, started)
        except subprocess.SubprocessError as exc:
            raise SandboxError(f"could not start {argv[0]!r} in the sandbox: {exc}") from exc
        self._children.add(child)
        try:
            # Spawning awaited: close() or pause() may have run without seeing this child.
            if self._closed:
                child.signal(signal.SIGKILL)
            elif self.paused:
                self._pause_child(child)
            timed_out = not await child.wait_or_deadline()
            if timed_out:
                await child.terminate(TIMEOUT_GRACE_S)
            await child.finish(PIPE_DRAIN_S)
        finally:
            self._children.discard(child)
            child.release()  # no-op after finish(); kills the group if we were cancelled
        return ExecResult(
            returncode=None if timed_out else child.returncode,
            stdout=stdout.text,
            stderr=stderr.text,
            timed_out=timed_out,
            truncated=stdout.truncated or stderr.truncated,
            duration_s=time.monotonic() - started,
        )

    def _spawn_dir(self, run_dir: str) -> str:
        """The host dir the spawned process starts in; confining subclasses that enter
        ``run_dir`` themselves (inside their own view) start from the work dir's root."""
        return run_dir

    def _exec_scratch(self) -> contextlib.AbstractContextManager[str]:
        """What one exec needs made before and removed after it (bwrap: its overlay work dir)."""
        return contextlib.nullcontext("")

    def _command(self, argv: list[str], run_dir: str, scratch: str) -> list[str]:
        """The argv actually spawned for ``argv``; confining subclasses wrap it further."""
        return self._launcher.wrap(argv)

    def _pause_child(self, child: ChildProcess) -> None:
        """Freeze one running exec (its process group and its deadline)."""
        child.pause()

    def _resume_child(self, child: ChildProcess) -> None:
        """Thaw what ``_pause_child`` froze."""
        child.resume()

    @staticmethod
    def _spawn_failure(program: str, exc: OSError, stderr: OutputCapture, started: float) -> ExecResult:
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        stderr.feed(f"{program}: {exc.strerror or exc}\n".encode())
        stderr.finish()
        return ExecResult(code, "", stderr.text, False, False, time.monotonic() - started)

    async def write_file(self, path: str, content: str | bytes) -> None:
        """Write ``content`` (text as UTF-8) to ``path`` under the work dir, creating parents."""
        self._ensure_usable()
        await asyncio.to_thread(write_inside, self._root, path, content, self._owner)

    async def read_file(self, path: str, *, max_bytes: int = 10_000_000) -> bytes:
        """Read ``path`` under the work dir; ``SandboxError`` if it exceeds ``max_bytes``."""
        self._ensure_usable()
        root, inside = read_root(self._box, self._shared_dir, path)
        return await asyncio.to_thread(read_inside, root, inside, max_bytes)

    async def pause(self) -> None:
        """SIGSTOP every running exec's group and freeze its timeout; later execs wait."""
        if self._closed or self.paused:
            return
        self._resumed.clear()
        for child in list(self._children):
            self._pause_child(child)

    async def resume(self) -> None:
        """SIGCONT what ``pause()`` stopped and let waiting execs start."""
        if self._closed or not self.paused:
            return
        for child in list(self._children):
            self._resume_child(child)
        self._resumed.set()

    async def close(self) -> None:
        """Stop every exec (SIGTERM, 2 s, SIGKILL); idempotent, bounded, never raises.

        The shutdown is shielded: cancelling the caller does not stop it half way.
        Only ``CancelledError`` of the caller itself propagates. The work dir is kept.
        """
        if self._close_task is None:
            self._closed = True
            self._resumed.set()  # wake execs waiting out a pause; they see the close
            self._close_task = asyncio.ensure_future(self._shutdown())
        try:
            await asyncio.shield(self._close_task)
        except asyncio.CancelledError:
            raise
        except Exception:  # _shutdown guards itself; this is a last resort
            logger.exception("closing the local sandbox at %s failed", self._root)

    async def _shutdown(self) -> None:
        children = list(self._children)
        try:
            for child in children:
                child.signal(signal.SIGTERM)
                child.signal(signal.SIGCONT)  # paused groups must run to act on SIGTERM
            await asyncio.gather(*(child.wait_exited(CLOSE_GRACE_S) for child in children))
            for child in children:
                if not child.exited:
                    child.signal(signal.SIGKILL)
            await asyncio.gather(*(child.wait_exited(1.0) for child in children))
        except Exception:
            logger.exception("error while stopping processes of the sandbox at %s", self._root)
            for child in children:
                child.signal(signal.SIGKILL)
