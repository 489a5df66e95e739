"""Which image a Docker sandbox runs, and building one offline.

Real users build ``sandboxes/Dockerfile`` (python:3.11-slim with numpy) as
``aar-sandbox:latest``, or name any image in ``AAR_SANDBOX_IMAGE``. Where no image
can be pulled (CI, air-gapped machines), an offline image is imported from a rootfs
made here: static busybox for the shell and ``sleep``, plus mount points; at run time
the host's ``/usr`` and ``/lib*`` are bound read-only, and the agent runtime (``runtime``:
numpy and torch, never aar's own packages) with its base Python and the shared ``/etc``
entries are staged for the sandbox's bwrap (``docker_spec``). That needs the engine on this host.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import tarfile
from dataclasses import dataclass

import docker
import docker.errors

from sandboxes.docker_engine import LABEL_SANDBOX, engine_error
from sandboxes.errors import SandboxError
from sandboxes.layout import WORK

logger = logging.getLogger(__name__)

DEFAULT_IMAGE = "aar-sandbox:latest"
IMAGE_ENV = "AAR_SANDBOX_IMAGE"
OFFLINE_REPOSITORY = "aar-sandbox-offline"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox")
_IMAGE_DIRS = ("bin", "etc", "tmp", "run", "proc", "sys", "dev", "root", "home", "s", "usr")
_HOST_LIB_DIRS = ("lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class SandboxImage:
    """An image ready to run, and whether it needs the host's runtime bound in."""

    name: str
    host_runtime: bool


def find_busybox() -> str | None:
    """Path of a busybox binary on this host (busybox-static from apt), or None."""
    for path in BUSYBOX_CANDIDATES:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, 0
    tar.addfile(info)


def offline_rootfs(busybox: str) -> bytes:
    """The rootfs tarball of the offline image (deterministic: same busybox, same bytes).

    Mount points for the host binds exist in it, so a read-only root needs no changes;
    ``/root`` is 0755 so a non-root user can reach a Python install bound below it.
    """
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True, timeout=30)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in _IMAGE_DIRS:
            _add_dir(tar, name, 0o1777 if name == "tmp" else 0o755)
        for name in _HOST_LIB_DIRS:
            # A merged-/usr host's /lib is a link into /usr: so it is in the image too, and a
            # mask over /usr/lib/... cannot be walked around through a separate /lib.
            host = f"/{name}"
            if os.path.islink(host):
                _add_link(tar, name, os.readlink(host))
            elif os.path.isdir(host):
                _add_dir(tar, name)
        with open(busybox, "rb") as f:
            _add_file(tar, "bin/busybox", f.read(), 0o755)
        names = set(applets.stdout.split()) - {"busybox"}
        for applet in sorted(names):
            if "/" not in applet:
                _add_link(tar, f"bin/{applet}", "busybox")
        if "bash" not in names:
            _add_link(tar, "bin/bash", "/usr/bin/bash")  # `#!/bin/bash` scripts, with the host /usr bound
    return buffer.getvalue()


def build_offline_image(client: docker.DockerClient, busybox: str | None = None) -> SandboxImage:
    """Import the offline image unless an identical one exists; returns it. Blocking."""
    busybox = busybox or find_busybox()
    if busybox is None:
        raise SandboxError(
            "cannot build the offline sandbox image: busybox is not installed "
            "(apt-get install busybox-static), and no image was found; build sandboxes/Dockerfile "
            f"as {DEFAULT_IMAGE} or set {IMAGE_ENV}"
        )
    rootfs = offline_rootfs(busybox)
    name = f"{OFFLINE_REPOSITORY}:{hashlib.sha256(rootfs).hexdigest()[:12]}"
    try:
        client.images.get(name)
        return SandboxImage(name, host_runtime=True)
    except docker.errors.ImageNotFound:
        pass
    except (docker.errors.DockerException, OSError) as exc:
        raise engine_error("looking up the offline image", exc) from exc
    repository, tag = name.split(":")
    changes = [f"LABEL {LABEL_SANDBOX}=1", f"WORKDIR {WORK}", 'CMD ["sleep", "2147483647"]']
    try:
        client.api.import_image_from_data(rootfs, repository=repository, tag=tag, changes=changes)
    except (docker.errors.DockerException, OSError) as exc:
        raise engine_error("importing the offline sandbox image", exc) from exc
    logger.info("built the offline sandbox image %s from %s", name, busybox)
    return SandboxImage(name, host_runtime=True)


def resolve_image(client: docker.DockerClient, requested: str | None = None) -> SandboxImage:
    """The image to run: ``requested``, else ``$AAR_SANDBOX_IMAGE``, else ``aar-sandbox:latest``
    when built, else the offline image (built now if needed). Never pulls. Blocking."""
    name = requested or os.environ.get(IMAGE_ENV) or None
    if name is not None:
        if name.startswith(f"{OFFLINE_REPOSITORY}:"):
            return SandboxImage(name, host_runtime=True)
        try:
            client.images.get(name)
        except docker.errors.ImageNotFound:
            raise SandboxError(
                f"the sandbox image {name!r} is not on this Docker engine: build it "
                f"(`docker build -t {name} -f sandboxes/Dockerfile .`) or pull it first"
            ) from None
        except (docker.errors.DockerException, OSError) as exc:
            raise engine_error(f"looking up the image {name}", exc) from exc
        return SandboxImage(name, host_runtime=False)
    try:
        client.images.get(DEFAULT_IMAGE)
        return SandboxImage(DEFAULT_IMAGE, host_runtime=False)
    except docker.errors.ImageNotFound:
        return build_offline_image(client)
    except (docker.errors.DockerException, OSError) as exc:
        raise engine_error("looking up the sandbox image", exc) from exc
