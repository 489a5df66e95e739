"""`aar review` in a real terminal (tmux): the stored leaderboard appears, `q` quits."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agents.store import EventStore
from tests.tui.sample_log import sample_events

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


async def test_review_command_shows_the_stored_leaderboard(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    async with await EventStore.create(db) as store:
        for event in sample_events():
            store.append(event)

    session = f"aar-review-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "exit-code"
    # tmux's shell exports the pane's first size (80x24) as COLUMNS/LINES, and Textual trusts them
    command = f"env -u COLUMNS -u LINES {sys.executable} -m tui.cli review {db}; echo $? > {done}"
    subprocess.run(["tmux", "new", "-d", "-s", session, "-x", "160", "-y", "40", command], check=True,
                   cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 60
        while True:
            screen = _screen(session)
            if any(line.split()[:3] == ["1", "agent-2", "0.50"] for line in screen.splitlines()):
                break
            assert time.monotonic() < deadline, screen
            time.sleep(0.3)
        assert "Leaderboard" in screen and "review (read-only)" in screen
        rows = [line.split("│")[0] for line in screen.splitlines() if " agent-" in line and line.lstrip()[:1].isdigit()]
        assert [r.split()[:3] for r in rows] == [["1", "agent-2", "0.50"], ["2", "agent-1", "0.30"]], screen
        assert "0.10" in rows[0] and "[0.10, 0.50]  0.25" in rows[1]  # agent-1 has an interval, agent-2 none
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 30
        while not done.exists():
            assert time.monotonic() < deadline, "aar review did not quit on q"
            time.sleep(0.2)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
