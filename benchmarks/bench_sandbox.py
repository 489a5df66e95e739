"""Exec round-trip latency of the local sandbox: ``true`` and ``python -c "print(1)"``.

Run: ``python benchmarks/bench_sandbox.py [--runs 50]``. Prints p50 and p95 in ms.
A round trip is one ``await sandbox.exec(...)``: spawn with rlimits and a scrubbed
environment, wait for exit, drain output, kill the group. The "bare" rows run the
same commands with plain ``asyncio.create_subprocess_exec`` for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# Run from a checkout without installing: make the repo root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandboxes import create_sandbox  # noqa: E402


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _bare_exec(cmd: Sequence[str]) -> int | None:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    await proc.communicate()
    return proc.returncode


async def _measure(runs: int) -> dict[str, list[float]]:
    commands = {
        "true": ["true"],
        "python -c 'print(1)'": [sys.executable, "-c", "print(1)"],
    }
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = create_sandbox("local", workdir=Path(tmp) / "work")
        await sandbox.start()
        try:
            for label, cmd in commands.items():
                await sandbox.exec(cmd)  # warm-up: page cache, first fork
                samples = []
                for _ in range(runs):
                    start = time.perf_counter()
                    result = await sandbox.exec(cmd)
                    samples.append((time.perf_counter() - start) * 1000)
                    if result.returncode != 0:
                        raise SystemExit(f"{label} failed: {result}")
                timings[label] = samples
        finally:
            await sandbox.close()
    for label, cmd in commands.items():
        await _bare_exec(cmd)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            await _bare_exec(cmd)
            samples.append((time.perf_counter() - start) * 1000)
        timings[f"bare {label}"] = samples
    return timings


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    timings = asyncio.run(_measure(args.runs))
    print(f"local sandbox exec round trip, {args.runs} runs each")
    print(f"{'command':<30} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for label, samples in timings.items():
        p50, p95 = _percentile(samples, 0.50), _percentile(samples, 0.95)
        print(f"{label:<30} {p50:8.1f} {p95:8.1f} {statistics.fmean(samples):8.1f}")


if __name__ == "__main__":
    main()
