"""One engine per store: an exclusive lock on a file beside it, held for the engine's life.

``flock`` is released by the kernel when the process dies, ``kill -9`` included, so a
crashed engine never leaves a stale lock; a second engine on the same store is refused
with the pid of the one that holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StoreLocked(Exception):
    """Another live engine drives this store."""


class EngineLock:
    """Hold ``<store>.lock`` exclusively; ``release()`` (or process exit) lets it go."""

    def __init__(self, store_path: Path) -> None:
        self.path = Path(f"{store_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> EngineLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(f"{self.path.with_suffix('')} is driven by a live engine (pid {holder}); "
                              "attach to it with `aar attach`, or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (harmless, reused)
            self._fd = None

    def __enter__(self) -> EngineLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def engine_running(store_path: Path) -> bool:
    """Whether a live engine holds the store's lock (for viewers: live or finished?)."""
    path = Path(f"{store_path}.lock")
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
