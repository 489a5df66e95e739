"""Resolving caller-supplied paths inside a sandbox's work dir, and nowhere else."""

from __future__ import annotations

import os

from sandboxes.errors import PathEscapeError, SandboxError


def resolve_inside(root: str, path: str) -> str:
    """Return the real path of ``path`` under ``root``, or raise ``PathEscapeError``.

    ``root`` must already be a real path (no symlinks). ``path`` must be relative;
    after following every symlink and ``..`` it must still be ``root`` or below it,
    so a link that agent code planted in the work dir cannot point the host at
    ``/etc/passwd``. Paths that do not exist yet resolve lexically.
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        raise SandboxError(f"sandbox paths must be text, got {type(path).__name__}")
    if "\0" in path:
        raise SandboxError(f"sandbox path contains a NUL byte: {path!r}")
    if os.path.isabs(path):
        raise PathEscapeError(f"absolute paths are not allowed in the sandbox: {path!r}")
    real = os.path.realpath(os.path.join(root, path))
    if real != root and not real.startswith(root + os.sep):
        raise PathEscapeError(f"path {path!r} resolves outside the sandbox work dir")
    return real


def resolve_entry_inside(root: str, path: str) -> str:
    """Like ``resolve_inside`` but without following the last component.

    For paths the host is about to replace (read-only inputs): whatever sits there, a
    symlink included, is removed rather than followed, so only the parent must resolve
    inside ``root``.
    """
    if os.path.isabs(path):
        raise PathEscapeError(f"absolute paths are not allowed in the sandbox: {path!r}")
    parent, name = os.path.split(os.path.normpath(path))
    if name in ("", ".", ".."):
        raise PathEscapeError(f"path {path!r} does not name a file inside the sandbox work dir")
    try:
        real_parent = resolve_inside(root, parent or ".")
    except PathEscapeError:
        raise PathEscapeError(f"path {path!r} resolves outside the sandbox work dir") from None
    return os.path.join(real_parent, name)
