"""The ``Sandbox`` protocol every backend implements, and the result of one exec."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

OutputCallback = Callable[[str, str], None]
"""``on_output(stream, line)``: ``stream`` is "stdout" or "stderr"; ``line`` has no
trailing newline. Called in the event loop thread for each line as it arrives."""


@dataclass(frozen=True)
class ExecResult:
    """What one command run in a sandbox produced."""

    returncode: int | None
    """Exit status; None when the timeout killed it. A command killed by signal N shows
    as -N where the sandbox reaps it directly (the process level, as in ``subprocess``)
    and as 128+N where an init or shell inside reports it (bwrap, docker)."""
    stdout: str
    """Captured stdout, decoded as UTF-8 (invalid bytes replaced), capped."""
    stderr: str
    """Captured stderr, same rules as ``stdout``."""
    timed_out: bool
    """True when the wall-clock budget ran out and the process group was killed."""
    truncated: bool
    """True when either stream hit the output cap; that stream's text ends with a marker."""
    duration_s: float
    """Wall-clock seconds from spawn to the end of output, time spent paused included."""

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0 within its budget."""
        return self.returncode == 0 and not self.timed_out


@runtime_checkable
class Sandbox(Protocol):
    """Where agent-written code runs: exec with streamed output, files, pause, close.

    Paths are relative to the sandbox work dir; anything resolving outside it raises
    ``PathEscapeError``. Secrets (API keys) never enter a sandbox.
    """

    backend: str
    """Registry name of the backend, e.g. "local"."""
    isolation: str
    """Human-readable isolation level in force, naming what is NOT isolated."""
    workdir: Path
    """Host path of the sandbox's private work dir."""

    async def start(self) -> None:
        """Prepare the sandbox (work dir, read-only inputs). Idempotent."""
        ...

    async def exec(
        self,
        cmd: Sequence[str],
        *,
        timeout_s: float | None = None,
        on_output: OutputCallback | None = None,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run ``cmd`` (an argv list, no shell) and return its captured result."""
        ...

    async def write_file(self, path: str, content: str | bytes) -> None:
        """Write ``content`` to ``path`` under the work dir, creating parents."""
        ...

    async def read_file(self, path: str, *, max_bytes: int = 10_000_000) -> bytes:
        """Read ``path`` under the work dir; refuse files larger than ``max_bytes``."""
        ...

    async def pause(self) -> None:
        """Freeze every running exec; new execs wait until ``resume``."""
        ...

    async def resume(self) -> None:
        """Continue what ``pause`` froze."""
        ...

    async def close(self) -> None:
        """Stop everything, in bounded time; idempotent; never raises."""
        ...

    @property
    def paused(self) -> bool:
        """True between ``pause`` and ``resume``."""
        ...
