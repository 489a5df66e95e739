"""One command run in a sandbox container: a docker exec streamed from its own thread.

The docker SDK blocks, and an exec may stream for hours, so each exec gets a thread
of its own rather than a slot in the event loop's small default pool (which file
reads and writes also need). Output chunks go to the captures on the loop thread.

Inside the container the command runs under a small ``sh`` wrapper that gives it a
process group of its own (``setsid``), writes that group's id to a pid file, and,
once the command exits, kills whatever the command left running in its group, as
the local sandbox does. A timeout kills the group through a second exec that reads
the pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import docker
import docker.errors

from sandboxes.docker_engine import engine_error
from sandboxes.output import OutputCapture

PID_DIR = "/run/aar"
"""A small tmpfs in every sandbox container holding the wrappers' pid files."""
STARTED_MARK = b"\x1eaar-started\x1e"
"""The wrapper's first bytes on stderr: from then on the exec runs inside the container and
runc is done with it, so freezing the container can no longer deadlock the engine."""
WRAPPER = r"""
printf '\036aar-started\036' >&2
f=$1; shift
setsid "$@" &
p=$!
echo "$p" >"$f" 2>/dev/null
wait "$p"
rc=$?
kill -KILL -"$p" 2>/dev/null
rm -f "$f"
exit "$rc"
"""
# Kill the exec's group; without its pid file (the tmpfs full, or the exec just
# starting), every process of the sandbox user but init: the hammer, not the scalpel.
KILLER = r"""
p=$(cat "$1" 2>/dev/null)
if [ -n "$p" ]; then kill -KILL -"$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; else kill -KILL -1; fi
exit 0
"""


def _no_read_timeout(api: Any, stream: Any) -> None:
    """Lift the client's read timeout from an exec stream: a silent command is not a dead one."""
    with contextlib.suppress(Exception):  # private SDK helpers; without them the client timeout stays
        api._disable_socket_timeout(api._get_raw_response_socket(stream._response))


class DockerExec:
    """One exec in flight. ``done`` resolves to its exit code, or to a ``SandboxError``."""

    def __init__(
        self,
        api: Any,
        container_id: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str,
        user: str,
        stdout: OutputCapture,
        stderr: OutputCapture,
    ) -> None:
        self._api = api
        self._container_id = container_id
        self.pid_file = f"{PID_DIR}/{uuid.uuid4().hex}.pid"
        self._argv = ["/bin/sh", "-c", WRAPPER, "aar-exec", self.pid_file, *argv]
        self._env = dict(env)
        self._cwd = cwd
        self._user = user
        self._captures = {0: stdout, 1: stderr}
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[int | None] = self._loop.create_future()
        self.running: asyncio.Future[None] = self._loop.create_future()
        self._stderr_head = b""  # stderr bytes held back until the start mark is stripped
        self._mark_seen = False
        self._stream: Any = None
        self._aborted = False

    def start(self) -> None:
        """Start the exec on a daemon thread (a stuck engine must not hold up interpreter exit)."""
        threading.Thread(target=self._run, name="aar-docker-exec", daemon=True).start()

    def abort(self) -> None:
        """Stop reading output now; ``done`` then resolves soon. Safe from any thread."""
        self._aborted = True
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def _post(self, callback: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under us: nobody is waiting
            self._loop.call_soon_threadsafe(callback, *args)

    def _set_running(self) -> None:
        if not self.running.done():
            self.running.set_result(None)

    def _strip_mark(self, data: bytes) -> bytes:
        """Remove the wrapper's start mark from the head of stderr (it may span frames)."""
        if self._mark_seen:
            return data
        self._stderr_head += data
        if len(self._stderr_head) < len(STARTED_MARK) and STARTED_MARK.startswith(self._stderr_head):
            return b""  # wait for the rest of the mark
        self._mark_seen = True
        head, self._stderr_head = self._stderr_head, b""
        if head.startswith(STARTED_MARK):
            self._post(self._set_running)
            return head[len(STARTED_MARK) :]
        return head  # no mark (the wrapper could not start): pass everything on

    def _resolve(self, code: int | None, error: BaseException | None) -> None:
        self._set_running()
        if self.done.done():
            return
        if error is not None:
            self.done.set_exception(error)
        else:
            self.done.set_result(code)

    def _run(self) -> None:
        try:
            exec_id = self._api.exec_create(
                self._container_id,
                self._argv,
                stdout=True,
                stderr=True,
                stdin=False,
                tty=False,
                environment=self._env,
                workdir=self._cwd,
                user=self._user,
            )["Id"]
            self._stream = self._api.exec_start(exec_id, stream=True, demux=True)
            _no_read_timeout(self._api, self._stream)
            if self._aborted:
                self.abort()
            for frame in self._stream:
                for index, data in enumerate(frame):
                    if data and index == 1:
                        data = self._strip_mark(data)
                    capture = self._captures[index]
                    if data and not capture.truncated:  # past the cap: drain, post nothing
                        self._post(capture.feed, data)
            if self._stderr_head:
                self._post(self._captures[1].feed, self._stderr_head)
            for capture in self._captures.values():
                self._post(capture.finish)
            code = self._api.exec_inspect(exec_id).get("ExitCode")
        except BaseException as exc:  # noqa: BLE001 - every failure becomes the exec's error
            for capture in self._captures.values():
                self._post(capture.finish)
            self._post(self._resolve, None, engine_error("running a command in the sandbox", exc))
            return
        self._post(self._resolve, code, None)


def run_blocking(api: Any, container_id: str, argv: Sequence[str], user: str) -> tuple[int | None, str]:
    """Run ``argv`` in the container and wait: (exit code, stdout and stderr). Blocking;
    engine errors propagate (``docker.errors.DockerException``, ``OSError``)."""
    exec_id = api.exec_create(container_id, list(argv), stdout=True, stderr=True, user=user)["Id"]
    output = api.exec_start(exec_id)
    return api.exec_inspect(exec_id).get("ExitCode"), output.decode(errors="replace")


def kill_exec_group(api: Any, container_id: str, pid_file: str, user: str) -> bool:
    """Kill the process group of the exec whose wrapper wrote ``pid_file``. Blocking.

    False when the kill could not run (the container hit its pids limit, or the
    engine failed): the caller then replaces the container, which kills everything.
    """
    try:
        code, _ = run_blocking(api, container_id, ["/bin/sh", "-c", KILLER, "aar-kill", pid_file], user)
    except (docker.errors.DockerException, OSError):
        return False
    return code == 0
