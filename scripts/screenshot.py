"""Render the control room over the sample campaign log and save it as SVG (the README's
screenshot): `.venv/bin/python scripts/screenshot.py docs/control-room.svg`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.tui.sample_log import RecordingControl, control_room_events  # noqa: E402
from tui.app import AarApp  # noqa: E402


async def main(out: Path) -> None:
    app = AarApp(None, RecordingControl(), events=control_room_events(), viewer="you")
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.7)
        app.select_agent("agent-3")
        await pilot.press("t")  # open the thinking
        await pilot.pause(0.7)
        out.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(str(out.name), path=str(out.parent))
    print(out)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/control-room.svg")))
