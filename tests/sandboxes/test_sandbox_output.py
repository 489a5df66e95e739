"""Output capture: the per-stream cap, line splitting and giant lines."""

from __future__ import annotations

import sys
import time

from sandboxes import LocalSandbox, SandboxLimits, truncation_marker
from sandboxes.output import MAX_LINE_BYTES, OutputCapture


def _collector() -> tuple[list[str], OutputCapture]:
    lines: list[str] = []
    capture = OutputCapture("stdout", 1000, lambda _stream, line: lines.append(line))
    return lines, capture


async def test_five_megabytes_are_truncated_at_the_cap(make_sandbox) -> None:
    cap = 1_048_576
    sandbox: LocalSandbox = await make_sandbox(limits=SandboxLimits(output_cap_bytes=cap, timeout_s=30))
    forwarded: list[str] = []
    code = "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(50_000): sys.stdout.write(line)\n"
    start = time.monotonic()
    result = await sandbox.exec(["python", "-c", code], on_output=lambda _s, line: forwarded.append(line))
    assert time.monotonic() - start < 5.0
    assert result.returncode == 0  # drained to the end: the child never blocked
    assert result.truncated
    marker = truncation_marker(cap)
    assert result.stdout.endswith(marker)
    assert result.stdout.count("output truncated") == 1
    assert len(result.stdout) - len(marker) == cap
    assert forwarded[-1] == marker.strip("\n")
    assert sum(len(line) + 1 for line in forwarded[:-1]) <= cap + 1


async def test_giant_line_without_newline_is_forwarded_in_pieces(sandbox: LocalSandbox) -> None:
    pieces: list[str] = []
    code = "import sys; sys.stdout.write('y' * 300_000)"
    result = await sandbox.exec(["python", "-c", code], on_output=lambda _s, line: pieces.append(line))
    assert result.stdout == "y" * 300_000
    assert "".join(pieces) == "y" * 300_000
    assert max(len(p) for p in pieces) <= MAX_LINE_BYTES


def test_lines_split_across_chunks_are_joined() -> None:
    lines, capture = _collector()
    for chunk in (b"he", b"llo\nwor", b"ld\n", b"tail"):
        capture.feed(chunk)
    assert lines == ["hello", "world"]
    capture.finish()
    assert lines == ["hello", "world", "tail"]
    assert capture.text == "hello\nworld\ntail"


def test_crlf_and_carriage_return_progress_lines() -> None:
    lines, capture = _collector()
    capture.feed(b"a\r")
    capture.feed(b"\nb\r\n\r 10%\r 20%\r")
    capture.feed(b" 30%\n")
    assert lines == ["a", "b", " 10%", " 20%", " 30%"]


def test_marker_is_appended_once_and_capture_stops() -> None:
    lines, capture = _collector()
    capture.feed(b"z" * 600 + b"\n")
    capture.feed(b"q" * 600 + b"\n")
    capture.feed(b"more\n")
    capture.finish()
    assert capture.truncated
    assert capture.text == "z" * 600 + "\n" + "q" * 399 + truncation_marker(1000)
    assert lines == ["z" * 600, "q" * 399, truncation_marker(1000).strip("\n")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    lines, capture = _collector()
    capture.feed(b"ok \xff\xfe\n")
    assert lines == ["ok \ufffd\ufffd"]


def test_a_failing_callback_does_not_stop_capture() -> None:
    calls: list[str] = []

    def explode(_stream: str, line: str) -> None:
        calls.append(line)
        raise RuntimeError("consumer bug")

    capture = OutputCapture("stderr", 1000, explode)
    capture.feed(b"one\ntwo\n")
    capture.feed(b"three\n")
    assert calls == ["one"]  # disabled after the first failure
    assert capture.text == "one\ntwo\nthree\n"
