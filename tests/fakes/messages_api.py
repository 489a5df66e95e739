"""A fake Anthropic Messages API server, for tests and benchmarks.

The Claude researcher backend talks to Anthropic through the *real*
``anthropic.AsyncAnthropic`` client; tests point that client's ``base_url`` at
this server instead of mocking it, so everything from request building to the
SDK's retry loop and stream accumulation runs for real.

The server speaks plain HTTP/1.1 on 127.0.0.1 (stdlib ``asyncio`` only):

* ``POST /v1/messages`` with ``"stream": true`` answers ``200`` with a
  ``text/event-stream`` body sent with ``Transfer-Encoding: chunked`` (as the
  real API does over HTTP/1.1), one SSE event per chunk, each event an
  ``event:`` line, a ``data:`` JSON line and a blank line::

      message_start, ping, (content_block_start, content_block_delta*,
      content_block_stop)*, message_delta, message_stop

* ``POST /v1/messages`` without ``stream`` answers one complete Message JSON.
* Errors are the real JSON shape ``{"type": "error", "error": {"type", "message"},
  "request_id"}`` with the real status codes (529, 429, 500, ...) and a
  ``retry-after`` / ``retry-after-ms`` header, so the SDK's own ``max_retries``
  loop runs (fast).
* ``POST /v1/messages/count_tokens`` answers ``{"input_tokens": N}``.

Connections are kept alive (the SDK pools them) unless the client asks for
``Connection: close``; every connection is served by its own task, so many
agents can stream at once.

What the server answers is decided by a *script*: ``script(body, n)`` gets the
parsed JSON body and the 0-based index of this ``/v1/messages`` request (retries
included) and returns (or awaits to) a :data:`Reply`: :class:`Stream`,
:class:`Error` or :class:`Disconnect`.  A :class:`Stream` reply also serves a
non-streaming request (as one Message JSON).

Behaviour of anthropic 2.10 (httpx2) that the fakes rely on, checked in
``test_messages_api.py``:

* ``retry-after: 0`` does *not* make retries fast: the SDK only honours a
  positive value and otherwise backs off 0.5 s, 1 s, ... That is why
  :class:`Error` defaults to ``retry_after_s=0.001`` (sent as
  ``retry-after-ms: 1``, which the SDK reads first).
* A stream cut mid-body (``Stream(cut_after_events=k)``: the server closes the
  connection without the terminating zero-length chunk) makes iteration raise
  ``httpx2.RemoteProtocolError`` ("peer closed connection without sending
  complete message body: incomplete chunked read"). The SDK neither wraps it in
  ``anthropic.APIConnectionError`` nor retries it; the events before the cut
  have been delivered and ``stream.current_message_snapshot`` has
  ``stop_reason is None``.
* An ``event: error`` mid-stream (``Stream(error_after_events=k)``) makes
  iteration raise ``anthropic.APIStatusError`` whose ``status_code`` is the 200
  of the stream and whose ``body`` is the error JSON; not retried either.

Command line (serves until killed)::

    python -m tests.fakes.messages_api --port 8765 --script echo
    aar run --researcher claude --base-url http://127.0.0.1:8765
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import hashlib
import importlib
import inspect
import json
import math
import random
import re
import signal
import string
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeAlias

__all__ = [
    "FAULT_KINDS",
    "SCRIPTS",
    "Block",
    "Disconnect",
    "Error",
    "FakeMessagesAPI",
    "FaultPlan",
    "RecordedRequest",
    "Reply",
    "Script",
    "Stream",
    "TextBlock",
    "ThinkingBlock",
    "ToolUseBlock",
    "Usage",
    "echo",
    "estimate_output_tokens",
    "message_json",
    "sequence",
    "stream_events",
    "text",
    "thinking",
    "tool_use",
]

_ID_ALPHABET = string.ascii_letters + string.digits
_rng = random.SystemRandom()


def _random_id(prefix: str, n: int = 24) -> str:
    return prefix + "".join(_rng.choice(_ID_ALPHABET) for _ in range(n))


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class ThinkingBlock:
    """An extended-thinking block: streamed as thinking_delta chunks then one signature_delta."""

    thinking: str
    signature: str
    type: Literal["thinking"] = "thinking"


@dataclass(frozen=True)
class TextBlock:
    """A text block: streamed as text_delta chunks of a few words."""

    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ToolUseBlock:
    """A client tool call: streamed as input_json_delta chunks of ``json.dumps(input)``."""

    name: str
    input: dict[str, Any]
    id: str
    type: Literal["tool_use"] = "tool_use"


Block: TypeAlias = ThinkingBlock | TextBlock | ToolUseBlock


def thinking(text: str, signature: str | None = None) -> ThinkingBlock:
    """A thinking block; ``signature`` defaults to a random base64-looking string."""
    if signature is None:
        signature = "".join(_rng.choice(_ID_ALPHABET + "+/") for _ in range(96)) + "=="
    return ThinkingBlock(thinking=text, signature=signature)


def text(text: str) -> TextBlock:
    """A text block."""
    return TextBlock(text=text)


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> ToolUseBlock:
    """A tool_use block; ``id`` defaults to ``toolu_`` + 24 random characters."""
    return ToolUseBlock(name=name, input=dict(input), id=id if id is not None else _random_id("toolu_"))


def _block_json(block: Block) -> dict[str, Any]:
    """The complete block, as in a non-streaming Message."""
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}


def _block_start_json(block: Block) -> dict[str, Any]:
    """The empty block of a content_block_start event."""
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": "", "signature": ""}
    if isinstance(block, TextBlock):
        return {"type": "text", "text": ""}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Usage:
    """Token usage reported for a reply (both in message_start and message_delta)."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def start_json(self) -> dict[str, Any]:
        """``usage`` of message_start (and of a non-streaming Message when ``final``)."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": min(1, self.output_tokens),
            "service_tier": "standard",
        }

    def final_json(self) -> dict[str, Any]:
        """``usage`` of a complete Message."""
        return {**self.start_json(), "output_tokens": self.output_tokens}

    def delta_json(self) -> dict[str, Any]:
        """``usage`` of message_delta: cumulative totals."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass
class Stream:
    """A successful reply: the given blocks, streamed (or as one Message when not streaming).

    ``stop_reason`` defaults to ``"tool_use"`` when a tool_use block is present,
    else ``"end_turn"``. ``usage`` defaults to an estimate from the request (see
    :class:`FakeMessagesAPI`). ``event_delay_s`` sleeps before every SSE event.

    Faults within a stream (counted in SSE events, ``message_start`` = event 0,
    ``ping`` = event 1 when ``ping`` is on):

    * ``cut_after_events=k``: send k events, then close the connection without
      finishing the chunked body (no message_stop). For a non-streaming request:
      send the headers and half of the JSON body, then close.
    * ``error_after_events=k``: send k events, then an ``event: error`` with
      ``error_type`` (overloaded_error, as the real API does under load), then
      end the body cleanly. For a non-streaming request: answer 529/500 instead.
    """

    blocks: list[Block]
    stop_reason: str | None = None
    usage: Usage | None = None
    event_delay_s: float = 0.0
    cut_after_events: int | None = None
    error_after_events: int | None = None
    error_type: str = "overloaded_error"
    stop_sequence: str | None = None
    ping: bool = True
    words_per_delta: int = 3

    def __post_init__(self) -> None:
        self.blocks = list(self.blocks)
        if self.stop_reason is None:
            has_tool = any(isinstance(b, ToolUseBlock) for b in self.blocks)
            self.stop_reason = "tool_use" if has_tool else "end_turn"


_DEFAULT_ERROR_MESSAGES = {
    "overloaded_error": "Overloaded",
    "rate_limit_error": "This request would exceed the rate limit for your organization. Please try again later.",
    "api_error": "Internal server error",
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "not_found_error": "Not found",
}


@dataclass(frozen=True)
class Error:
    """An HTTP error reply: ``{"type":"error","error":{"type":error_type,"message":message}}``.

    ``retry_after_s`` is sent as ``retry-after-ms`` (milliseconds, which the SDK
    reads first) and ``retry-after`` (seconds); ``None`` sends neither, so the
    SDK falls back to its exponential backoff (0.5 s, 1 s, ...). Note that the
    SDK treats 0 like ``None``: the default 1 ms keeps retries fast.
    ``headers`` are extra response headers (e.g. ``{"x-should-retry": "false"}``).
    """

    status: int
    error_type: str
    message: str | None = None
    retry_after_s: float | None = 0.001
    headers: dict[str, str] = field(default_factory=dict)

    def body_json(self, request_id: str) -> dict[str, Any]:
        message = self.message if self.message is not None else _DEFAULT_ERROR_MESSAGES.get(self.error_type, "Error")
        return {"type": "error", "error": {"type": self.error_type, "message": message}, "request_id": request_id}


@dataclass(frozen=True)
class Disconnect:
    """Close the connection without answering (the SDK sees a connection error and retries)."""


Reply: TypeAlias = Stream | Error | Disconnect
Script: TypeAlias = Callable[[dict[str, Any], int], Reply | Awaitable[Reply]]


def overloaded(retry_after_s: float | None = 0.001) -> Error:
    """529 overloaded_error."""
    return Error(529, "overloaded_error", retry_after_s=retry_after_s)


def rate_limited(retry_after_s: float | None = 0.001) -> Error:
    """429 rate_limit_error."""
    return Error(429, "rate_limit_error", retry_after_s=retry_after_s)


def api_error(retry_after_s: float | None = 0.001) -> Error:
    """500 api_error."""
    return Error(500, "api_error", retry_after_s=retry_after_s)


def sequence(*replies: Reply) -> Script:
    """A script answering ``replies[n]`` to the n-th request (retries included), the last one thereafter."""
    if not replies:
        raise ValueError("sequence() needs at least one reply")

    def script(body: dict[str, Any], n: int) -> Reply:
        return replies[min(n, len(replies) - 1)]

    return script


# --------------------------------------------------------------------------- wire format


def _word_chunks(s: str, words: int) -> list[str]:
    """``s`` split into pieces of ``words`` words (whitespace kept), joining back to ``s``."""
    pieces = re.findall(r"\s*\S+|\s+$", s)
    k = max(1, words)
    return ["".join(pieces[i : i + k]) for i in range(0, len(pieces), k)]


def _json_chunks(s: str) -> list[str]:
    """``s`` split into several pieces (at least 2 when it has 2+ characters), at arbitrary places."""
    if len(s) < 2:
        return [s] if s else []
    n = max(2, math.ceil(len(s) / 20))
    size = math.ceil(len(s) / n)
    return [s[i : i + size] for i in range(0, len(s), size)]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def stream_events(reply: Stream, *, model: str, usage: Usage, message_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The complete SSE event sequence for ``reply``: ``[(event_name, data), ...]``."""
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage.start_json(),
                },
            },
        )
    ]
    if reply.ping:
        events.append(("ping", {"type": "ping"}))
    for index, block in enumerate(reply.blocks):
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": _block_start_json(block)})
        )
        deltas: list[dict[str, Any]]
        if isinstance(block, ThinkingBlock):
            deltas = [{"type": "thinking_delta", "thinking": c} for c in _word_chunks(block.thinking, reply.words_per_delta)]
            deltas.append({"type": "signature_delta", "signature": block.signature})
        elif isinstance(block, TextBlock):
            deltas = [{"type": "text_delta", "text": c} for c in _word_chunks(block.text, reply.words_per_delta)]
        else:
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [{"type": "input_json_delta", "partial_json": c} for c in _json_chunks(_dumps(block.input))]
        for delta in deltas:
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": usage.delta_json(),
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def message_json(reply: Stream, *, model: str, usage: Usage, message_id: str) -> dict[str, Any]:
    """``reply`` as one complete (non-streaming) Message."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [_block_json(b) for b in reply.blocks],
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": usage.final_json(),
    }


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {_dumps(data)}\n\n".encode()


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


# --------------------------------------------------------------------------- usage estimate


def _tokens(s: str) -> int:
    return math.ceil(len(s) / 4)


def estimate_output_tokens(blocks: Sequence[Block]) -> int:
    """About len/4 of the blocks' content, at least 1."""
    return max(1, sum(_tokens(_dumps(_block_json(b))) for b in blocks))


def _strip_cache_control(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_cache_control(v) for k, v in obj.items() if k != "cache_control"}
    if isinstance(obj, list):
        return [_strip_cache_control(v) for v in obj]
    return obj


def _prompt_segments(body: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """The cacheable prompt in cache order (tools, system, messages), one segment per
    block: ``(serialization without cache_control, has a cache_control breakpoint)``."""
    for tool in body.get("tools") or []:
        yield _dumps(_strip_cache_control(tool)), isinstance(tool, dict) and "cache_control" in tool
    system = body.get("system")
    if isinstance(system, str):
        yield _dumps({"system": system}), False
    elif isinstance(system, list):
        for block in system:
            yield _dumps(_strip_cache_control(block)), isinstance(block, dict) and "cache_control" in block
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str):
            yield _dumps({"role": role, "text": content}), False
        elif isinstance(content, list):
            for block in content:
                marked = isinstance(block, dict) and "cache_control" in block
                yield _dumps({"role": role, "block": _strip_cache_control(block)}), marked


class PromptCache:
    """A deterministic stand-in for prompt caching.

    A request's prompt is cut into blocks (each tool, system block and message
    content block, in that order), hashed cumulatively. Blocks carrying
    ``cache_control`` are breakpoints; a top-level ``cache_control`` (automatic
    caching) puts one on the last block. The longest prefix ending at a block
    boundary that an earlier request *wrote* (had a breakpoint there) is read;
    the rest up to the last breakpoint is written. So in an agent loop that
    marks its latest message, turn 1 writes its prefix and every later turn
    reads the previous turn's prefix and writes only the new part. No minimum
    length and no TTL. Tokens are len/4 of each block's JSON.
    """

    def __init__(self) -> None:
        self._written: set[str] = set()

    def usage(self, body: dict[str, Any], output_tokens: int) -> Usage:
        """The usage of ``body`` (updating the cache)."""
        total = max(1, _tokens(_dumps(body)))
        segments = list(_prompt_segments(body))
        if segments and "cache_control" in body:
            last_text, _ = segments[-1]
            segments[-1] = (last_text, True)
        digest = hashlib.sha256()
        cumulative = 0
        read = 0
        last_breakpoint = 0
        breakpoint_hashes: list[str] = []
        for seg, marked in segments:
            digest.update(seg.encode())
            digest.update(b"\x00")
            cumulative += _tokens(seg)
            h = digest.hexdigest()
            if h in self._written:
                read = cumulative
            if marked:
                last_breakpoint = cumulative
                breakpoint_hashes.append(h)
        read = min(read, last_breakpoint)
        creation = max(0, last_breakpoint - read)
        self._written.update(breakpoint_hashes)
        total = max(total, last_breakpoint + 1)
        return Usage(
            input_tokens=total - read - creation,
            output_tokens=output_tokens,
            cache_creation_input_tokens=creation,
            cache_read_input_tokens=read,
        )


# --------------------------------------------------------------------------- server


@dataclass
class RecordedRequest:
    """One request the server received. ``headers`` keys are lower-case; ``body`` is
    the parsed JSON (None when empty or not JSON); ``time`` is ``time.time()`` when
    the request was read; ``index`` is the ``n`` given to the script (None for
    other paths); ``reply`` is what the script answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    time: float
    query: str = ""
    index: int | None = None
    reply: Reply | None = None


class _BadRequest(Exception):
    pass


class FakeMessagesAPI:
    """The fake server. ``script(body, n)`` decides each ``POST /v1/messages`` reply.

    Use ``async with FakeMessagesAPI(script) as api:`` (``api.base_url``), or
    ``await start()`` / ``await close()``, or from synchronous code (or to serve
    another process) ``start_in_thread()`` / ``stop_thread()``, which run the
    server on its own event loop in a daemon thread.

    A script that raises is answered with a 500 ``api_error`` carrying
    ``x-should-retry: false``; the exception is kept in ``.errors``.
    """

    def __init__(self, script: Script, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = script
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self.cache = PromptCache()
        self.base_url: str | None = None
        self._n = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/messages`` requests, in arrival order."""
        return [r for r in self.requests if r.index is not None]

    # ---- lifecycle

    async def start(self) -> str:
        """Listen (port 0 = a free port) and return the base URL, e.g. ``http://127.0.0.1:PORT``."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = await asyncio.start_server(self._handle_connection, self.host, self.port, backlog=1024)
        port = self._server.sockets[0].getsockname()[1]
        self.port = port
        self.base_url = f"http://{self.host}:{port}"
        return self.base_url

    async def close(self) -> None:
        """Stop listening and drop every open connection (in-flight streams are cut)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> FakeMessagesAPI:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def start_in_thread(self, timeout_s: float = 10.0) -> str:
        """Serve from a daemon thread with its own event loop; returns the base URL."""
        if self._thread is not None:
            raise RuntimeError("already running in a thread")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread_loop = loop
        self._thread = threading.Thread(target=run, name="fake-messages-api", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise TimeoutError("fake Messages API did not start")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        assert self.base_url is not None
        return self.base_url

    def stop_thread(self, timeout_s: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread`."""
        thread, loop = self._thread, self._thread_loop
        if thread is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout_s)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout_s)
            self._thread = None
            self._thread_loop = None

    def __enter__(self) -> FakeMessagesAPI:
        self.start_in_thread()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_thread()

    # ---- HTTP

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    request = await self._read_request(reader)
                except _BadRequest as exc:
                    await self._send_json(writer, 400, Error(400, "invalid_request_error", str(exc)).body_json(_random_id("req_")), close=True)
                    break
                if request is None:
                    break
                if not await self._dispatch(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # close() cancels us; ending normally keeps asyncio's stream callback
            # (3.11) from logging the cancelled task as an unhandled exception.
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        line = await reader.readline()
        while line in (b"\r\n", b"\n"):
            line = await reader.readline()
        if not line:
            return None
        try:
            method, target, _version = line.decode("latin-1").split()
        except ValueError:
            raise _BadRequest(f"bad request line {line!r}") from None
        headers: dict[str, str] = {}
        while True:
            hline = await reader.readline()
            if not hline:
                raise asyncio.IncompleteReadError(b"", None)
            if hline in (b"\r\n", b"\n"):
                break
            name, sep, value = hline.decode("latin-1").partition(":")
            if not sep:
                raise _BadRequest(f"bad header line {hline!r}")
            headers[name.strip().lower()] = value.strip()
        raw = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(await reader.readexactly(size))
                await reader.readline()
            raw = b"".join(parts)
        elif "content-length" in headers:
            raw = await reader.readexactly(int(headers["content-length"]))
        body: dict[str, Any] | None = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise _BadRequest("request body is not valid JSON") from None
            body = parsed if isinstance(parsed, dict) else {"_": parsed}
        path, _, query = target.partition("?")
        return RecordedRequest(method=method.upper(), path=path, headers=headers, body=body, time=time.time(), query=query)

    async def _dispatch(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; returns whether the connection stays open."""
        self.requests.append(request)
        keep_alive = request.headers.get("connection", "").lower() != "close"
        request_id = _random_id("req_")
        if request.method == "POST" and request.path == "/v1/messages":
            request.index = self._n
            self._n += 1
            body = request.body or {}
            try:
                result = self.script(body, request.index)
                reply = await result if inspect.isawaitable(result) else result
            except Exception as exc:  # noqa: BLE001 - reported to the client and kept
                self.errors.append(exc)
                reply = Error(500, "api_error", f"fake script raised {exc!r}", retry_after_s=None, headers={"x-should-retry": "false"})
            request.reply = reply
            if isinstance(reply, Disconnect):
                return False
            if isinstance(reply, Error):
                return await self._send_error(writer, reply, request_id, keep_alive)
            usage = reply.usage
            if usage is None:
                usage = self.cache.usage(body, estimate_output_tokens(reply.blocks))
            model = str(body.get("model", "claude-fake"))
            message_id = _random_id("msg_")
            if body.get("stream"):
                return await self._send_stream(writer, reply, model, usage, message_id, request_id, keep_alive)
            return await self._send_message(writer, reply, model, usage, message_id, request_id, keep_alive)
        if request.method == "POST" and request.path == "/v1/messages/count_tokens":
            tokens = max(1, _tokens(_dumps(request.body or {})))
            return await self._send_json(writer, 200, {"input_tokens": tokens}, close=not keep_alive, request_id=request_id)
        err = Error(404, "not_found_error", f"Not found: {request.method} {request.path}")
        return await self._send_error(writer, err, request_id, keep_alive)

    @staticmethod
    def _head(status: int, headers: dict[str, str]) -> bytes:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
                  529: "Overloaded"}.get(status, "Error")
        lines = [f"HTTP/1.1 {status} {reason}", f"date: {email.utils.formatdate(usegmt=True)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send_json(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: dict[str, Any],
        *,
        close: bool,
        request_id: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> bool:
        data = _dumps(payload).encode()
        headers = {"content-type": "application/json", "content-length": str(len(data))}
        if request_id is not None:
            headers["request-id"] = request_id
        headers.update(extra or {})
        headers["connection"] = "close" if close else "keep-alive"
        writer.write(self._head(status, headers) + data)
        await writer.drain()
        return not close

    async def _send_error(self, writer: asyncio.StreamWriter, err: Error, request_id: str, keep_alive: bool) -> bool:
        extra: dict[str, str] = {}
        if err.retry_after_s is not None:
            extra["retry-after-ms"] = f"{err.retry_after_s * 1000:g}"
            extra["retry-after"] = f"{err.retry_after_s:g}"
        extra.update(err.headers)
        return await self._send_json(writer, err.status, err.body_json(request_id), close=not keep_alive,
                                     request_id=request_id, extra=extra)

    async def _send_message(
        self, writer: asyncio.StreamWriter, reply: Stream, model: str, usage: Usage, message_id: str,
        request_id: str, keep_alive: bool,
    ) -> bool:
        if reply.error_after_events is not None:
            status = 529 if reply.error_type == "overloaded_error" else 500
            return await self._send_error(writer, Error(status, reply.error_type), request_id, keep_alive)
        if reply.event_delay_s:
            await asyncio.sleep(reply.event_delay_s * len(stream_events(reply, model=model, usage=usage, message_id=message_id)))
        payload = message_json(reply, model=model, usage=usage, message_id=message_id)
        if reply.cut_after_events is None:
            return await self._send_json(writer, 200, payload, close=not keep_alive, request_id=request_id)
        data = _dumps(payload).encode()
        headers = {"content-type": "application/json", "content-length": str(len(data)), "request-id": request_id}
        writer.write(self._head(200, headers) + data[: len(data) // 2])
        await writer.drain()
        return False

    async def _send_stream(
        self, writer: asyncio.StreamWriter, reply: Stream, model: str, usage: Usage, message_id: str,
        request_id: str, keep_alive: bool,
    ) -> bool:
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "transfer-encoding": "chunked",
            "cache-control": "no-cache",
            "request-id": request_id,
            "connection": "keep-alive" if keep_alive else "close",
        }
        writer.write(self._head(200, headers))
        await writer.drain()
        for i, (name, data) in enumerate(stream_events(reply, model=model, usage=usage, message_id=message_id)):
            if reply.cut_after_events is not None and i >= reply.cut_after_events:
                return False  # the caller closes the socket: no final chunk, no message_stop
            if reply.error_after_events is not None and i >= reply.error_after_events:
                err = Error(529, reply.error_type).body_json(request_id)
                del err["request_id"]
                writer.write(_chunk(_sse("error", err)))
                break
            if reply.event_delay_s > 0:
                await asyncio.sleep(reply.event_delay_s)
            writer.write(_chunk(_sse(name, data)))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep_alive


# --------------------------------------------------------------------------- faults

FAULT_KINDS: tuple[str, ...] = ("overloaded", "rate_limit", "api_error", "cut", "disconnect", "stream_error")
"""What :class:`FaultPlan` can inject: 529, 429, 500 (all retried by the SDK),
``cut`` (a stream closed mid text block: the SDK raises, not retried),
``disconnect`` (no response: the SDK retries) and ``stream_error`` (an
``event: error`` overloaded_error mid-stream: the SDK raises, not retried)."""

_CUT_REPLY_BLOCKS: list[Block] = [
    ThinkingBlock(thinking="Let me look at the results so far before deciding what to run next.", signature="c3VwcG9zZWRseS1jdXQ="),
    TextBlock(text="Based on the previous experiments I think the next step should be to"),
]


class FaultPlan:
    """Wraps a script and injects faults deterministically.

    Whether request ``n`` gets a fault, and which, is a pure function of
    ``(seed, n)`` (about ``rate`` of the requests, kinds drawn uniformly from
    ``kinds``), capped at ``max_faults`` in all. A faulted request does not reach
    the wrapped script, which is called with its own dense index (0, 1, 2, ... over
    the requests it does answer) so that a sequence-style script is not thrown off
    by retries. ``cut`` and ``stream_error`` answer a synthetic thinking + text
    stream that breaks inside the text block. ``injected`` counts what was injected
    per kind; ``passed`` counts the requests handed to the script.

    Usable wherever a script is: ``FakeMessagesAPI(FaultPlan(script, rate=0.2, seed=1))``.
    """

    def __init__(
        self,
        script: Script,
        *,
        rate: float = 0.1,
        seed: int = 0,
        kinds: Sequence[str] = ("overloaded", "rate_limit", "api_error", "cut"),
        max_faults: int | None = None,
        retry_after_s: float | None = 0.001,
    ) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
        self.script = script
        self.rate = rate
        self.seed = seed
        self.kinds = tuple(kinds)
        self.max_faults = max_faults
        self.retry_after_s = retry_after_s
        self.injected: Counter[str] = Counter()
        self.passed = 0

    def planned(self, n: int) -> str | None:
        """The fault kind request ``n`` would get (ignoring ``max_faults``), or None."""
        rng = random.Random(f"{self.seed}:{n}")
        if rng.random() >= self.rate:
            return None
        return rng.choice(self.kinds)

    def fault_reply(self, kind: str) -> Reply:
        """The reply injected for ``kind``."""
        if kind == "overloaded":
            return overloaded(self.retry_after_s)
        if kind == "rate_limit":
            return rate_limited(self.retry_after_s)
        if kind == "api_error":
            return api_error(self.retry_after_s)
        if kind == "disconnect":
            return Disconnect()
        events = stream_events(Stream(list(_CUT_REPLY_BLOCKS)), model="m", usage=Usage(1, 1), message_id="msg")
        # right after the first text delta: inside the text block
        mid_text = 1 + next(i for i, (_, d) in enumerate(events) if d.get("delta", {}).get("type") == "text_delta")
        if kind == "cut":
            return Stream(list(_CUT_REPLY_BLOCKS), cut_after_events=mid_text)
        return Stream(list(_CUT_REPLY_BLOCKS), error_after_events=mid_text)

    async def __call__(self, body: dict[str, Any], n: int) -> Reply:
        kind = self.planned(n)
        if kind is not None and (self.max_faults is None or sum(self.injected.values()) < self.max_faults):
            self.injected[kind] += 1
            return self.fault_reply(kind)
        inner_n = self.passed
        self.passed += 1
        result = self.script(body, inner_n)
        return await result if inspect.isawaitable(result) else result


# --------------------------------------------------------------------------- built-in scripts


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
            if texts:
                return "\n".join(texts)
            results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
            if results:
                return f"({len(results)} tool result(s))"
    return ""


def echo(body: dict[str, Any], n: int) -> Reply:
    """One thinking block and one text block echoing the last user text."""
    said = _last_user_text(body)
    return Stream([
        thinking(f"The user said {len(said)} characters. I will echo them back."),
        text(f"Echo: {said}" if said else "Echo: (nothing)"),
    ])


SCRIPTS: dict[str, Script] = {"echo": echo}
"""Named scripts for the command line (``--script NAME``); other modules may add to it."""


def _load_script(name: str) -> Script:
    if name in SCRIPTS:
        return SCRIPTS[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        if not callable(obj):
            raise SystemExit(f"{name} is not callable")
        return obj  # type: ignore[no-any-return]
    raise SystemExit(f"unknown script {name!r}; known: {', '.join(sorted(SCRIPTS))} (or module:attr)")


async def _serve(args: argparse.Namespace) -> None:
    script = _load_script(args.script)
    if args.fault_rate > 0:
        script = FaultPlan(script, rate=args.fault_rate, seed=args.seed, kinds=args.fault_kinds.split(","))
    api = FakeMessagesAPI(script, host=args.host, port=args.port)
    url = await api.start()
    print(f"fake Anthropic Messages API ({args.script}) on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await stop.wait()
    finally:
        await api.close()
        print(f"served {len(api.message_requests)} message request(s)", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tests.fakes.messages_api --port N --script NAME``: serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.messages_api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--script", default="echo", help="a name in SCRIPTS, or module:attr")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="wrap the script in a FaultPlan")
    parser.add_argument("--fault-kinds", default="overloaded,rate_limit,api_error,cut")
    parser.add_argument("--seed", type=int, default=0)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
