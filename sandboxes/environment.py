"""The scrubbed environment a sandboxed process starts with.

Built from scratch, never copied from ``os.environ``: whatever the host holds (API
keys, cloud credentials, tokens) stays out unless a caller names it, and names that
look like secrets are refused even then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sandboxes.errors import SandboxError

# A name containing any of these (case-insensitive) is treated as a secret.
SECRET_NAME_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
# Well-known ML settings that match a part above but carry no secret.
NOT_SECRET_NAMES = frozenset({"TOKENIZERS_PARALLELISM"})
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
# Host secret values shorter than this are too likely to collide with ordinary values.
MIN_SECRET_VALUE_LEN = 8


def is_secret_name(name: str) -> bool:
    """True when an environment variable name looks like it holds a secret."""
    upper = name.upper()
    return upper not in NOT_SECRET_NAMES and any(part in upper for part in SECRET_NAME_PARTS)


def _host_secret_values() -> dict[str, str]:
    """Values of the host's secret-looking variables, mapped to their names."""
    return {
        value: name
        for name, value in os.environ.items()
        if is_secret_name(name) and len(value) >= MIN_SECRET_VALUE_LEN
    }


def check_env(env: Mapping[str, str], *, origin: str) -> None:
    """Refuse variables that could carry a secret or that the OS cannot pass.

    ``origin`` names where ``env`` came from, for the message. A value equal to one
    of the host's secrets is refused too, so ``FOO=$ANTHROPIC_API_KEY`` cannot smuggle
    a key in under an innocent name. Messages never include values.
    """
    host_secrets = _host_secret_values()
    for name, value in env.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise SandboxError(f"{origin}: environment names and values must be strings ({name!r})")
        if not name or "=" in name or "\0" in name:
            raise SandboxError(f"{origin}: invalid environment variable name {name!r}")
        if "\0" in value:
            raise SandboxError(f"{origin}: the value of {name!r} contains a NUL byte")
        if is_secret_name(name):
            raise SandboxError(
                f"{origin}: refusing environment variable {name!r}: names containing "
                f"{', '.join(SECRET_NAME_PARTS)} look like secrets, and secrets never enter a sandbox"
            )
        if value in host_secrets:
            raise SandboxError(
                f"{origin}: refusing environment variable {name!r}: its value is the host's "
                f"{host_secrets[value]!r}, and secrets never enter a sandbox"
            )


def sandbox_path(python_bin: str | None) -> str:
    """PATH for the child: the agent runtime's ``bin`` first (when given), then the system dirs.

    ``python`` in the sandbox is then the agent runtime's interpreter (numpy, torch),
    never the host virtualenv aar runs from.
    """
    dirs = [python_bin or "", *SYSTEM_PATH]
    return os.pathsep.join(dict.fromkeys(d for d in dirs if d))


def build_env(
    workdir: Path,
    *,
    extra_env: Mapping[str, str],
    exec_env: Mapping[str, str] | None = None,
    python_bin: str | None = None,
) -> dict[str, str]:
    """The complete environment of one exec; later layers override earlier ones.

    Layers: the fixed base, then the sandbox's ``extra_env``, then the exec's ``env``.
    ``python_bin`` is the agent runtime's ``bin`` dir (None: an image's own Python).
    """
    env = {
        "PATH": sandbox_path(python_bin),
        "HOME": str(workdir),
        "TMPDIR": str(workdir / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",  # so output streams live instead of at exit
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",  # the machines have 2 cores and run several agents
    }
    check_env(extra_env, origin="sandbox extra_env")
    env.update(extra_env)
    if exec_env:
        check_env(exec_env, origin="exec env")
        env.update(exec_env)
    return env
