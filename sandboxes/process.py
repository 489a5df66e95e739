"""Supervising one child process that leads its own process group.

Every exec runs in a new session, so its pid is also the id of a process group that
holds it and everything it forks. Signals go to the whole group: pausing, timing out
or closing reaches the background jobs agent code started, not just the main process.

Exit is detected through the subprocess protocol's ``process_exited`` rather than
``Process.wait()``: asyncio resolves ``wait()`` only once the pipes close as well, and
a background child still holding stdout would keep it pending forever.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

from sandboxes.clock import PausableDeadline
from sandboxes.output import OutputCapture

# After SIGKILL a process dies as soon as the kernel gets to it; this bounds the wait
# for one stuck in uninterruptible sleep.
KILL_WAIT_S = 1.0


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when the group is already gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Feeds pipe data straight into the captures and reports exit and end of output."""

    def __init__(self, captures: Mapping[int, OutputCapture], loop: asyncio.AbstractEventLoop) -> None:
        self._captures = captures
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        capture = self._captures.get(fd)
        if capture is not None:
            capture.feed(bytes(data))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        capture = self._captures.get(fd)
        if capture is not None:
            capture.finish()

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        # Called once the process has exited and both pipes are closed.
        if not self.closed.done():
            self.closed.set_result(None)


class ChildProcess:
    """One running exec: its process group, captured output and pause-aware deadline."""

    def __init__(
        self,
        transport: asyncio.SubprocessTransport,
        protocol: _ChildProtocol,
        deadline: PausableDeadline,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self.deadline = deadline
        # start_new_session=True makes the child a session and group leader: pgid == pid.
        self.pgid: int = transport.get_pid()
        self._released = False

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        preexec_fn: Callable[[], None] | None,
        stdout: OutputCapture,
        stderr: OutputCapture,
        budget_s: float,
    ) -> ChildProcess:
        """Start ``argv`` in a new session with stdin closed; raises ``OSError`` if it cannot."""
        loop = asyncio.get_running_loop()
        captures = {1: stdout, 2: stderr}
        transport, protocol = await loop.subprocess_exec(
            lambda: _ChildProtocol(captures, loop),
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
        return cls(transport, protocol, PausableDeadline(budget_s))

    @property
    def exited(self) -> bool:
        """True once the main process has exited (members of its group may linger)."""
        return self._protocol.exited.done()

    @property
    def returncode(self) -> int | None:
        """Exit status of the main process; negative for a signal; None while running."""
        return self._transport.get_returncode()

    def signal(self, sig: int) -> bool:
        """Signal the whole group, unless this child was already released."""
        return False if self._released else signal_group(self.pgid, sig)

    def pause(self) -> None:
        """Freeze the group and its deadline."""
        self.deadline.pause()
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw the group and its deadline."""
        self.signal(signal.SIGCONT)
        self.deadline.resume()

    async def wait_exited(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the main process to exit; True if it did."""
        if not self.exited:
            await asyncio.wait({self._protocol.exited}, timeout=max(timeout_s, 0.0))
        return self.exited

    async def wait_or_deadline(self) -> bool:
        """Wait for exit within the deadline; False when the deadline ran out first."""
        while not self.exited:
            remaining = self.deadline.remaining()
            if remaining <= 0:
                return False
            # While paused this wakes at the old deadline, sees time left, and waits again.
            await asyncio.wait({self._protocol.exited}, timeout=remaining)
        return True

    async def terminate(self, grace_s: float) -> None:
        """SIGTERM the group, then SIGKILL it if the main process outlives ``grace_s``."""
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)  # a stopped process only acts on SIGTERM once continued
        if not await self.wait_exited(grace_s):
            self.signal(signal.SIGKILL)
            await self.wait_exited(KILL_WAIT_S)

    async def finish(self, drain_s: float) -> None:
        """After the main process exited: end its group, collect the last output, release.

        Whatever the exec left running in its group is killed here. A background job
        would otherwise outlive the exec unsupervised: no timeout, no pause, holding the
        pipes (and so the output) open, and piling up across an agent's many execs.
        ``drain_s`` bounds the wait for the pipes, which a process that left the group
        (``setsid``) can keep open; its remaining output is dropped.
        """
        self.signal(signal.SIGKILL)
        if not self._protocol.closed.done():
            await asyncio.wait({self._protocol.closed}, timeout=drain_s)
        self.release(kill=False)

    def release(self, *, kill: bool = True) -> None:
        """Kill the group (unless ``kill`` is False) and close the pipes. Idempotent.

        Synchronous, so it also runs in a ``finally`` when the exec is cancelled.
        After release the group id is never signalled again: once the group is empty
        the kernel may hand the same number to an unrelated process.
        """
        if self._released:
            return
        if kill:
            self.signal(signal.SIGKILL)
        self._released = True
        if self.exited:
            self._transport.close()
        else:
            # Closing the transport of a live process makes asyncio reap it with
            # Popen.poll(), racing the child watcher ("Unknown child process pid");
            # close once the watcher has seen the exit instead.
            self._protocol.exited.add_done_callback(lambda _: self._transport.close())
