"""What agent code sees in a Docker sandbox: the inner bubblewrap every exec runs under.

The container stages the host places under ``/s`` (``docker_spec``); each exec runs the
same inner bwrap as the local sandbox there (``bwrap.inner_argv``). Which system dirs an
image has is read from the container once, at start, and a ``true`` under that bwrap
proves the view can be built before any agent code runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker.errors

from sandboxes.bwrap import STAGE, BwrapBinary, Outer, SystemLayout, inner_argv
from sandboxes.docker_engine import engine_error
from sandboxes.docker_exec import run_blocking
from sandboxes.docker_image import SandboxImage
from sandboxes.docker_spec import bwrap_mounts
from sandboxes.errors import SandboxError
from sandboxes.layout import WORK, Box, exec_scratch
from sandboxes.runtime import SYSTEM_DIRS, AgentRuntime

# A dir holding nothing but the engine's docker-init (a /sbin the image lacks) is left out.
_LAYOUT = r"""
for d in "$@"; do
    if [ -L "$d" ]; then printf 'link %s %s\n' "$d" "$(readlink "$d")"
    elif [ -d "$d" ] && [ -n "$(ls -A "$d" | grep -vx docker-init)" ]; then printf 'dir %s\n' "$d"; fi
done
"""


def parse_layout(listing: str) -> SystemLayout:
    """The system dirs a container's image has, from ``_LAYOUT``'s lines."""
    layout: list[tuple[str, str | None]] = []
    for line in listing.splitlines():
        kind, _, rest = line.partition(" ")
        path, _, target = rest.partition(" ")
        if path in SYSTEM_DIRS and kind in ("link", "dir"):
            layout.append((path, target if kind == "link" else None))
    return tuple(layout)


@dataclass(frozen=True)
class InnerView:
    """The inner bwrap of one sandbox container: what it finds there, and what it builds."""

    outer: Outer
    box: Box
    runtime: AgentRuntime | None
    tmp_bytes: int

    def inner(self, run_dir: str, scratch: str) -> list[str]:
        """The inner bwrap of one exec, entering ``run_dir`` (an in-sandbox path), ending in ``--``."""
        return inner_argv(self.outer, box=self.box, run_dir=run_dir, scratch=scratch, tmp_bytes=self.tmp_bytes,
                          runtime=self.runtime, as_root=False)

    def wrap(self, argv: list[str], run_dir: str, scratch: str) -> list[str]:
        """``argv`` under the inner bwrap, through `exec` in a shell as the local sandbox's
        prlimit does: a command that is not there exits 127 (126: not executable), not bwrap's 1."""
        return [*self.inner(run_dir, scratch), "/bin/sh", "-c", 'exec "$@"', "aar-exec", *argv]


def probe_view(api: Any, container: str, user: str, *, image: SandboxImage, bwrap: BwrapBinary, box: Box,
               owner: tuple[int, int] | None, runtime: AgentRuntime | None, tmp_bytes: int) -> InnerView:
    """Read the image's system dirs, then run ``true`` under the inner bwrap: a container
    where bwrap cannot build the view fails here, saying why. Blocking."""
    try:
        _, listing = run_blocking(api, container, ["/bin/sh", "-c", _LAYOUT, "layout", *SYSTEM_DIRS], user)
        outer = Outer(bwrap_mounts(bwrap)[1], parse_layout(listing), f"{STAGE}/etc" if image.host_runtime else "/etc")
        view = InnerView(outer, box, runtime, tmp_bytes)
        # Under a shell that waits: bwrap dies with its parent, and an exec's first parent
        # (runc) exits as soon as it has started it.
        with exec_scratch(box, owner) as scratch:
            probe = ["/bin/sh", "-c", '"$@"; exit $?', "probe", *view.inner(WORK, scratch), "true"]
            code, output = run_blocking(api, container, probe, user)
    except (docker.errors.DockerException, OSError) as exc:
        raise engine_error("checking the sandbox container", exc) from exc
    if code != 0:
        raise SandboxError(
            f"bubblewrap cannot build the sandbox's view in a container of {image.name} "
            f"(exit {code}): {output.strip()[-300:] or 'no output'}; the engine must allow user "
            f"namespaces and overlay mounts in containers (kernel 5.11 or newer)"
        )
    return view
