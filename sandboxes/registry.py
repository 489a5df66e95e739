"""Sandbox backends registered by name, and the one way to create a sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from sandboxes.confined import create_local_sandbox
from sandboxes.environment import check_env
from sandboxes.errors import SandboxError, UnknownSandboxError
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
        readonly_files: Mapping[str, Path],
        limits: SandboxLimits,
        extra_env: Mapping[str, str],
        shared_dirs: Mapping[str, Path] = ...,
    ) -> Sandbox: ...


def create_docker_sandbox(
    *,
    workdir: Path,
    readonly_files: Mapping[str, Path] = _NO_FILES,
    limits: SandboxLimits = SandboxLimits(),
    extra_env: Mapping[str, str] = _EMPTY,
    shared_dirs: Mapping[str, Path] = _NO_FILES,
) -> Sandbox:
    """Registry factory of the ``docker`` backend.

    Imports the docker SDK only now, so ``import sandboxes`` works on machines without
    it; the engine itself is first contacted by ``start()``.
    """
    try:
        from sandboxes.docker_sandbox import DockerSandbox
    except ImportError as exc:
        raise SandboxError(
            f"the docker sandbox needs the docker Python package (pip install docker): {exc}"
        ) from exc
    return DockerSandbox(workdir=workdir, readonly_files=readonly_files, limits=limits, extra_env=extra_env,
                         shared_dirs=shared_dirs)


SANDBOX_BACKENDS: dict[str, SandboxFactory] = {"local": create_local_sandbox, "docker": create_docker_sandbox}
"""Backend name -> factory. Add to it with ``register_backend``. ``local`` is the strongest
isolation level this host allows (bwrap, namespaces, process; see ``levels``)."""


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
    readonly_files: Mapping[str, Path] = _NO_FILES,
    limits: SandboxLimits = SandboxLimits(),
    extra_env: Mapping[str, str] = _EMPTY,
    shared_dirs: Mapping[str, Path] = _NO_FILES,
) -> Sandbox:
    """Create an unstarted sandbox of the named backend; call ``start()`` before use.

    ``readonly_files`` maps a path inside the work dir to a host file copied there
    read-only; ``shared_dirs`` maps a folder name in the work dir to a host dir the
    sandbox sees read-only there (live: what the host adds later appears). ``extra_env`` adds variables to every exec; names that look like
    secrets are refused for every backend, here, before the backend sees them.
    """
    factory = SANDBOX_BACKENDS.get(backend.strip().lower())
    if factory is None:
        known = ", ".join(available_backends()) or "none"
        raise UnknownSandboxError(f"unknown sandbox backend {backend!r} (known: {known})")
    check_env(extra_env, origin="sandbox extra_env")
    if shared_dirs:  # only then: a factory written before shared folders existed keeps working
        return factory(workdir=workdir, readonly_files=readonly_files, limits=limits, extra_env=extra_env,
                       shared_dirs=shared_dirs)
    return factory(workdir=workdir, readonly_files=readonly_files, limits=limits, extra_env=extra_env)  # type: ignore[call-arg]


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


def check_backend(backend: str) -> None:
    """Fail fast, before any work, if ``backend`` cannot run here (e.g. no Docker engine).

    Raises ``UnknownSandboxError`` for an unknown name and ``SandboxUnavailableError``
    when the backend's engine does not answer. Blocking (one ping at most).
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
        connect().close()
