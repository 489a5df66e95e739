"""Exec round-trip latency of the sandboxes: ``true`` and a small Python script.

Run: ``python benchmarks/bench_sandbox.py [--runs 50] [--backends process,bwrap,docker]``.
Prints p50 and p95 in ms per backend and command, and the targets (2 cores): local
(bwrap) p50 <= 50 ms, Docker exec p50 <= 300 ms; and ``start()`` of a fresh sandbox
(work dir, inputs, container for Docker; the agent runtime is cached per host).

A round trip is one ``await sandbox.exec(...)``. For ``process`` (the unconfined
fallback) and ``bwrap`` (the local default): spawn with rlimits and a scrubbed
environment (inside fresh namespaces, for bwrap), wait for exit, drain output, kill
the group. For ``docker``: an exec in the agent's already-running container, output
streamed back, exit code inspected. The "bare" rows run the same commands with plain
``asyncio.create_subprocess_exec`` for comparison. A backend that cannot run here is
reported as skipped, with the reason.
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

from sandboxes import ConfinedSandbox, Sandbox, SandboxError, levels  # noqa: E402

SMALL_SCRIPT = """\
import json, math
rows = [{"i": i, "sqrt": math.sqrt(i)} for i in range(100)]
print(len(json.dumps(rows)))
"""
COMMANDS = {"true": ["true"], "python small.py": ["python", "small.py"]}
TARGET_P50_MS = {"bwrap": 50.0, "docker": 300.0}


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _make(backend: str, workdir: Path) -> Sandbox:
    if backend == "docker":
        from sandboxes.docker_sandbox import DockerSandbox

        return DockerSandbox(workdir=workdir, campaign="bench")
    return ConfinedSandbox(workdir=workdir, level=backend, accept_risk=levels.RISKS.get(backend, ""))


async def _bench_start(backend: str, runs: int, tmp: Path) -> list[float]:
    """``start()`` of fresh sandboxes (the agent runtime already built: it is cached per host)."""
    samples = []
    for i in range(max(3, runs // 5)):
        sandbox = _make(backend, tmp / f"{backend}-start-{i}" / "work")
        begin = time.perf_counter()
        await sandbox.start()
        samples.append((time.perf_counter() - begin) * 1000)
        await sandbox.close()
    return samples


async def _bench_backend(backend: str, runs: int, tmp: Path) -> dict[str, list[float]]:
    sandbox = _make(backend, tmp / backend / "work")
    await sandbox.start()  # the first start on a host builds the agent runtime (seconds, once)
    try:
        await sandbox.write_file("small.py", SMALL_SCRIPT)
        timings: dict[str, list[float]] = {}
        for label, cmd in COMMANDS.items():
            await sandbox.exec(cmd)  # warm-up: page cache, first fork, image layers
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                result = await sandbox.exec(cmd)
                samples.append((time.perf_counter() - start) * 1000)
                if result.returncode != 0:
                    raise SystemExit(f"{backend} {label} failed: {result}")
            timings[label] = samples
    finally:
        await sandbox.close()
    timings["start()"] = await _bench_start(backend, runs, tmp)
    return timings


async def _bare_exec(cmd: Sequence[str], cwd: Path) -> int | None:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    await proc.communicate()
    return proc.returncode


async def _bench_bare(runs: int, tmp: Path) -> dict[str, list[float]]:
    (tmp / "small.py").write_text(SMALL_SCRIPT)
    timings: dict[str, list[float]] = {}
    for label, cmd in COMMANDS.items():
        argv = [sys.executable, *cmd[1:]] if cmd[0] == "python" else cmd
        await _bare_exec(argv, tmp)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            await _bare_exec(argv, tmp)
            samples.append((time.perf_counter() - start) * 1000)
        timings[label] = samples
    return timings


async def _measure(backends: list[str], runs: int) -> tuple[dict[str, dict[str, list[float]]], dict[str, str]]:
    results: dict[str, dict[str, list[float]]] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        tmp.chmod(0o755)  # a root host's sandbox uid reaches its work dir through here (Docker)
        for backend in backends:
            if backend != "docker" and not levels.probe(backend).available:
                skipped[backend] = levels.probe(backend).reason
                continue
            try:
                results[backend] = await _bench_backend(backend, runs, tmp)
            except SandboxError as exc:
                skipped[backend] = str(exc)
        results["bare"] = await _bench_bare(runs, tmp)
    return results, skipped


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--backends", default="process,bwrap,docker", help="comma-separated: process, bwrap, docker")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results, skipped = asyncio.run(_measure(backends, args.runs))
    print(f"sandbox exec round trip, {args.runs} runs each")
    print(f"{'backend':<9} {'command':<18} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}  target")
    for backend, timings in results.items():
        for label, samples in timings.items():
            p50, p95 = _percentile(samples, 0.50), _percentile(samples, 0.95)
            target = TARGET_P50_MS.get(backend) if label != "start()" else None
            verdict = "" if target is None else f"p50 <= {target:.0f}: {'ok' if p50 <= target else 'MISSED'}"
            print(f"{backend:<9} {label:<18} {p50:8.1f} {p95:8.1f} {statistics.fmean(samples):8.1f}  {verdict}")
    for backend, reason in skipped.items():
        print(f"{backend:<9} skipped: {reason}")


if __name__ == "__main__":
    main()
