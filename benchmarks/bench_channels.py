"""Covert channels between two sandboxes running at once: how many bits per second get through.

Run: ``python benchmarks/bench_channels.py [--backends bwrap,docker] [--bits 48] [--slots-ms 100,250]``.

Two sandboxes of one backend, made as a campaign makes them, run side by side. The
sender encodes random bits in a shared resource, one bit per time slot; the receiver
samples the resource once per slot and decodes with a threshold calibrated on a known
preamble. Both start their slot clocks at the same wall-clock instant (the host's clock
is visible to both). Printed per channel and slot length: bit errors, the raw rate
(1 / slot) and the capacity of that binary symmetric channel, ``(1 - H(p)) / slot``
bits/s, which is what an agent pair could get with coding. The README's security
section quotes these numbers.

Channels:
- ``statvfs``: free blocks of the filesystem behind ``/work`` (the host's, under every
  sandbox's work dir); the sender allocates 256 MiB (``fallocate``) for a 1, frees it for a 0.
- ``flock``: an exclusive lock on ``/etc/passwd``, held for a 1 (0 bits expected: every
  sandbox sees its own overlay inode).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
from pathlib import Path

# Run from a checkout without installing: make the repo root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandboxes import ConfinedSandbox, Sandbox, SandboxError  # noqa: E402

PREAMBLE = [1, 0, 1, 0, 1, 1, 0, 0]

SENDER = r"""
import fcntl, os, sys, time
channel, start, slot, bits = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
lock = open("/etc/passwd")
for i, bit in enumerate(bits):
    while time.time() < start + i * slot:
        time.sleep(0.002)
    if channel == "statvfs":
        if bit == "1":
            fd = os.open("fill", os.O_CREAT | os.O_WRONLY, 0o600)
            os.posix_fallocate(fd, 0, 256 << 20)
            os.close(fd)
        elif os.path.exists("fill"):
            os.unlink("fill")
    else:
        fcntl.flock(lock, fcntl.LOCK_EX if bit == "1" else fcntl.LOCK_UN)
if os.path.exists("fill"):
    os.unlink("fill")
"""
RECEIVER = r"""
import fcntl, os, sys, time
channel, start, slot, count = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
samples = []
for i in range(count):
    while time.time() < start + (i + 0.6) * slot:
        time.sleep(0.002)
    if channel == "statvfs":
        samples.append(os.statvfs("/work").f_bfree)
    else:
        f = open("/etc/passwd")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            samples.append(0)
        except BlockingIOError:
            samples.append(1)
        f.close()
print(" ".join(map(str, samples)))
"""


def _make(backend: str, workdir: Path) -> Sandbox:
    if backend == "docker":
        from sandboxes.docker_sandbox import DockerSandbox

        return DockerSandbox(workdir=workdir, campaign="bench")
    return ConfinedSandbox(workdir=workdir, level=backend)


def _decode(channel: str, samples: list[int]) -> list[int]:
    """Bits from samples: the preamble's two levels give the threshold (fewer free blocks: a 1)."""
    if channel == "flock":
        return samples
    ones = [s for s, b in zip(samples, PREAMBLE) if b == 1]
    zeros = [s for s, b in zip(samples, PREAMBLE) if b == 0]
    threshold = (sum(ones) / len(ones) + sum(zeros) / len(zeros)) / 2
    low_is_one = sum(ones) / len(ones) < sum(zeros) / len(zeros)
    return [int((s < threshold) == low_is_one) for s in samples]


def _capacity(p: float) -> float:
    """Capacity of a binary symmetric channel with error rate ``p``, bits per use."""
    p = min(p, 1 - p)
    return 1.0 if p == 0 else 1 + p * math.log2(p) + (1 - p) * math.log2(1 - p)


async def _run(sender: Sandbox, receiver: Sandbox, channel: str, slot: float, bits: list[int]) -> tuple[int, int]:
    """(bit errors, ones decoded) of one transmission of ``bits``."""
    sent = PREAMBLE + bits
    await sender.write_file("send.py", SENDER)
    await receiver.write_file("receive.py", RECEIVER)
    start = time.time() + 3.0  # both are surely running by then
    args = [channel, repr(start), repr(slot)]
    send = sender.exec(["python", "send.py", *args, "".join(map(str, sent))], timeout_s=600)
    receive = receiver.exec(["python", "receive.py", *args, str(len(sent))], timeout_s=600)
    sent_result, got = await asyncio.gather(send, receive)
    if sent_result.returncode != 0 or got.returncode != 0:
        raise SandboxError(f"the channel run failed: {sent_result.stderr[-300:]} {got.stderr[-300:]}")
    decoded = _decode(channel, [int(x) for x in got.stdout.split()])[len(PREAMBLE):]
    return sum(a != b for a, b in zip(decoded, bits)), sum(decoded)


async def main(backends: list[str], n_bits: int, slots_ms: list[int]) -> None:
    rng = random.Random(7)
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="aar-bench-channels-") as tmp:
            root = Path(tmp)
            root.chmod(0o755)  # a root host's sandbox uid reaches its work dir through here
            pair = [_make(backend, root / name / "work") for name in ("sender", "receiver")]
            try:
                for sandbox in pair:
                    await sandbox.start()
            except SandboxError as exc:
                print(f"{backend:7s} skipped: {exc}")
                continue
            try:
                for channel in ("statvfs", "flock"):
                    for slot_ms in slots_ms:
                        bits = [rng.randint(0, 1) for _ in range(n_bits)]
                        errors, ones = await _run(pair[0], pair[1], channel, slot_ms / 1000, bits)
                        raw = 1000 / slot_ms
                        # A receiver that never sees a 1 gets nothing, whatever the error count says.
                        capacity = raw * _capacity(errors / len(bits)) if ones else 0.0
                        print(f"{backend:7s} {channel:8s} slot {slot_ms:4d} ms: {errors:3d}/{len(bits)} bit errors, "
                              f"{ones:2d} ones seen of {sum(bits)}, raw {raw:5.1f} bit/s, capacity {capacity:5.2f} bit/s")
            finally:
                for sandbox in pair:
                    await sandbox.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="bwrap,docker")
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--slots-ms", default="50,100,250")
    args = parser.parse_args()
    asyncio.run(main(args.backends.split(","), args.bits, [int(x) for x in args.slots_ms.split(",")]))
