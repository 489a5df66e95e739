"""The scrubbed environment: host secrets never enter, secret-like names are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandboxes import LocalSandbox, SandboxError, create_sandbox


def _env_of(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


async def test_host_secrets_and_host_env_are_absent(sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("SOME_HOST_SETTING", "host-only")
    result = await sandbox.exec(["env"])
    env = _env_of(result.stdout)
    assert "ANTHROPIC_API_KEY" not in env
    assert "sk-test" not in result.stdout
    assert "SOME_HOST_SETTING" not in env
    assert env["HOME"] == str(sandbox.workdir)
    assert env["TMPDIR"] == str(sandbox.workdir / "tmp")
    assert os.path.isdir(env["TMPDIR"])
    assert env["PATH"].split(":")[0] == sandbox.runtime.host_bin_dir
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LANG"] == "C.UTF-8"


def test_secret_named_extra_env_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="MY_TOKEN"):
        create_sandbox("local", workdir=tmp_path / "w", extra_env={"MY_TOKEN": "x"})
    with pytest.raises(SandboxError, match="secrets never enter"):
        LocalSandbox(workdir=tmp_path / "w", extra_env={"db_password": "x"})


async def test_secret_named_exec_env_is_refused(sandbox: LocalSandbox) -> None:
    for name in ("aws_secret_access_key", "OPENAI_API_KEY", "HF_TOKEN", "Credentials_File"):
        with pytest.raises(SandboxError, match=name):
            await sandbox.exec(["true"], env={name: "x"})


async def test_tokenizers_parallelism_is_not_a_secret(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec(["env"], env={"TOKENIZERS_PARALLELISM": "false"})
    assert _env_of(result.stdout)["TOKENIZERS_PARALLELISM"] == "false"


async def test_host_secret_value_under_another_name_is_refused(
    sandbox: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abcdef123456")
    with pytest.raises(SandboxError, match="OPENAI_API_KEY") as info:
        await sandbox.exec(["true"], env={"INNOCENT": "sk-abcdef123456"})
    assert "sk-abcdef123456" not in str(info.value)


async def test_extra_env_and_exec_env_pass_through_in_order(make_sandbox) -> None:
    sandbox = await make_sandbox(extra_env={"MODE": "extra", "KEEP": "1"})
    result = await sandbox.exec(["env"], env={"MODE": "exec"})
    env = _env_of(result.stdout)
    assert env["MODE"] == "exec"
    assert env["KEEP"] == "1"


async def test_invalid_env_names_are_refused(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxError, match="invalid"):
        await sandbox.exec(["true"], env={"A=B": "x"})
    with pytest.raises(SandboxError, match="NUL"):
        await sandbox.exec(["true"], env={"A": "x\0y"})
