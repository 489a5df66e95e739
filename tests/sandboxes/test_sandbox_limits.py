"""rlimits applied in the child, and validation of the limits themselves."""

from __future__ import annotations

import os

import resource

import pytest

from sandboxes import LocalSandbox, SandboxError, SandboxLimits
from sandboxes import local as local_module
from sandboxes.limits import find_prlimit, rlimit_launcher, rlimit_settings


@pytest.fixture(params=["prlimit", "preexec"])
def launcher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with limits applied by the prlimit wrapper, then by the preexec hook."""
    if request.param == "prlimit" and find_prlimit() is None:
        pytest.skip("prlimit (util-linux) is not installed")
    if request.param == "preexec":
        monkeypatch.setattr(local_module, "find_prlimit", lambda: None)
    return str(request.param)


def test_prlimit_wrapper_argv() -> None:
    limits = SandboxLimits(memory_bytes=100, cpu_seconds=7, file_size_bytes=None, open_files=None)
    wrapped = rlimit_launcher(limits, "/usr/bin/prlimit").wrap(["python", "x.py"])
    nice = ["/usr/bin/nice", "-n", "10"] if wrapped[0].endswith("nice") else []
    assert wrapped == [*nice, "/usr/bin/prlimit", "--core=0:0", "--as=100:100", "--cpu=7:12", "--", "python", "x.py"]
    unniced = SandboxLimits(memory_bytes=100, cpu_seconds=7, file_size_bytes=None, open_files=None, nice=None)
    assert rlimit_launcher(unniced, "/usr/bin/prlimit").wrap(["true"])[0] == "/usr/bin/prlimit"
    hook = rlimit_launcher(limits, None)
    assert hook.wrap(["python"]) == ["python"] and hook.preexec_fn is not None


async def test_memory_limit_gives_memory_error_and_the_sandbox_survives(make_sandbox, launcher: str) -> None:
    sandbox: LocalSandbox = await make_sandbox(limits=SandboxLimits(memory_bytes=512 * 1024**2, timeout_s=30))
    result = await sandbox.exec(["python", "-c", "x = bytearray(8 * 1024**3)"])
    assert result.returncode not in (0, None)
    assert "MemoryError" in result.stderr
    again = await sandbox.exec(["python", "-c", "print(len(bytearray(10 * 1024**2)))"])
    assert again.returncode == 0 and again.stdout == "10485760\n"


async def test_file_size_limit(make_sandbox) -> None:
    sandbox: LocalSandbox = await make_sandbox(limits=SandboxLimits(file_size_bytes=1024**2, timeout_s=30))
    code = "open('big.bin', 'wb').write(b'x' * (2 * 1024**2))"
    result = await sandbox.exec(["python", "-c", code])
    assert result.returncode != 0
    assert "File too large" in result.stderr
    assert (sandbox.workdir / "big.bin").stat().st_size <= 1024**2


async def test_open_files_limit(make_sandbox) -> None:
    sandbox: LocalSandbox = await make_sandbox(limits=SandboxLimits(open_files=32, timeout_s=30))
    code = "files = [open('f%d' % i, 'w') for i in range(100)]"
    result = await sandbox.exec(["python", "-c", code])
    assert result.returncode != 0
    assert "Too many open files" in result.stderr


async def test_cpu_limit_stops_a_busy_loop(make_sandbox) -> None:
    sandbox: LocalSandbox = await make_sandbox(limits=SandboxLimits(cpu_seconds=1, timeout_s=30))
    result = await sandbox.exec(["python", "-c", "while True: pass"])
    assert result.returncode == -24  # SIGXCPU at the soft limit
    assert result.duration_s < 5


async def test_child_cannot_raise_its_limits_or_dump_core(make_sandbox, launcher: str) -> None:
    sandbox: LocalSandbox = await make_sandbox(limits=SandboxLimits(memory_bytes=1024**3, timeout_s=30))
    code = (
        "import resource\n"
        "print(resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_CORE))\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))\n"
    )
    result = await sandbox.exec(["python", "-c", code])
    assert result.stdout == f"({1024**3}, {1024**3}) (0, 0)\n"
    assert result.returncode != 0  # raising the hard limit is refused, even for root
    assert "ValueError" in result.stderr


def test_none_leaves_a_limit_alone() -> None:
    limits = SandboxLimits(memory_bytes=None, cpu_seconds=None, file_size_bytes=None, open_files=None)
    assert [res for res, _ in rlimit_settings(limits)] == [resource.RLIMIT_CORE]


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout_s": 0}, {"timeout_s": float("nan")}, {"output_cap_bytes": 0}, {"memory_bytes": -1}],
)
def test_invalid_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(SandboxError):
        SandboxLimits(**kwargs)  # type: ignore[arg-type]


async def test_invalid_exec_timeout_is_refused(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxError, match="timeout_s"):
        await sandbox.exec(["true"], timeout_s=-1)


async def test_agent_code_runs_at_a_lower_cpu_priority_than_the_engine(make_sandbox) -> None:
    sandbox: LocalSandbox = await make_sandbox()
    result = await sandbox.exec(["python", "-c", "import os; print(os.nice(0))"])
    assert result.returncode == 0 and int(result.stdout) == os.nice(0) + 10
