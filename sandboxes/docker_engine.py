"""Talking to the Docker engine: connecting, typed errors, labels, and pruning.

Every call here blocks; callers run them off the event loop. Every message says
what to do about it, because the person reading it may not know Docker.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import Any

import docker
import docker.errors

from sandboxes.errors import SandboxError, SandboxUnavailableError

API_TIMEOUT_S = 30.0
"""Bound on every control call (create, pause, remove...); exec output streams have none."""
REMOVE_TIMEOUT_S = 15.0
LABEL_SANDBOX = "aar.sandbox"
LABEL_CAMPAIGN = "aar.campaign"
LABEL_WORKDIR = "aar.workdir"
LABEL_OWNER = "aar.owner"
"""``host:pid:start-ticks`` of the process that created the container, to spot orphans."""


def engine_hint() -> str:
    """What to do when no engine answers."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return (
        f"no Docker engine answers at {where}. Start one (`sudo systemctl start docker`, or "
        "`sudo dockerd --bridge=none --iptables=false --ip-forward=false &`; scripts/ci-services "
        "installs and starts it), or use the local sandbox (--sandbox local)"
    )


# The SDK's transport (requests) raises subclasses of OSError for refused, reset and
# timed-out connections; matching OSError keeps this module free of that dependency.
_CONNECTION_ERRORS = (OSError,)


def engine_error(action: str, exc: BaseException) -> SandboxError:
    """A ``SandboxError`` for ``exc`` raised while doing ``action`` (e.g. "running a command")."""
    if isinstance(exc, SandboxError):
        return exc
    # APIError is an OSError too (through requests' HTTPError): the engine answered, so
    # it is told apart from a lost connection first.
    if isinstance(exc, docker.errors.NotFound):
        return SandboxUnavailableError(
            f"the sandbox container is gone (removed from outside?) while {action}: {_explain(exc)}"
        )
    if isinstance(exc, docker.errors.APIError):
        return SandboxError(f"the Docker engine refused {action}: {_explain(exc)}")
    if isinstance(exc, _CONNECTION_ERRORS) or (
        isinstance(exc, docker.errors.DockerException) and "Connection" in str(exc)
    ):
        return SandboxUnavailableError(f"lost the Docker engine while {action}: {engine_hint()}")
    return SandboxError(f"Docker failed while {action}: {exc}")


def _explain(exc: docker.errors.APIError) -> str:
    return str(getattr(exc, "explanation", None) or exc)


def connect(timeout_s: float = API_TIMEOUT_S) -> docker.DockerClient:
    """A client for the engine named by the environment (``DOCKER_HOST``), checked with a ping."""
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except (docker.errors.DockerException, *_CONNECTION_ERRORS) as exc:
        raise SandboxUnavailableError(f"cannot use Docker: {engine_hint()} ({_first_line(exc)})") from exc
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_label() -> str:
    """Identifies this process for ``LABEL_OWNER``; pid reuse is told apart by start time."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid()) or '?'}"


def owner_alive(label: str) -> bool:
    """False when ``label`` names a process on this host that is gone; True when unsure."""
    host, _, rest = label.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine's container: not ours to judge
    current = _start_ticks(int(pid_text))
    return current is not None and (ticks == "?" or current == ticks)


def sandbox_labels(*, campaign: str, workdir: str) -> dict[str, str]:
    """Labels every sandbox container carries."""
    return {LABEL_SANDBOX: "1", LABEL_CAMPAIGN: campaign, LABEL_WORKDIR: workdir, LABEL_OWNER: owner_label()}


def _remove(containers: Iterable[Any]) -> list[str]:
    removed = []
    for container in containers:
        try:
            container.remove(force=True)
            removed.append(container.name)
        except docker.errors.NotFound:
            pass  # removed meanwhile
        except docker.errors.APIError as exc:
            raise engine_error(f"removing container {container.name}", exc) from exc
    return removed


def prune_containers(
    campaign: str | None = None,
    *,
    orphans_only: bool = False,
    workdir: str | None = None,
    client: docker.DockerClient | None = None,
) -> list[str]:
    """Remove sandbox containers; returns their names. What ``aar sandboxes prune`` calls.

    ``campaign`` / ``workdir`` narrow it to one campaign or one agent's work dir;
    ``orphans_only`` keeps containers whose creating process still runs on this host,
    so a prune beside a live campaign removes only what crashed runs left behind.
    """
    own = client is None
    client = client or connect()
    try:
        filters = [f"{LABEL_SANDBOX}=1"]
        if campaign is not None:
            filters.append(f"{LABEL_CAMPAIGN}={campaign}")
        if workdir is not None:
            filters.append(f"{LABEL_WORKDIR}={workdir}")
        try:
            found = client.containers.list(all=True, filters={"label": filters})
        except (docker.errors.DockerException, *_CONNECTION_ERRORS) as exc:
            raise engine_error("listing sandbox containers", exc) from exc
        if orphans_only:
            found = [c for c in found if not owner_alive(c.labels.get(LABEL_OWNER, ""))]
        return _remove(found)
    finally:
        if own:
            client.close()
