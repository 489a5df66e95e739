"""Which uid a confined sandbox runs as, and handing its work dir over to that uid.

A host that runs as root must not run agent code as root: root is exempt from
RLIMIT_NPROC (so a fork bomb is unbounded) and owns every system file. Such a host
gives each sandbox a uid of its own, derived from the work dir so that restarting a
campaign finds its files owned by the same uid. A non-root host runs agent code as
itself (bubblewrap maps it into a user namespace); there is nothing to hand over.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Collection
from dataclasses import dataclass

# Far above login users (1000+), nobody (65534) and the usual subuid ranges
# (100000 + 65536 * n for the first few thousand users): no host file is owned by these.
SANDBOX_UID_BASE = 1_900_000_000
SANDBOX_UID_SPAN = 100_000_000


@dataclass(frozen=True)
class SandboxUser:
    """The uid and gid agent code runs as."""

    uid: int
    gid: int
    dedicated: bool
    """True when the uid belongs to this sandbox alone (the host is root)."""

    @property
    def owner(self) -> tuple[int, int] | None:
        """(uid, gid) the host must give new files to, or None when they are already its own."""
        return (self.uid, self.gid) if self.dedicated else None

    def describe(self) -> str:
        """A few words for the isolation string."""
        return f"runs as its own uid {self.uid}" if self.dedicated else f"runs as the host user (uid {self.uid})"


def sandbox_user(workdir: str | None) -> SandboxUser:
    """The user a confined sandbox with this (real) work dir runs as.

    ``workdir`` None: one uid for every sandbox (Docker, whose containers share no
    process, file or keyring, and count processes per container): then nothing in the
    sandbox tells one run from another, a re-run from a live run.
    """
    if os.geteuid() != 0:
        return SandboxUser(os.getuid(), os.getgid(), dedicated=False)
    uid = SANDBOX_UID_BASE + (0 if workdir is None else zlib.crc32(workdir.encode()) % SANDBOX_UID_SPAN)
    return SandboxUser(uid, uid, dedicated=True)


def hand_over(root: str, user: SandboxUser, keep: Collection[str] = ()) -> None:
    """Give the work dir tree at ``root`` to ``user``, except the paths in ``keep``.

    ``keep`` holds the read-only inputs: they stay the host's, so the sandbox cannot
    chmod them writable. Symlinks are never followed (``lchown``), so a link that
    agent code left in the tree cannot make the host chown a file elsewhere.
    """
    owner = user.owner
    if owner is None:
        return
    kept = set(keep)
    os.chown(root, *owner, follow_symlinks=False)
    # fwalk: every directory is entered by descriptor, so a directory agent code swaps for
    # a symlink while we walk is never followed (os.walk would chown through it).
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(root, follow_symlinks=False):
        for name in (*dirnames, *filenames):
            if os.path.join(dirpath, name) in kept:
                continue
            try:
                os.chown(name, *owner, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                pass  # removed while we walked
