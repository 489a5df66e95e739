"""Hostile tests against a wheel install: what a user gets from ``pip install aar``.

The dev install is editable, so aar's packages (and the labelled testbeds in
``experiments/data``) live in the checkout, outside the virtualenv; a release puts them
inside it. These tests build the wheel, install it into a fresh virtualenv, and attack
the sandboxes that install creates, on both backends (``wheel_attacks.py`` runs with
the fresh venv's Python). The dependencies come from the dev venv through a path entry
(a ``.pth`` line, not a site dir), so nothing is downloaded and the editable install's
import hook is not active.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.sandboxes.backends import DockerEngine

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("wheel_attacks.py")


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="session")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh virtualenv with aar installed from its wheel."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(ROOT, source, ignore=ignore)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"), str(source)])
    wheel = next((base / "dist").glob("aar-*.whl"))
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)])
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (purelib / "aar_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = _run([str(python), "-c", "import experiments; print(experiments.__file__)"], cwd=base).stdout.strip()
    assert where.startswith(str(purelib)), f"aar must import from the wheel install, not {where}"
    assert (Path(where).parent / "data" / "stdlib_docstrings.jsonl.gz").is_file(), "the wheel ships the testbeds"
    return python


def _attack(python: Path, mode: str, backend: str, work: Path, engine: DockerEngine, *extra: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work / "home"),
        "AAR_HOME": str(work / "aar-home"),
        "AAR_CACHE_DIR": str(work / "cache"),
        "AAR_RUNTIME_DIR": str(work / "runtime"),  # built here from the wheel install's view
        "HF_HUB_OFFLINE": "1",
        "ANTHROPIC_API_KEY": "sk-ant-host-secret-never-inside",
    }
    argv = [str(python), str(DRIVER), mode, "--backend", backend, "--work", str(work), *extra]
    if backend == "docker" and engine.image:
        argv += ["--image", engine.image]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hostile_wheel_install_sandbox_holds_no_label(
    wheel_python: Path, backend: str, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    report = _attack(wheel_python, "search", backend, tmp_path, docker_engine)
    assert report["where"]["experiments"].startswith(report["install_root"])
    assert report["imports"] == {
        "experiments": False, "agents": False, "sandboxes": False, "tui": False, "numpy": True, "torch": True
    }, "agents get numpy and torch, and nothing of aar"
    scan = report["scan"]
    assert scan["scanned"] > 1000, f"the scan must cover the sandbox's whole view: {scan}"
    # Positive control: the one copy of an aar file the test planted in the agent's dir is found.
    assert [m for m in scan["matches"] if m.endswith("control/scorer_copy.py")] and len(scan["matches"]) == 1, scan
    assert scan["name_hits"] == [], "no testbed data, feature cache, store or canary is visible by name"
    assert scan["proc_hits"] == [], "nothing of the host reachable through /proc"


def test_hostile_wheel_install_symlink_race_never_leaks_a_host_file(
    wheel_python: Path, backend: str, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    report = _attack(wheel_python, "race", backend, tmp_path, docker_engine, "--tries", "200")
    assert report["tries"] == 200
    assert report["leaks"] == 0, report
    # The race was real: sometimes the file was a regular file and copied, sometimes a link and refused.
    assert report["train_py_copied"] > 0 and report["predictions_refused"] > 0, report


def test_hostile_wheel_install_links_in_place_of_inputs_never_show_a_host_file(
    wheel_python: Path, backend: str, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    report = _attack(wheel_python, "links", backend, tmp_path, docker_engine)
    stages = report["stages"]
    control = stages.pop("control")
    assert set(control["found"]) == {"FOUND /work/control-canary.txt"}, "the search sees what the sandbox may see"
    expected = {"next exec", "restart"} | ({"container re-created"} if backend == "docker" else set())
    assert set(stages) == expected, stages
    for stage, seen in stages.items():
        assert seen == {"found": [], "reads": 0}, (stage, seen)
    assert report["data"] == "the task", "the inputs are still the host's, at their fixed place"
    assert report["view_leaks"] == [], "cwd, cgroup and environ name no host path or campaign"
    assert report["mountinfo_leaks"] == [], "nor does mountinfo"
