"""Crash resume, as a user meets it: ``kill -9`` of the headless engine at random moments,
then ``aar run --resume``; and the refusals around it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from agents.settings import AarSettings

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20


def _env(settings: AarSettings, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AAR_HOME": str(tmp_path / "home"), "AAR_CACHE_DIR": str(settings.cache_dir),
            "AAR_CONFIG": str(tmp_path / "none.toml"), "AAR_BASELINE_SEEDS": "2", "AAR_REPRODUCE": "false"}


def _aar(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", *args]


def _events(db: Path, env: dict[str, str]) -> list[dict]:
    out = subprocess.run(_aar("export", str(db)), capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def _rows(events: list[dict]) -> dict[tuple[str, str], tuple[float, float]]:
    return {(e["agent_id"], e["method"]): (e["public_pgr"], e["private_pgr"])
            for e in events if e["kind"] == "submission_scored" and e["valid"]}


def test_kill_9_at_twenty_random_moments_then_resume(settings: AarSettings, tmp_path: Path) -> None:
    env = _env(settings, tmp_path)
    run = ["run", "--headless", "--agents", "1", "--experiments", "4"]
    clean_db = tmp_path / "clean.db"
    clean = subprocess.run(_aar(*run, "--db", str(clean_db)), capture_output=True, text=True, env=env, timeout=600,
                           cwd=ROOT)
    assert clean.returncode == 0, clean.stderr[-2000:]
    clean_rows = _rows(_events(clean_db, env))
    assert len(clean_rows) == 4

    db = tmp_path / "killed.db"
    rng = random.Random(20261201)
    argv = _aar(*run, "--db", str(db))
    kills = 0
    finished = False
    for attempt in range(KILLS + 10):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        if kills < KILLS:
            try:
                proc.wait(timeout=rng.uniform(1.0, 6.0))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                kills += 1
        else:
            proc.wait(timeout=600)
        stderr = proc.stderr.read() if proc.stderr else ""
        if proc.returncode == 0:
            finished = True
            break
        if not db.exists():  # killed before the store was created: start afresh
            continue
        if proc.returncode == 2 and "has finished" in stderr:
            finished = True
            break
        if proc.returncode == 2 and "holds no campaign" in stderr:  # killed before its first event was stored
            db.unlink()
            argv = _aar(*run, "--db", str(db))
            continue
        assert proc.returncode == -signal.SIGKILL, stderr[-2000:]
        argv = _aar("run", "--resume", str(db), "--headless")
    assert finished and kills == KILLS

    events = _events(db, env)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(events) + 1)), "no gap, no duplicate"
    assert events[-1]["kind"] == "campaign_finished"
    started = Counter(e["call_id"] for e in events if e["kind"] == "tool_call_started")
    ended = Counter(e["call_id"] for e in events if e["kind"] == "tool_call_finished")
    assert started and max(started.values()) == 1, "no tool_use id ran twice"
    assert max(ended.values()) == 1 and set(started) <= set(ended), "every started call is answered once"
    assert sum(e["kind"] == "campaign_resumed" for e in events) >= 1
    rows = _rows(events)
    assert rows, "the campaign scored submissions"
    for key, scores in rows.items():
        assert clean_rows.get(key) == scores, (key, scores, clean_rows)


def test_resume_refusals(settings: AarSettings, tmp_path: Path) -> None:
    env = _env(settings, tmp_path)
    db = tmp_path / "c.db"
    done = subprocess.run(_aar("run", "--headless", "--agents", "1", "--experiments", "1", "--db", str(db)),
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    before = db.stat().st_size, sum(1 for _ in _events(db, env))
    cases = [
        (["run", "--resume", str(db)], "has finished"),
        (["run", "--resume", str(tmp_path / "missing.db")], "no such campaign store"),
        (["run", "--resume", str(db), "--agents", "3"], "drop --agents"),
        (["attach", str(tmp_path / "missing.db")], "no such campaign store"),
    ]
    (tmp_path / "notes.txt").write_text("not a store")
    cases.append((["attach", str(tmp_path / "notes.txt")], "not an aar campaign store"))
    for args, needle in cases:
        result = subprocess.run(_aar(*args), capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
        assert result.returncode == 2 and needle in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert (db.stat().st_size, sum(1 for _ in _events(db, env))) == before, "nothing changed"

    # A refused resume leaves an older store as it was (no migration an older aar cannot read).
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE search")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    refused = subprocess.run(_aar("run", "--resume", str(db)), capture_output=True, text=True, env=env, timeout=120,
                             cwd=ROOT)
    assert refused.returncode == 2 and "has finished" in refused.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)


@pytest.mark.parametrize("version", [99])
def test_a_store_from_a_newer_schema_is_refused_everywhere(settings: AarSettings, tmp_path: Path, version: int) -> None:
    import sqlite3

    db = tmp_path / "new.db"
    with sqlite3.connect(db) as conn:
        conn.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                           "CREATE TABLE events (seq INTEGER PRIMARY KEY, ts REAL, kind TEXT, agent_id TEXT, body TEXT);")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [("app", "aar"), ("schema_version", str(version))])
    env = _env(settings, tmp_path)
    for args in (["attach", str(db)], ["review", str(db)], ["run", "--resume", str(db)]):
        result = subprocess.run(_aar(*args), capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
        assert result.returncode == 2 and "newer aar" in result.stderr, (args, result.stderr)


def test_a_second_engine_on_a_live_store_is_refused(settings: AarSettings, tmp_path: Path) -> None:
    env = _env(settings, tmp_path)
    db = tmp_path / "c.db"
    first = subprocess.Popen(_aar("run", "--headless", "--agents", "1", "--experiments", "3", "--db", str(db)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not db.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        second = subprocess.run(_aar("run", "--resume", str(db), "--headless"), capture_output=True, text=True,
                                env=env, timeout=120, cwd=ROOT)
        assert second.returncode == 2 and "driven by a live engine" in second.stderr, second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)


async def test_a_run_dir_from_before_the_fixed_view_moves_into_place(tmp_path: Path) -> None:
    from agents.campaign import agent_workdir
    from sandboxes import create_sandbox

    old = tmp_path / "agent-1"  # the old layout: the agent's files, input copies, a mount point
    (old / "data").mkdir(parents=True)
    (old / "data" / "train_weak.npy").write_bytes(b"old copy")
    (old / "shared").mkdir()
    (old / "train.py").write_text("print('mine')\n")
    work = agent_workdir(tmp_path, "agent-1")
    assert work == old / "work" and (work / "train.py").read_text() == "print('mine')\n"
    assert (work / "data.before-upgrade" / "train_weak.npy").read_bytes() == b"old copy"
    assert agent_workdir(tmp_path, "agent-1") == work, "once moved, it stays"
    inputs, forum = tmp_path / "task", tmp_path / "forum"
    inputs.mkdir()
    forum.mkdir()
    (inputs / "train_weak.npy").write_bytes(b"inputs")
    (forum / "post.txt").write_text("post")
    sandbox = create_sandbox("local", workdir=work, data_files={"train_weak.npy": inputs / "train_weak.npy"},
                             shared_dir=forum)
    await sandbox.start()
    try:
        seen = await sandbox.exec(["sh", "-c", "cat data/train_weak.npy shared/post.txt train.py"])
        assert seen.stdout == "inputspostprint('mine')\n", seen
    finally:
        await sandbox.close()
