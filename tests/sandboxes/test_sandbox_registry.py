"""The backend registry, the protocol, and import hygiene."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

import sandboxes
from sandboxes import (
    SANDBOX_BACKENDS,
    LocalSandbox,
    Sandbox,
    SandboxLimits,
    UnknownSandboxError,
    available_backends,
    create_sandbox,
    register_backend,
)


def test_unknown_backend_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownSandboxError) as info:
        create_sandbox("foo", workdir=tmp_path)
    assert str(info.value) == "unknown sandbox backend 'foo' (known: docker, local)"


def test_local_backend_is_registered_and_satisfies_the_protocol(tmp_path: Path) -> None:
    assert "local" in available_backends()
    sandbox = create_sandbox("local", workdir=tmp_path / "w")
    assert isinstance(sandbox, LocalSandbox)
    assert isinstance(sandbox, Sandbox)
    assert sandbox.backend == "local"
    assert sandbox.isolation.startswith("bwrap")  # the level in force, named: never weaker unless asked
    assert sandbox.workdir == (tmp_path / "w").resolve()


def test_register_backend_adds_a_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandboxes.registry, "SANDBOX_BACKENDS", dict(SANDBOX_BACKENDS))
    calls: list[dict[str, object]] = []

    def factory(
        *, workdir: Path, data_files: Mapping[str, Path], limits: SandboxLimits, extra_env: Mapping[str, str],
        shared_dir: Path | None, isolation: str, accept_risk: str, identity: str | None,
    ) -> Sandbox:
        calls.append({"workdir": workdir, "limits": limits, "extra_env": extra_env, "isolation": isolation})
        return LocalSandbox(workdir=workdir, limits=limits, extra_env=extra_env)

    register_backend("fake", factory)
    assert available_backends() == ["docker", "fake", "local"]
    limits = SandboxLimits(timeout_s=5)
    create_sandbox("fake", workdir=tmp_path, limits=limits, extra_env={"A": "1"})
    assert calls == [{"workdir": tmp_path, "limits": limits, "extra_env": {"A": "1"}, "isolation": "bwrap"}]


def test_importing_sandboxes_pulls_in_nothing_of_ours() -> None:
    # docker too: a docker backend must import its SDK lazily, so the local default
    # works on machines without it.
    code = (
        "import sys, sandboxes\n"
        "bad = {'agents', 'experiments', 'tui', 'textual', 'pydantic', 'docker'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "[]"
