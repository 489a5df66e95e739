"""The `aar` command line, run as a user runs it: a subprocess per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def aar(*args: str, env_extra: dict[str, str] | None = None, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AAR_HOME": str(home / "aar-home"), "AAR_CONFIG": str(home / "none.toml")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aar: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "--agents", "0", "--db", "{tmp}/x.db"], ["--agents", "at least 1"]),
        (["run", "--testbed", "nope", "--db", "{tmp}/x.db"], ["unknown testbed 'nope'", "stdlib-docstrings-hard"]),
        (["run", "--sandbox", "nope", "--db", "{tmp}/x.db"], ["unknown sandbox backend 'nope'", "local"]),
        (["run", "--db", "{tmp}/no/such/dir/x.db"], ["does not exist"]),
        (["w2s", "run", "--method", "nope", "--json"], ["nope", "cross_entropy"]),
        (["w2s", "run", "--testbed", "nope", "--json"], ["nope", "stdlib-docstrings-hard"]),
        (["review", "{tmp}/missing.db"], ["no such campaign store"]),
        (["export", "{tmp}/notes.txt", "--format", "jsonl"], ["not an aar campaign store"]),
        (["export", "{tmp}/notes.txt", "--format", "pdf"], ["invalid choice"]),
        (["run", "--campaign", "{tmp}/unknown.toml", "--db", "{tmp}/x.db"], ["unknown.toml", "unknown key 'agnets'"]),
        (["run", "--campaign", "{tmp}/bad.toml", "--db", "{tmp}/x.db"], ["bad.toml", "'agents'", "less than or equal"]),
        (["run", "--campaign", "{tmp}/broken.toml", "--db", "{tmp}/x.db"], ["broken.toml", "not valid TOML"]),
        (["run", "--campaign", "{tmp}/none.toml", "--db", "{tmp}/x.db"], ["none.toml", "no such file"]),
        (["run", "--researcher", "claude", "--db", "{tmp}/x.db"], ["ANTHROPIC_API_KEY", "--researcher baseline"]),
        (["run", "--researcher", "gpt", "--db", "{tmp}/x.db"], ["unknown researcher 'gpt'", "baseline, claude"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, args: list[str], needles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    (tmp_path / "notes.txt").write_text("not a database")
    (tmp_path / "unknown.toml").write_text('agnets = 3\n')
    (tmp_path / "bad.toml").write_text('researcher = "claude"\nagents = 500\n')
    (tmp_path / "broken.toml").write_text('agents = [\n')
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = aar(*(a.format(tmp=tmp_path) for a in args), home=tmp_path)
    assert_usage_error(result, *needles)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_existing_db_is_never_overwritten(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    db.write_text("precious")
    assert_usage_error(aar("run", "--headless", "--db", str(db), home=tmp_path), "already exists")
    assert db.read_text() == "precious"


def test_headless_run_then_export_and_w2s(tmp_path: Path, feature_cache: Path) -> None:
    env = {"AAR_CACHE_DIR": str(feature_cache)}
    db = tmp_path / "c.db"
    run = aar(
        "run", "--headless", "--agents", "2", "--experiments", "1", "--db", str(db),
        env_extra=env, home=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "Leaderboard" in run.stdout and "campaign finished" in run.stdout
    assert run.stdout.count("submission #") == 2

    exported = aar("export", str(db), "--format", "jsonl", home=tmp_path)
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["kind"] == "campaign_started" and events[-1]["kind"] == "campaign_finished"
    assert sum(e["kind"] == "submission_scored" and e["valid"] for e in events) == 2

    report = aar("export", str(db), "--format", "md", home=tmp_path)
    assert report.returncode == 0 and "## Leaderboard" in report.stdout and "## agent-2" in report.stdout

    w2s = aar("w2s", "run", "--testbed", "stdlib-docstrings-hard", "--method", "cross_entropy", "--seeds", "2",
              "--json", env_extra=env, home=tmp_path)
    assert w2s.returncode == 0, w2s.stderr
    result = json.loads(w2s.stdout)
    for key in ("acc_weak", "acc_ceiling", "gap", "acc_w2s", "pgr"):
        assert key in result
    assert result["gap"] == pytest.approx(result["acc_ceiling"] - result["acc_weak"])
    control = aar("w2s", "run", "--testbed", "stdlib-docstrings-hard", "--method", "cross_entropy", "--seeds", "2",
                  "--weak-labels", "shuffled", "--json", env_extra=env, home=tmp_path)
    assert control.returncode == 0, control.stderr
    shuffled = json.loads(control.stdout)
    assert shuffled["weak_labels"] == "shuffled" and result["weak_labels"] == "teacher"
    assert shuffled["acc_w2s"] < result["acc_w2s"] - 0.05  # the teacher's labels carried the signal


def test_docker_without_an_engine_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = aar("run", "--headless", "--sandbox", "docker", "--db", str(db),
                 env_extra={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}, home=tmp_path)
    assert_usage_error(result, "cannot use Docker", "no Docker engine answers")
    assert not db.exists()


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _docker_engine_answers(), reason="no Docker engine answers (scripts/ci-services starts one)")
def test_headless_run_in_docker_sandboxes(tmp_path: Path, feature_cache: Path) -> None:
    db = tmp_path / "c.db"
    run = aar("run", "--headless", "--sandbox", "docker", "--agents", "2", "--experiments", "1", "--db", str(db),
              env_extra={"AAR_CACHE_DIR": str(feature_cache)}, home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("submission #") == 2 and "all agents finished" in run.stdout
    exported = aar("export", str(db), "--format", "jsonl", home=tmp_path)
    started = [json.loads(line) for line in exported.stdout.splitlines() if '"agent_started"' in line]
    assert [e["sandbox_isolation"].split()[0] for e in started] == ["docker", "docker"]


def test_w2s_methods_and_prepare(tmp_path: Path, feature_cache: Path) -> None:
    methods = aar("w2s", "methods", "--json", home=tmp_path)
    assert methods.returncode == 0, methods.stderr
    catalog = json.loads(methods.stdout)
    names = {m["name"] for m in catalog}
    assert {"cross_entropy", "confidence", "principal_probe"} <= names and len(names) >= 8
    assert all(m["summary"] and m["source"] for m in catalog)

    env = {"AAR_CACHE_DIR": str(feature_cache)}
    first = aar("w2s", "prepare", "--testbed", "stdlib-docstrings-hard", env_extra=env, home=tmp_path)
    assert first.returncode == 0, first.stderr
    again = aar("w2s", "prepare", "--testbed", "stdlib-docstrings-hard", env_extra=env, home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "stdlib-docstrings-hard" in again.stdout and "cache hit" in again.stdout
