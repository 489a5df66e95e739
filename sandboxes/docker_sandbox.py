"""The Docker sandbox: one locked-down container per agent, for the agent's lifetime.

The container has no network, a read-only root, no capabilities, no privilege gain,
a non-root user, memory, CPU and pids limits (``docker_spec``). Agent code runs in it
under the same inner bubblewrap as the local sandbox (``bwrap``), which builds the
fixed view of ``layout`` from the container's staged dirs: the work dir read-write at
``/work``, the inputs read-only at ``/data``, the shared folder at ``/shared``, a
size-capped ``/tmp``. So both backends show agent code the same paths, and no host
path, campaign id or container id. A container that cannot be brought back to order is
removed and a new one made from a fresh spec, never restarted.

Execs stream their output; pause and resume freeze the whole container
(cgroup freezer). Containers carry labels (campaign, work dir, owning process) so a
crashed run's leftovers are found and removed: by the next start in the same work
dir, and by ``prune_containers`` (``aar sandboxes prune``).

A Docker engine that is absent fails ``start()`` with a ``SandboxError`` that says how
to start one; an engine that dies mid-run fails the exec with one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import stat
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import docker
import docker.errors

from sandboxes.clock import PausableDeadline
from sandboxes.docker_engine import (
    API_TIMEOUT_S,
    REMOVE_TIMEOUT_S,
    connect,
    engine_error,
    prune_containers,
    sandbox_labels,
)
from sandboxes.bwrap import BwrapBinary
from sandboxes.docker_exec import DockerExec, kill_exec_group
from sandboxes.docker_image import SandboxImage, resolve_image
from sandboxes.docker_spec import container_spec
from sandboxes.docker_view import InnerView, probe_view
from sandboxes.environment import build_env, check_env
from sandboxes.errors import SandboxClosedError, SandboxError
from sandboxes.files import ensure_tmp, exec_dir, place_link, prepare_workdir, read_inside, write_inside
from sandboxes.layout import (
    DATA,
    SHARED,
    WORK,
    box_for,
    check_data_name,
    exec_scratch,
    host_etc,
    prepare_box,
    read_root,
)
from sandboxes.levels import find_bwrap
from sandboxes.limits import SandboxLimits
from sandboxes.local import check_argv, exec_budget
from sandboxes.output import OutputCapture
from sandboxes.protocol import ExecResult, OutputCallback
from sandboxes.runtime import AgentRuntime, agent_runtime, default_cache_root
from sandboxes.users import hand_over, sandbox_user

logger = logging.getLogger(__name__)

KILL_WAIT_S = 3.0  # after a timeout kill, how long the exec's output may take to end
START_ATTEMPTS = 3  # an exec refused because a pause landed as it started is retried
_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_FILES: Mapping[str, Path] = MappingProxyType({})
def _name_part(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-.")[:40] or "x"


class DockerSandbox:
    """A sandbox whose execs run in one long-lived, locked-down container."""

    backend: str = "docker"

    def __init__(
        self,
        *,
        workdir: Path,
        data_files: Mapping[str, Path] = _NO_FILES,
        limits: SandboxLimits = SandboxLimits(),
        extra_env: Mapping[str, str] = _EMPTY,
        image: str | None = None,
        campaign: str | None = None,
        shared_dir: Path | None = None,
    ) -> None:
        """``image`` overrides the image choice (see ``docker_image.resolve_image``);
        ``campaign`` labels the container (default: the work dir's parent's name)."""
        if os.path.islink(workdir):
            raise SandboxError(f"the sandbox work dir {workdir} is a symlink; give the real directory")
        # Real path: the host opens everything below it by descriptor, from this root.
        self.workdir: Path = Path(os.path.realpath(workdir))
        self._root = str(self.workdir)
        self._box = box_for(self._root)
        check_env(extra_env, origin="sandbox extra_env")
        self._extra_env = dict(extra_env)
        for name in data_files:
            check_data_name(name)
        self._data_sources = {name: Path(src) for name, src in data_files.items()}
        self._shared_dir = None if shared_dir is None else os.path.realpath(shared_dir)
        self._limits = limits
        self._requested_image = image
        self.campaign = campaign or self.workdir.parent.name
        self._user = sandbox_user(None)
        self._exec_user = f"{self._user.uid}:{self._user.gid}"
        self._image: SandboxImage | None = None
        self._bwrap: BwrapBinary | None = None
        self._view: InnerView | None = None  # the inner bwrap each exec runs under
        self._runtime: AgentRuntime | None = None  # the host's agent runtime, for the offline image
        self._host_etc: str | None = None  # and the shared /etc entries' per-host copy
        self.isolation = self._describe("image chosen at start")
        self._client: docker.DockerClient | None = None
        self._container: Any = None
        self._execs: set[tuple[DockerExec, PausableDeadline]] = set()
        self._cleanups: set[asyncio.Future[None]] = set()  # kills of cancelled execs, referenced
        self._starts = 0  # execs the engine is still starting (see _starting)
        self._no_starts = asyncio.Event()
        self._no_starts.set()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._start_lock = asyncio.Lock()
        self._state_lock = asyncio.Lock()  # pause/resume/close, one at a time
        self._started = False
        self._closed = False
        self._close_task: asyncio.Future[None] | None = None

    def _describe(self, image: str) -> str:
        limits = self._limits
        memory = f"{limits.memory_bytes / 1024**3:.1f} GiB memory" if limits.memory_bytes else "no memory limit"
        cpus = f"{limits.cpus:g} CPUs" if limits.cpus else "no CPU limit"
        pids = f"{limits.processes} processes" if limits.processes else "no pids limit"
        return (
            f"docker ({image}; agent code under bubblewrap in the container: own mount, PID, user, IPC and "
            f"network namespaces; no network; read-only root and inputs; private /tmp; cap-drop ALL; "
            f"no-new-privileges; seccomp; {self._user.describe()}; {memory}, {cpus}, {pids}; not isolated: "
            f"the kernel)"
        )

    @property
    def paused(self) -> bool:
        """True between ``pause()`` and ``resume()``."""
        return not self._resumed.is_set() and not self._closed

    @property
    def limits(self) -> SandboxLimits:
        """The limits of the container and of every exec."""
        return self._limits

    @property
    def container_name(self) -> str | None:
        """The container's name once started."""
        return None if self._container is None else str(self._container.name)

    async def start(self) -> None:
        """Prepare the work dir, reach the engine, pick the image, start the container. Idempotent."""
        async with self._start_lock:
            if self._closed:
                raise SandboxClosedError("the sandbox is closed")
            if self._started:
                return
            await asyncio.to_thread(self._prepare)
            self._bwrap, why = await asyncio.to_thread(find_bwrap)
            if self._bwrap is None:
                raise SandboxError(f"the Docker sandbox runs agent code under bubblewrap in its container: {why}")
            client = await asyncio.to_thread(connect)
            self._client = client
            try:
                self._image = await asyncio.to_thread(resolve_image, client, self._requested_image)
                runtime = ""
                if self._image.host_runtime:
                    self._runtime = await asyncio.to_thread(agent_runtime)
                    self._host_etc = await asyncio.to_thread(host_etc, str(default_cache_root()))
                    runtime = "; host /usr and the agent runtime (numpy, torch) bound read-only"
                self.isolation = self._describe(self._image.name + runtime)
                # A crashed run may have left this work dir's container running: it goes.
                await asyncio.to_thread(prune_containers, workdir=self._root, client=client)
                self._container = await asyncio.to_thread(self._create_container, self._image)
                self._view = await asyncio.to_thread(self._probe)
            except BaseException:
                if self._container is not None:
                    await asyncio.to_thread(_remove, self._container)
                    self._container = None
                self._client = None
                await asyncio.to_thread(client.close)
                raise
            self._started = True
            logger.info("sandbox %s at %s: isolation %s", self.container_name, self._root, self.isolation)

    def _prepare(self) -> None:
        prepare_workdir(self._root)
        parent = os.stat(self._box.parent)
        if self._user.dedicated and not parent.st_mode & stat.S_IXOTH:
            # bwrap in the container reaches the work dir and the box as the sandbox's uid.
            raise SandboxError(f"the Docker sandbox's uid cannot reach its work dir: {self._box.parent} "
                               "is not searchable by others (chmod o+x it, or give a work dir below another)")
        # Hard links may share the host file's inode: bwrap shows them through an overlay.
        prepare_box(self._box, self._data_sources, uid=self._user.uid, gid=self._user.gid, devices=False,
                    link=True)
        if self._user.owner is not None:  # bwrap mounts the /work overlay as the sandbox's uid
            os.chown(self._box.overlay, *self._user.owner)
        for name, target in (("data", DATA), ("shared", SHARED)):
            place_link(self._root, name, target)
        hand_over(self._root, self._user)

    def _create_container(self, image: SandboxImage) -> Any:
        assert self._client is not None
        name = f"aar-{_name_part(self.campaign)}-{_name_part(self.workdir.name)}-{uuid.uuid4().hex[:8]}"
        assert self._bwrap is not None
        spec = container_spec(
            image,
            name=name,
            box=self._box,
            limits=self._limits,
            labels=sandbox_labels(campaign=self.campaign, workdir=self._root),
            bwrap=self._bwrap,
            runtime=self._runtime,
            host_etc=self._host_etc,
            shared=self._shared_dir,
        )
        try:
            return spec.create_container(self._client, image.name)
        except (docker.errors.DockerException, OSError) as exc:
            raise engine_error(f"starting a sandbox container from {image.name}", exc) from exc

    def _probe(self) -> InnerView:
        assert self._client is not None and self._image is not None and self._bwrap is not None
        return probe_view(self._client.api, self._container.id, self._exec_user, image=self._image, bwrap=self._bwrap,
                          box=self._box, owner=self._user.owner, runtime=self._runtime,
                          tmp_bytes=self._limits.tmp_bytes)

    @contextlib.asynccontextmanager
    async def _starting(self) -> AsyncIterator[None]:
        """Mark an exec as being started by the engine; ``pause()`` waits for none to be."""
        self._starts += 1
        self._no_starts.clear()
        try:
            yield
        finally:
            self._starts -= 1
            if self._starts == 0:
                self._no_starts.set()

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
        """Run ``cmd`` (argv, no shell) in the container's work dir and return its result.

        Lines reach ``on_output`` as they arrive. While paused this waits for ``resume()``.
        A lost engine raises ``SandboxError``; a timeout kills the command's process group.
        """
        argv = check_argv(cmd)
        self._ensure_usable()
        budget = exec_budget(timeout_s, self._limits.timeout_s)
        python_bin = self._runtime.bin_dir if self._runtime is not None else None
        child_env = build_env(Path(WORK), extra_env=self._extra_env, exec_env=env, python_bin=python_bin)
        run_dir = exec_dir(self._root, cwd)
        inside = os.path.normpath(PurePosixPath(WORK) / os.path.relpath(run_dir, self._root))
        started = time.monotonic()
        for attempt in range(START_ATTEMPTS):
            while not self._resumed.is_set():  # re-checked: a pause may land as the wait ends
                await self._resumed.wait()
            self._ensure_usable()
            ensure_tmp(self._root, self._user.owner)
            cap = self._limits.output_cap_bytes
            stdout = OutputCapture("stdout", cap, on_output)
            stderr = OutputCapture("stderr", cap, on_output)
            try:
                assert self._view is not None
                with exec_scratch(self._box, self._user.owner) as scratch:
                    code, timed_out = await self._run(self._view.wrap(argv, inside, scratch), child_env, budget,
                                                      stdout, stderr)
                break
            except SandboxError as exc:
                # pause() froze the container between our check and the engine creating the
                # exec (the engine refuses execs in a paused container): wait, then start over.
                if "paused" not in str(exc) or attempt == START_ATTEMPTS - 1:
                    raise
        return ExecResult(
            returncode=None if timed_out else code,
            stdout=stdout.text,
            stderr=stderr.text,
            timed_out=timed_out,
            truncated=stdout.truncated or stderr.truncated,
            duration_s=time.monotonic() - started,
        )

    async def _run(
        self,
        argv: list[str],
        env: Mapping[str, str],
        budget: float,
        stdout: OutputCapture,
        stderr: OutputCapture,
    ) -> tuple[int | None, bool]:
        """One attempt at an exec: (exit code, timed out)."""
        assert self._client is not None and self._container is not None
        run = DockerExec(
            self._client.api,
            self._container.id,
            argv,
            env=env,
            cwd="/",
            user=self._exec_user,
            stdout=stdout,
            stderr=stderr,
        )
        deadline = PausableDeadline(budget)
        entry = (run, deadline)
        self._execs.add(entry)  # from here on pause() freezes its deadline
        timed_out = False
        try:
            async with self._starting():
                run.start()
                started: set[asyncio.Future[Any]] = {run.running, run.done}
                await asyncio.wait(started, return_when=asyncio.FIRST_COMPLETED)
            while not run.done.done():
                remaining = deadline.remaining()
                if remaining <= 0:
                    timed_out = True
                    break
                await asyncio.wait({run.done}, timeout=remaining)
            if timed_out:
                await self._kill(run)
            code = await run.done
        except asyncio.CancelledError:
            if not run.done.done():
                # The caller is gone but the command still runs: kill it in the background.
                task = asyncio.ensure_future(self._kill(run))
                self._cleanups.add(task)
                task.add_done_callback(self._cleanups.discard)
            raise
        except SandboxError:
            if self._closed or timed_out:
                code = None  # the container went away under a kill or a close: that is the result
            else:
                raise
        finally:
            self._execs.discard(entry)
        if self._closed and not timed_out and code is None:
            code = 128 + signal.SIGKILL  # close() removed the container under it
        return code, timed_out

    async def _kill(self, run: DockerExec) -> None:
        """Kill one exec's process group; replace the container if that cannot be done."""
        while not self._resumed.is_set():  # a frozen container takes no exec (close() sets it)
            await self._resumed.wait()
        if self._closed or self._client is None:
            run.abort()
            return
        async with self._starting():  # the kill is an exec too: no pause may freeze it mid-start
            killed = await asyncio.to_thread(
                kill_exec_group, self._client.api, self._container.id, run.pid_file, self._exec_user
            )
            if not killed and not self._closed:
                logger.warning("could not kill an exec in %s; replacing the container", self.container_name)
                try:
                    await self._recreate()
                except (docker.errors.DockerException, OSError, SandboxError):
                    logger.exception("replacing sandbox container %s failed", self.container_name)
        done, _ = await asyncio.wait({run.done}, timeout=KILL_WAIT_S)
        if not done:
            run.abort()  # a setsid'd straggler still holds the output open: stop listening
            await asyncio.wait({run.done}, timeout=KILL_WAIT_S)

    async def _recreate(self) -> None:
        """Remove the container and make a new one from a fresh spec: the same host-owned
        sources and fixed targets, never anything the old container's processes left."""
        assert self._image is not None
        old = self._container
        await asyncio.to_thread(_remove, old)
        self._container = await asyncio.to_thread(self._create_container, self._image)
        logger.info("sandbox container %s replaced by %s", old.name, self.container_name)

    async def write_file(self, path: str, content: str | bytes) -> None:
        """Write ``content`` (text as UTF-8) to ``path`` under the work dir, owned by the sandbox user."""
        self._ensure_usable()
        await asyncio.to_thread(write_inside, self._root, path, content, self._user.owner)

    async def read_file(self, path: str, *, max_bytes: int = 10_000_000) -> bytes:
        """Read ``path`` under the work dir; ``SandboxError`` if it exceeds ``max_bytes``."""
        self._ensure_usable()
        root, inside = read_root(self._box, self._shared_dir, path)
        return await asyncio.to_thread(read_inside, root, inside, max_bytes)

    async def pause(self) -> None:
        """Freeze the whole container (cgroup freezer) and every exec's timeout."""
        async with self._state_lock:
            if self._closed or self.paused or not self._started:
                return
            self._resumed.clear()
            for _, deadline in list(self._execs):
                deadline.pause()
            try:
                # Freezing a container while the engine starts an exec in it deadlocks the
                # engine (runc waits on a frozen `runc init`): let starting execs get going.
                await asyncio.wait_for(self._no_starts.wait(), API_TIMEOUT_S)
                await asyncio.wait_for(asyncio.to_thread(self._container.pause), API_TIMEOUT_S)
            except (docker.errors.DockerException, OSError, TimeoutError) as exc:
                for _, deadline in list(self._execs):  # not paused after all: say so truthfully
                    deadline.resume()
                self._resumed.set()
                raise engine_error("pausing the sandbox", exc) from exc

    async def resume(self) -> None:
        """Unfreeze the container; waiting execs start."""
        async with self._state_lock:
            if self._closed or not self.paused:
                return
            try:
                await asyncio.wait_for(asyncio.to_thread(self._container.unpause), API_TIMEOUT_S)
            except (docker.errors.DockerException, OSError, TimeoutError) as exc:
                raise engine_error("resuming the sandbox", exc) from exc
            for _, deadline in list(self._execs):
                deadline.resume()
            self._resumed.set()

    async def close(self) -> None:
        """Remove the container (killing everything in it); idempotent, bounded, never raises.

        The work dir is kept for review, as with the local sandbox.
        """
        if self._close_task is None:
            self._closed = True
            self._resumed.set()
            self._close_task = asyncio.ensure_future(self._shutdown())
        try:
            await asyncio.shield(self._close_task)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("closing the docker sandbox at %s failed", self._root)

    async def _shutdown(self) -> None:
        container, client = self._container, self._client
        try:
            if container is not None:
                await asyncio.wait_for(asyncio.to_thread(_remove, container), REMOVE_TIMEOUT_S)
        except Exception:
            logger.exception("removing sandbox container %s failed; `aar sandboxes prune` removes it", self.container_name)
        for run, _ in list(self._execs):
            run.abort()
        if client is not None:
            await asyncio.to_thread(client.close)


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
