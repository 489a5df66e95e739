"""Sandbox backends registered by name, and the one way to create a sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from sandboxes.environment import check_env
from sandboxes.errors import UnknownSandboxError
from sandboxes.limits import SandboxLimits
from sandboxes.local import LocalSandbox
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
    ) -> Sandbox: ...


SANDBOX_BACKENDS: dict[str, SandboxFactory] = {"local": LocalSandbox}
"""Backend name -> factory. Add to it with ``register_backend``."""


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
) -> Sandbox:
    """Create an unstarted sandbox of the named backend; call ``start()`` before use.

    ``readonly_files`` maps a path inside the work dir to a host file copied there
    read-only. ``extra_env`` adds variables to every exec; names that look like
    secrets are refused for every backend, here, before the backend sees them.
    """
    factory = SANDBOX_BACKENDS.get(backend.strip().lower())
    if factory is None:
        known = ", ".join(available_backends()) or "none"
        raise UnknownSandboxError(f"unknown sandbox backend {backend!r} (known: {known})")
    check_env(extra_env, origin="sandbox extra_env")
    return factory(workdir=workdir, readonly_files=readonly_files, limits=limits, extra_env=extra_env)
