"""What a sandbox container is allowed: the options it is created with.

One place to read the whole lockdown: no network, read-only root, no capabilities,
no privilege gain, memory/CPU/pids limits, rlimits, and the staged dirs the inner
bubblewrap builds the fixed view of ``layout`` from (see ``bwrap``): the work dir's
parent read-write at ``/s/box``, the shared folder at ``/s/shared``, and for the
offline image the host's system dirs, the shared ``/etc`` entries' per-host copy and
the agent runtime. Agent code never runs in the container itself: every exec runs it
under that bwrap, in mount, PID, user, IPC, UTS, network and cgroup namespaces of its
own, so ``/proc/self/mountinfo`` names staged paths only, never a host path or the
container's id. Every mount source is host-owned and every target a fixed path outside
the work dir, so the engine resolves nothing agent code can change.

The price of bwrap inside: the container must let it make a user namespace and mount
a fresh ``/proc``. So the container runs a seccomp profile of its own (``SECCOMP_DENY``
refused, the rest allowed) in place of Docker's allowlist, and without Docker's
``/proc`` masks; bwrap gives agent code no capabilities and no user namespace of its
own, and masks the same ``/proc`` files (``bwrap.PROC_MASKS``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.types import Mount, Ulimit

from sandboxes.bwrap import STAGE, BwrapBinary
from sandboxes.docker_exec import PID_DIR
from sandboxes.docker_image import SandboxImage
from sandboxes.layout import WORK, Box
from sandboxes.limits import CPU_HARD_GRACE_S, SandboxLimits
from sandboxes.runtime import SYSTEM_DIRS, AgentRuntime

KEEPER_USER = "65534:65534"
"""The idle main process runs as nobody, not as the agent's uid: `kill -9 -1` in agent
code must not reach it, or the container would stop with it."""
BWRAP_INSIDE = f"{STAGE}/bw/bwrap"
"""A system bwrap's place in a container (the pip one keeps its package's staged path)."""
SECCOMP_DENY = (
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "fanotify_init",
    "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "init_module", "io_uring_enter",
    "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kexec_file_load", "kexec_load", "keyctl",
    "lookup_dcookie", "mount_setattr", "move_mount", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
    "open_tree", "perf_event_open", "query_module", "quotactl", "quotactl_fd", "reboot", "request_key", "setns",
    "settimeofday", "stime", "swapoff", "swapon", "_sysctl", "syslog", "sysfs", "uselib", "userfaultfd", "ustat",
    "vm86", "vm86old",
)
"""System calls no sandbox process may make: kernel keyrings, BPF, perf, io_uring,
modules, clocks, the new mount API, handles to host files. bwrap needs none of them."""
_ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}


def seccomp_profile() -> str:
    """The container's seccomp profile (JSON): ``SECCOMP_DENY`` fails with EPERM on every
    ABI of this machine (an x32 or 32-bit call is no way around it)."""
    profile: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": list(SECCOMP_DENY), "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    architectures = _ARCHITECTURES.get(platform.machine())
    if architectures:
        profile["architectures"] = architectures
    return json.dumps(profile)


def bwrap_mounts(binary: BwrapBinary) -> tuple[list[Mount], str]:
    """Read-only binds that make ``binary`` runnable in a container, and its path there."""
    if binary.stage:
        return [Mount(staged, host, type="bind", read_only=True) for host, staged in binary.stage], binary.inside
    return [Mount(BWRAP_INSIDE, binary.path, type="bind", read_only=True)], BWRAP_INSIDE


def _mounts(image: SandboxImage, box: Box, runtime: AgentRuntime | None, host_etc: str | None,
            shared: str | None, bwrap: list[Mount]) -> list[Mount]:
    mounts = list(bwrap)
    if image.host_runtime and runtime is not None and host_etc is not None:
        # A merged-/usr host's /lib is the image's own link, never a second bind.
        for path in SYSTEM_DIRS:
            if path in ("/usr", "/lib", "/lib64") and os.path.isdir(path) and not os.path.islink(path):
                mounts.append(Mount(path, path, type="bind", read_only=True))
        mounts.append(Mount(f"{STAGE}/etc", host_etc, type="bind", read_only=True))
        for host, inside in runtime.mounts():
            mounts.append(Mount(f"{STAGE}{inside}", host, type="bind", read_only=True))
    # One mount holds the work dir and the overlay scratch dir (overlayfs needs both on one).
    mounts.append(Mount(f"{STAGE}/box", box.parent, type="bind", read_only=False))
    # An empty dir of its own (overlay lower dirs may not be the same dir as /s/shared).
    mounts.append(Mount(f"{STAGE}/empty", None, type="tmpfs", read_only=True, tmpfs_size=4096, tmpfs_mode=0o555))
    mounts.append(Mount(f"{STAGE}/shared", shared or box.empty, type="bind", read_only=True))
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


@dataclass(frozen=True)
class ContainerSpec:
    """A sandbox container's creation arguments (``APIClient.create_container``) and its host
    config (``APIClient.create_host_config`` keywords, plus raw fields the SDK has no name for)."""

    create: dict[str, Any]
    host: dict[str, Any]
    raw_host: dict[str, Any]

    def create_container(self, client: docker.DockerClient, image: str) -> Any:
        """Create and start the container; returns it (``docker.models.containers.Container``). Blocking."""
        host_config = client.api.create_host_config(**self.host)
        host_config.update(self.raw_host)
        created = client.api.create_container(image, host_config=host_config, **self.create)
        try:
            client.api.start(created["Id"])
        except BaseException:
            with contextlib.suppress(docker.errors.DockerException, OSError):
                client.api.remove_container(created["Id"], force=True)
            raise
        return client.containers.get(created["Id"])


def container_spec(
    image: SandboxImage,
    *,
    name: str,
    box: Box,
    limits: SandboxLimits,
    labels: Mapping[str, str],
    bwrap: BwrapBinary,
    runtime: AgentRuntime | None = None,
    host_etc: str | None = None,
    shared: str | None = None,
) -> ContainerSpec:
    """The container of one sandbox. ``bwrap``: the binary every exec runs agent code under.

    ``runtime`` and ``host_etc``: the agent runtime and the shared ``/etc`` entries' per-host
    copy to stage, for an image that needs the host's (offline).
    """
    bwrap_binds, _ = bwrap_mounts(bwrap)
    create: dict[str, Any] = {
        "command": ["sleep", "2147483647"],
        "name": name,
        "detach": True,
        "user": KEEPER_USER,
        "working_dir": "/",
        "hostname": "sandbox",
        "labels": dict(labels),
        "environment": {"HOME": WORK},
    }
    host: dict[str, Any] = {
        "init": True,  # docker-init as pid 1 reaps zombies and outlives `kill -9 -1`
        "network_mode": "none",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges", f"seccomp={seccomp_profile()}"],
        "cgroupns": "private",  # /proc/self/cgroup shows "/", never the container id
        "mounts": _mounts(image, box, runtime, host_etc, shared, bwrap_binds),
        "tmpfs": {PID_DIR: "size=1m,mode=1777"},  # agent code gets its /tmp from bwrap
        "ulimits": _ulimits(limits),
    }
    if limits.memory_bytes is not None:
        host["mem_limit"] = limits.memory_bytes
        host["memswap_limit"] = limits.memory_bytes  # no swap: the limit is the limit
    if limits.cpus is not None:
        host["nano_cpus"] = int(limits.cpus * 1e9)
    if limits.processes is not None:
        host["pids_limit"] = limits.processes
    if limits.nice:
        host["cpu_shares"] = 256  # a quarter of the default weight: the engine and UI come first
    # bwrap mounts a fresh /proc for agent code's PID namespace, which the kernel refuses
    # over a /proc with masks; bwrap masks the same files in the sandbox's own /proc.
    raw_host: dict[str, Any] = {"MaskedPaths": [], "ReadonlyPaths": []}
    return ContainerSpec(create, host, raw_host)
