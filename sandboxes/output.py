"""Capturing one output stream of an exec: capped bytes, plus live lines for a callback."""

from __future__ import annotations

import logging
import re

from sandboxes.protocol import OutputCallback

logger = logging.getLogger(__name__)

# A "line" that grows past this without a newline is forwarded in pieces, so one giant
# line (a progress bar, a binary dump) can neither stall the live view nor grow memory.
MAX_LINE_BYTES = 65_536
_LINE_END = re.compile(rb"[\r\n]")


def truncation_marker(cap_bytes: int) -> str:
    """The text appended to a stream's captured output once it hits the cap."""
    return f"\n[... output truncated at {cap_bytes} bytes ...]\n"


class OutputCapture:
    """Collects one stream of a child: keeps the first ``cap_bytes``, forwards lines.

    ``feed`` is given raw chunks as they arrive. Past the cap, chunks are still
    accepted (the child must be drained, or it blocks on a full pipe) but dropped:
    nothing more is captured or forwarded, and the marker is appended once.

    Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (so carriage-return progress bars
    stream too); the callback gets them without the line ending.
    """

    def __init__(self, stream: str, cap_bytes: int, on_output: OutputCallback | None) -> None:
        self.stream = stream
        self.cap_bytes = cap_bytes
        self._on_output = on_output
        self._captured = bytearray()
        self._pending = bytearray()  # forwarded-to-be bytes not yet ended by a newline
        self._truncated = False
        self._finished = False

    @property
    def truncated(self) -> bool:
        """True once the cap was hit."""
        return self._truncated

    @property
    def text(self) -> str:
        """Captured output as text, with the truncation marker when it was cut."""
        text = self._captured.decode("utf-8", errors="replace")
        return text + truncation_marker(self.cap_bytes) if self._truncated else text

    def feed(self, chunk: bytes) -> None:
        """Accept the next raw chunk read from the stream."""
        if self._truncated or self._finished or not chunk:
            return
        room = self.cap_bytes - len(self._captured)
        if len(chunk) <= room:
            self._captured += chunk
            self._forward(chunk)
            return
        kept = chunk[:room]
        self._captured += kept
        self._forward(kept)
        self._flush_pending()
        self._truncated = True
        self._emit(truncation_marker(self.cap_bytes).strip("\n"))

    def finish(self) -> None:
        """The stream reached end of file: forward a last line without a newline."""
        if not self._finished:
            self._finished = True
            if not self._truncated:
                self._flush_pending()

    def _forward(self, data: bytes) -> None:
        if self._on_output is None:
            return
        buf = self._pending
        buf += data
        start = 0
        while (match := _LINE_END.search(buf, start)) is not None:
            end = match.start()
            if buf[end] == 0x0D:  # "\r"
                if end + 1 == len(buf):
                    break  # a "\n" may follow in the next chunk; decide then
                if buf[end + 1] == 0x0A:
                    self._emit_bytes(buf[start:end])
                    start = end + 2
                    continue
                if end > start:  # a lone "\r" rewrites the line: forward the old one
                    self._emit_bytes(buf[start:end])
                start = end + 1
                continue
            self._emit_bytes(buf[start:end])
            start = end + 1
        del buf[:start]
        while len(buf) > MAX_LINE_BYTES:
            self._emit_bytes(buf[:MAX_LINE_BYTES])
            del buf[:MAX_LINE_BYTES]

    def _flush_pending(self) -> None:
        if self._pending:
            self._emit_bytes(self._pending.rstrip(b"\r"))
            self._pending.clear()

    def _emit_bytes(self, line: bytes | bytearray) -> None:
        self._emit(bytes(line).decode("utf-8", errors="replace"))

    def _emit(self, line: str) -> None:
        if self._on_output is None:
            return
        try:
            self._on_output(self.stream, line)
        except Exception:
            # A broken consumer must not stop the draining that keeps the child alive;
            # log once and stop forwarding, capture goes on.
            logger.exception("on_output callback failed for %s; no more lines forwarded", self.stream)
            self._on_output = None
