"""Sandbox backends registered by name, and the one way to create a sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from sandboxes.confined import create_local_sandbox
from sandboxes.environment import check_env
from sandboxes.errors import SandboxError, UnknownSandboxError
from sandboxes.levels import BWRAP, check_request, require_level
from sandboxes.limits import SandboxLimits
from sandboxes.protocol import Sandbox

_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_FILES: Mapping[str, Path] = MappingProxyType({})


class SandboxFactory(Protocol):
    """Builds an unstarted sandbox; a backend class with this constructor qualifies."""

    def __call__(
        self,
        *,
        workdir: Path,
        data_files: Mapping[str, Path],
        limits: SandboxLimits,
        extra_env: Mapping[str, str],
        shared_dir: Path | None,
        isolation: str,
        accept_risk: str,
        identity: str | None,
    ) -> Sandbox: ...


def create_docker_sandbox(
    *,
    workdir: Path,
    data_files: Mapping[str, Path] = _NO_FILES,
    limits: SandboxLimits = SandboxLimits(),
    extra_env: Mapping[str, str] = _EMPTY,
    shared_dir: Path | None = None,
    isolation: str = BWRAP,
    accept_risk: str = "",
    identity: str | None = None,
) -> Sandbox:
    """Registry factory of the ``docker`` backend (every Docker sandbox runs as one uid:
    ``identity`` changes nothing).

    A container is at least as strong as the local ``bwrap`` level, so any level asked
    for is met (``create_sandbox`` has checked that a weaker one's risk is named).
    Imports the docker SDK only now, so ``import sandboxes`` works on machines without
    it; the engine itself is first contacted by ``start()``.
    """
    try:
        from sandboxes.docker_sandbox import DockerSandbox
    except ImportError as exc:
        raise SandboxError(
            f"the docker sandbox needs the docker Python package (pip install docker): {exc}"
        ) from exc
    return DockerSandbox(workdir=workdir, data_files=data_files, limits=limits, extra_env=extra_env,
                         shared_dir=shared_dir)


SANDBOX_BACKENDS: dict[str, SandboxFactory] = {"local": create_local_sandbox, "docker": create_docker_sandbox}
"""Backend name -> factory. Add to it with ``register_backend``. ``local`` runs at the
isolation level asked (bwrap unless a weaker one's risk is named; see ``levels``)."""


def register_backend(name: str, factory: SandboxFactory) -> None:
    """Make ``factory`` available to ``create_sandbox`` as ``name``; replaces an existing one."""
    SANDBOX_BACKENDS[name.strip().lower()] = factory


def available_backends() -> list[str]:
    """Names of the registered backends, sorted."""
    return sorted(SANDBOX_BACKENDS)


def create_sandbox(
    backend: str,
    *,
    workdir: Path,
    data_files: Mapping[str, Path] = _NO_FILES,
    limits: SandboxLimits = SandboxLimits(),
    extra_env: Mapping[str, str] = _EMPTY,
    shared_dir: Path | None = None,
    isolation: str = BWRAP,
    accept_risk: str = "",
    identity: str | None = None,
) -> Sandbox:
    """Create an unstarted sandbox of the named backend; call ``start()`` before use.

    Every backend shows the same fixed view (see ``layout``): the work dir at ``/work``,
    ``data_files`` (path under ``/data`` -> host file) read-only at ``/data``, and
    ``shared_dir`` read-only and live at ``/shared`` (what the host adds later appears);
    ``data`` and ``shared`` links in the work dir point there. ``isolation`` is the
    least a sandbox may run at: one weaker than ``bwrap`` needs ``accept_risk`` to name
    its risk (``levels.RISKS``). ``extra_env`` adds variables to every exec; names that
    look like secrets are refused for every backend, here, before the backend sees them.
    ``identity``: whose sandbox this is, where a root host gives each its own uid (default:
    its work dir). A re-run of an agent's method passes the agent's work dir, so it runs as
    the uid the live runs did and ``id`` cannot tell them apart.
    """
    factory = SANDBOX_BACKENDS.get(backend.strip().lower())
    if factory is None:
        known = ", ".join(available_backends()) or "none"
        raise UnknownSandboxError(f"unknown sandbox backend {backend!r} (known: {known})")
    check_env(extra_env, origin="sandbox extra_env")
    check_request(isolation, accept_risk)
    return factory(workdir=workdir, data_files=data_files, limits=limits, extra_env=extra_env,
                   shared_dir=shared_dir, isolation=isolation, accept_risk=accept_risk, identity=identity)


def prune_docker_sandboxes(campaign: str | None = None, *, orphans_only: bool = False) -> list[str]:
    """Remove Docker sandbox containers and return their names (``aar sandboxes prune``).

    All of them, one ``campaign``'s, or (``orphans_only``) those whose creating process
    on this host is gone. Blocking; raises ``SandboxError`` when no engine answers.
    """
    try:
        from sandboxes.docker_engine import prune_containers
    except ImportError as exc:
        raise SandboxError(f"pruning Docker sandboxes needs the docker Python package (pip install docker): {exc}") from exc
    return prune_containers(campaign, orphans_only=orphans_only)


def check_backend(backend: str, isolation: str = BWRAP, accept_risk: str = "") -> None:
    """Fail fast, before any work, if ``backend`` cannot run here at ``isolation`` (no
    Docker engine; no working bubblewrap; a weaker level whose risk is not named).

    Raises ``UnknownSandboxError`` for an unknown name, ``SandboxUnavailableError`` when
    the backend's engine does not answer, and ``SandboxError`` naming the fix when the
    local level may not or cannot run. Blocking (one ping or one probe at most).
    """
    name = backend.strip().lower()
    if name not in SANDBOX_BACKENDS:
        known = ", ".join(available_backends()) or "none"
        raise UnknownSandboxError(f"unknown sandbox backend {backend!r} (known: {known})")
    if name == "docker":
        try:
            from sandboxes.docker_engine import connect
        except ImportError as exc:
            raise SandboxError(f"the docker sandbox needs the docker Python package (pip install docker): {exc}") from exc
        check_request(isolation, accept_risk)
        connect().close()
    elif name == "local":
        require_level(isolation, accept_risk)
