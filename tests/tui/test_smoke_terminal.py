"""`aar run` in a real terminal (tmux): agents appear, `p` pauses agent-1, `n` then `a`
approve another agent's request, a submission reaches the leaderboard, `q` quits with
exit code 0, and the store holds both commands with the viewer who sent them."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.commands import Approve, Pause
from agents.events import CommandApplied
from agents.store import EventStore

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 200, 50
SIDE = WIDTH * 46 // 100  # the agents table and the tabs take the left 46% (styles/app.tcss)
SET_UP_S = 240  # a fresh feature cache is extracted first: about a minute on 2 idle cores
CAMPAIGN = """\
agents = 3
experiments_per_agent = 2
baseline_seeds = 2
max_wall_s = 600
reproduce = false

[[approvals]]
tool = "run_command"
command = "python train_head.py*"
action = "ask"
"""


class Terminal:
    """One tmux server of its own (its socket in the test's directory), so no other server's
    environment leaks in and nothing is left behind."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.session = f"aar-smoke-{uuid.uuid4().hex[:8]}"

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], capture_output=True, text=True)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session).stdout

    def press(self, key: str) -> None:
        assert self.tmux("send-keys", "-t", self.session, key).returncode == 0

    def wait_for(self, what: str, found: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not found(screen := self.screen()):
            assert time.monotonic() < deadline, f"not on screen after {timeout:.0f}s: {what}\n{screen}"
            time.sleep(0.3)
        return screen


def agent_row(screen: str, agent_id: str) -> str:
    """The agents table's row of one agent ("" if not shown), from the left pane only."""
    return next((line[:SIDE] for line in screen.splitlines() if re.match(rf"\s*{agent_id}\s", line[:SIDE])), "")


def waiting_count(screen: str) -> int:
    match = re.search(r"(\d+) awaiting approval", screen)
    return int(match.group(1)) if match else 0


def leaderboard_rows(screen: str) -> list[list[str]]:
    """Rank, agent and public PGR of each leaderboard row shown."""
    lines = [line[:SIDE] for line in screen.splitlines()]
    return [line.split()[:3] for line in lines if re.match(r"\s*\d+\s+agent-\d\s+[-+]?\d", line)]


async def test_run_pause_approve_and_quit_by_key(tmp_path: Path, feature_cache: Path) -> None:
    (tmp_path / "campaign.toml").write_text(CAMPAIGN)
    db = tmp_path / "c.db"
    done = tmp_path / "exit-code"
    env = {"AAR_HOME": tmp_path / "home", "AAR_CACHE_DIR": feature_cache, "AAR_CONFIG": tmp_path / "none.toml"}
    # The shell may export the pane's size before tmux widens it to WIDTH x HEIGHT, and
    # COLUMNS/LINES would then pin the app at 80x24: unset, the app reads the tty itself.
    assignments = [f"{k}={shlex.quote(str(v))}" for k, v in env.items()]
    command = (" ".join(["env", "-u", "COLUMNS", "-u", "LINES", *assignments])
               + f" {shlex.quote(sys.executable)} -m tui.cli run --db {db} --campaign {tmp_path / 'campaign.toml'}"
               + f"; echo $? > {done}")  # Textual draws on stderr: no redirection
    term = Terminal(tmp_path / "tmux")
    set_up_by = time.monotonic() + SET_UP_S
    started = term.tmux("-f", "/dev/null", "new", "-d", "-s", term.session, "-x", str(WIDTH), "-y", str(HEIGHT),
                        "-c", str(ROOT), command)
    assert started.returncode == 0, started.stderr
    try:
        screen = term.wait_for("the leaderboard tab and agent-1's row",
                               lambda s: "Leaderboard (public)" in s and agent_row(s, "agent-1") != "", SET_UP_S)
        assert "Approvals (" in screen and "awaiting approval" in screen, screen

        term.press("p")  # the agents table has focus and its cursor on agent-1
        term.wait_for("agent-1 paused", lambda s: "paused" in agent_row(s, "agent-1"), 30)

        # Once set up, agent-2 and agent-3 soon ask to train; agent-1 (paused) may hold a request too.
        screen = term.wait_for("another agent awaiting approval", lambda s: waiting_count(s) > 0 and any(
            "awaiting approval" in agent_row(s, a) for a in ("agent-2", "agent-3")),
            max(60.0, set_up_by - time.monotonic()))
        term.press("n")  # selects the next agent awaiting approval after agent-1
        screen = term.wait_for("the next asking agent selected",
                               lambda s: re.search(r"agent-[23] · awaiting approval", s) is not None, 30)
        asking = re.search(r"(agent-[23]) · awaiting approval", screen).group(1)  # type: ignore[union-attr]
        term.press("a")
        approved = re.compile(r"approved by (tui-\d+)")
        screen = term.wait_for(f"{asking}'s call approved in its transcript",
                               lambda s: any(approved.search(line[SIDE:]) for line in s.splitlines()), 30)
        viewer = approved.search(screen).group(1)  # type: ignore[union-attr]

        screen = term.wait_for(f"{asking}'s submission on the leaderboard",
                               lambda s: any(r[1] == asking for r in leaderboard_rows(s)), 90)
        assert leaderboard_rows(screen)[0][0] == "1", screen
        assert "paused" in agent_row(screen, "agent-1"), "agent-1 stays paused\n" + screen

        term.press("q")
        deadline = time.monotonic() + 60
        while not done.exists() or not done.read_text().strip():
            assert time.monotonic() < deadline, "aar run did not quit on q\n" + term.screen()
            time.sleep(0.2)
        assert done.read_text().strip() == "0", term.screen()
    finally:
        term.tmux("kill-server")

    async with await EventStore.open(db) as store:
        applied = [e for e in await store.read_all() if isinstance(e, CommandApplied)]
    pauses = [e for e in applied if isinstance(e.command, Pause)]
    approvals = [e for e in applied if isinstance(e.command, Approve)]
    assert [(e.agent_id, e.command.agent_id, e.command.viewer) for e in pauses] == [  # type: ignore[union-attr]
        ("agent-1", "agent-1", viewer)], applied
    assert [(e.agent_id, e.command.always, e.command.viewer) for e in approvals] == [  # type: ignore[union-attr]
        (asking, "no", viewer)], applied
