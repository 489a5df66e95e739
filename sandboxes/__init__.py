"""Where agent-written code runs: one ``Sandbox`` protocol, backends registered by name.

Imports only the standard library. Secrets (API keys) and hidden labels never enter a
sandbox; see ``Sandbox.isolation`` for what each backend does and does not isolate.
"""

from sandboxes.errors import (
    PathEscapeError,
    SandboxClosedError,
    SandboxError,
    SandboxFileNotFoundError,
    UnknownSandboxError,
)
from sandboxes.limits import SandboxLimits
from sandboxes.local import LocalSandbox
from sandboxes.output import truncation_marker
from sandboxes.protocol import ExecResult, OutputCallback, Sandbox
from sandboxes.registry import (
    SANDBOX_BACKENDS,
    SandboxFactory,
    available_backends,
    create_sandbox,
    register_backend,
)

__all__ = [
    "SANDBOX_BACKENDS",
    "ExecResult",
    "LocalSandbox",
    "OutputCallback",
    "PathEscapeError",
    "Sandbox",
    "SandboxClosedError",
    "SandboxError",
    "SandboxFactory",
    "SandboxFileNotFoundError",
    "SandboxLimits",
    "UnknownSandboxError",
    "available_backends",
    "create_sandbox",
    "register_backend",
    "truncation_marker",
]
