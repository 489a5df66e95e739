"""What a sandbox container is allowed: the options it is created with.

One place to read the whole lockdown: no network, read-only root, no capabilities,
no privilege gain, memory/CPU/pids limits, rlimits, size-capped tmpfs, and the fixed
view of ``layout``: the work dir read-write at ``/work``, the box's inputs read-only at
``/data``, the shared folder at ``/shared``, the box's own passwd and group. Every
mount source is host-owned (the work dir is bound once, as a whole), and every mount
target is a fixed path outside the work dir, so the engine resolves nothing agent
code can change, whenever the container is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker.types import Mount, Ulimit

from sandboxes.docker_exec import PID_DIR
from sandboxes.docker_image import CONTAINER_WORKDIR, SandboxImage, host_runtime_mounts
from sandboxes.layout import BOX_ETC, DATA, SHARED, Box
from sandboxes.limits import CPU_HARD_GRACE_S, SandboxLimits
from sandboxes.runtime import AgentRuntime

KEEPER_USER = "65534:65534"
"""The idle main process runs as nobody, not as the agent's uid: `kill -9 -1` in agent
code must not reach it, or the container would stop with it."""


def _mounts(image: SandboxImage, box: Box, runtime: AgentRuntime | None, host_etc: str | None,
            shared: str | None) -> list[Mount]:
    if image.host_runtime and runtime is not None and host_etc is not None:
        mounts = host_runtime_mounts(runtime, box.etc, host_etc)
    else:  # an image of its own: only the sandbox's own passwd and group
        mounts = [Mount(f"/etc/{name}", f"{box.etc}/{name}", type="bind", read_only=True) for name in BOX_ETC]
    mounts.append(Mount(CONTAINER_WORKDIR, box.workdir, type="bind", read_only=False))
    mounts.append(Mount(DATA, box.data, type="bind", read_only=True))
    mounts.append(Mount(SHARED, shared or box.empty, type="bind", read_only=True))
    return mounts


def _ulimits(limits: SandboxLimits) -> list[Ulimit]:
    # No nproc here: it would count the uid across containers; pids_limit is per container.
    ulimits = [Ulimit(name="core", soft=0, hard=0)]
    if limits.cpu_seconds is not None:
        ulimits.append(Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + CPU_HARD_GRACE_S))
    if limits.file_size_bytes is not None:
        ulimits.append(Ulimit(name="fsize", soft=limits.file_size_bytes, hard=limits.file_size_bytes))
    if limits.open_files is not None:
        ulimits.append(Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files))
    return ulimits


def container_options(
    image: SandboxImage,
    *,
    name: str,
    box: Box,
    limits: SandboxLimits,
    labels: Mapping[str, str],
    runtime: AgentRuntime | None = None,
    host_etc: str | None = None,
    shared: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``containers.run(image.name, **options)``.

    ``runtime`` and ``host_etc``: the agent runtime and the shared ``/etc`` entries' per-host
    copy to bind, for an image that needs the host's (offline).
    """
    options: dict[str, Any] = {
        "command": ["sleep", "2147483647"],
        "name": name,
        "detach": True,
        "init": True,  # docker-init as pid 1 reaps zombies and outlives `kill -9 -1`
        "network_mode": "none",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "user": KEEPER_USER,
        "working_dir": CONTAINER_WORKDIR,
        "hostname": "sandbox",
        "cgroupns": "private",  # /proc/self/cgroup shows "/", never the container id
        "labels": dict(labels),
        "mounts": _mounts(image, box, runtime, host_etc, shared),
        "tmpfs": {"/tmp": f"size={limits.tmp_bytes},mode=1777", PID_DIR: "size=1m,mode=1777"},
        "ulimits": _ulimits(limits),
        "environment": {"HOME": CONTAINER_WORKDIR},
    }
    if limits.memory_bytes is not None:
        options["mem_limit"] = limits.memory_bytes
        options["memswap_limit"] = limits.memory_bytes  # no swap: the limit is the limit
    if limits.cpus is not None:
        options["nano_cpus"] = int(limits.cpus * 1e9)
    if limits.processes is not None:
        options["pids_limit"] = limits.processes
    if limits.nice:
        options["cpu_shares"] = 256  # a quarter of the default weight: the engine and UI come first
    return options
