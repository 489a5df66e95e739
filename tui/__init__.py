"""The Textual control room.

Frames are drawn at most 1/120 s after a change (Textual's default is 1/60 s): measured
with 32 agents streaming, a keypress reached the screen in 36 ms at the median instead of
48 (``benchmarks/bench_control_room.py``); frames are drawn only when something changed,
so this costs no idle CPU. It must be set before Textual is imported; ``TEXTUAL_FPS`` in
the environment still wins.
"""

import os

os.environ.setdefault("TEXTUAL_FPS", "120")
