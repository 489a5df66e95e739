"""Where agent-written code runs: one ``Sandbox`` protocol, backends registered by name.

``local`` (the default) confines each exec with bubblewrap (the binary aar ships) and
runs at a weaker level only when its risk is named (``levels``); ``docker`` runs one
locked-down container per agent. Every sandbox shows agent code the same fixed view
(``layout``: ``/work``, ``/data``, ``/shared``, ``/runtime``). Importing this package needs only the standard library: the docker SDK is
imported when a docker sandbox is created. Secrets (API keys) and hidden labels never
enter a sandbox; see ``Sandbox.isolation`` for what each backend does and does not isolate.
"""

from sandboxes.confined import ConfinedSandbox, create_local_sandbox
from sandboxes.errors import (
    PathEscapeError,
    SandboxClosedError,
    SandboxError,
    SandboxFileNotFoundError,
    SandboxUnavailableError,
    UnknownSandboxError,
)
from sandboxes.files import snapshot_files
from sandboxes.limits import SandboxLimits
from sandboxes.local import LocalSandbox
from sandboxes.output import truncation_marker
from sandboxes.protocol import ExecResult, OutputCallback, Sandbox
from sandboxes.registry import (
    SANDBOX_BACKENDS,
    SandboxFactory,
    available_backends,
    check_backend,
    create_docker_sandbox,
    create_sandbox,
    prune_docker_sandboxes,
    register_backend,
)

__all__ = [
    "SANDBOX_BACKENDS",
    "ConfinedSandbox",
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
    "SandboxUnavailableError",
    "UnknownSandboxError",
    "available_backends",
    "check_backend",
    "create_docker_sandbox",
    "create_local_sandbox",
    "create_sandbox",
    "prune_docker_sandboxes",
    "register_backend",
    "snapshot_files",
    "truncation_marker",
]
