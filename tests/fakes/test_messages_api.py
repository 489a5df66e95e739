"""The fake Messages API, driven by the real ``anthropic`` client (2.10, on httpx2).

These tests pin down how the SDK reacts to what the fake serves, since the
researcher backend's error handling is written against exactly that:

* 529 / 429 / 500 with ``retry-after-ms``: retried by the SDK's ``max_retries``
  loop; with ``max_retries=0`` it raises ``OverloadedError`` / ``RateLimitError`` /
  ``InternalServerError`` (all ``APIStatusError``).
* A stream cut mid-block (connection closed, chunked body unfinished): iterating
  the stream raises ``httpx2.RemoteProtocolError`` — *not* wrapped in
  ``anthropic.APIConnectionError`` and *not* retried (one request on the server);
  ``get_final_message()`` is never reached and ``current_message_snapshot``
  holds the partial content with ``stop_reason is None``.
* ``event: error`` mid-stream: ``anthropic.APIStatusError`` with ``status_code``
  200 (the stream's) and the error JSON as ``body``; not retried.
* A connection dropped before any response, or a non-streaming body cut short:
  ``anthropic.APIConnectionError``, retried by the SDK.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from tests.fakes.messages_api import (
    Disconnect,
    Error,
    FakeMessagesAPI,
    FaultPlan,
    Reply,
    Stream,
    Usage,
    _json_chunks,
    _word_chunks,
    echo,
    sequence,
    text,
    thinking,
    tool_use,
)

REPO = Path(__file__).resolve().parents[2]
MODEL = "claude-fake-1"
USER = [{"role": "user", "content": "What next?"}]


def _client(url: str, max_retries: int = 0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="sk-test", base_url=url, max_retries=max_retries)


@pytest.fixture
async def client_factory() -> AsyncIterator[Any]:
    clients: list[anthropic.AsyncAnthropic] = []

    def make(url: str, max_retries: int = 0) -> anthropic.AsyncAnthropic:
        c = _client(url, max_retries)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()


def _full_reply() -> Stream:
    return Stream(
        [
            thinking("I should look at the weak labels first, then decide on the next run.", signature="sig-EXACT/123=="),
            text("Let me launch a quick experiment with a larger learning rate."),
            tool_use("run_experiment", {"lr": 0.001, "tags": ["a", "b"], "note": 'quote " and é'}, id="toolu_FIXED"),
        ],
        usage=Usage(input_tokens=123, output_tokens=45, cache_creation_input_tokens=6, cache_read_input_tokens=78),
    )


async def test_stream_events_and_final_message(client_factory: Any) -> None:
    async with FakeMessagesAPI(sequence(_full_reply())) as api:
        assert api.base_url is not None
        client = client_factory(api.base_url)
        async with client.messages.stream(model=MODEL, max_tokens=1000, messages=USER) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()

    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    for kind in ("thinking", "signature", "text", "input_json", "content_block_start", "content_block_stop", "message_delta"):
        assert kind in kinds
    assert kinds.count("thinking") > 1 and kinds.count("text") > 1 and kinds.count("input_json") > 2  # chunked

    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    think, said, call = final.content
    assert isinstance(think, anthropic.types.ThinkingBlock)
    assert think.signature == "sig-EXACT/123=="
    assert think.thinking.startswith("I should look") and think.thinking.endswith("next run.")
    assert isinstance(said, anthropic.types.TextBlock)
    assert said.text == "Let me launch a quick experiment with a larger learning rate."
    assert isinstance(call, anthropic.types.ToolUseBlock)
    assert call.id == "toolu_FIXED" and call.name == "run_experiment"
    assert call.input == {"lr": 0.001, "tags": ["a", "b"], "note": 'quote " and é'}
    assert final.stop_reason == "tool_use"
    assert final.model == MODEL and final.role == "assistant" and final.id.startswith("msg_")
    assert final.usage.input_tokens == 123
    assert final.usage.output_tokens == 45
    assert final.usage.cache_creation_input_tokens == 6
    assert final.usage.cache_read_input_tokens == 78


async def test_wire_format_is_chunked_sse() -> None:
    """Raw bytes: chunked transfer, and every event is `event:` + `data:` + blank line."""
    async with FakeMessagesAPI(sequence(Stream([text("hi there")], usage=Usage(5, 2)))) as api:
        reader, writer = await asyncio.open_connection(api.host, api.port)
        body = json.dumps({"model": MODEL, "max_tokens": 10, "messages": USER, "stream": True}).encode()
        writer.write(
            b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        raw = await reader.read()
        writer.close()
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-type: text/event-stream" in head and b"transfer-encoding: chunked" in head
    payload = b""
    while True:
        size_line, _, rest = chunked.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        payload += rest[:size]
        chunked = rest[size + 2 :]
    events = payload.decode().split("\n\n")
    assert events[-1] == ""
    parsed = []
    for ev in events[:-1]:
        name_line, data_line = ev.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line[len("data: ") :])
        assert data["type"] == name_line[len("event: ") :]
        parsed.append(data)
    assert [d["type"] for d in parsed] == [
        "message_start", "ping", "content_block_start", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]
    start = parsed[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["stop_sequence"] is None
    assert start["usage"]["input_tokens"] == 5
    assert parsed[2]["content_block"] == {"type": "text", "text": ""}
    assert parsed[5]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert parsed[5]["usage"]["output_tokens"] == 2


@pytest.mark.parametrize(
    ("status", "error_type", "exc_class"),
    [
        (529, "overloaded_error", anthropic.OverloadedError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
    ],
)
async def test_sdk_retries_status_errors(client_factory: Any, status: int, error_type: str, exc_class: type) -> None:
    err = Error(status, error_type)
    ok = Stream([text("finally")])
    async with FakeMessagesAPI(sequence(err, err, ok)) as api:
        assert api.base_url is not None
        t0 = time.monotonic()
        async with client_factory(api.base_url, max_retries=2).messages.stream(
            model=MODEL, max_tokens=10, messages=USER
        ) as stream:
            final = await stream.get_final_message()
        assert time.monotonic() - t0 < 2.0  # retry-after-ms: 1 keeps the SDK's retries fast
        assert final.content[0].type == "text" and final.content[0].text == "finally"
        assert len(api.message_requests) == 3
        assert [r.headers["x-stainless-retry-count"] for r in api.message_requests] == ["0", "1", "2"]

    async with FakeMessagesAPI(sequence(err, ok)) as api:
        assert api.base_url is not None
        with pytest.raises(anthropic.APIStatusError) as info:
            async with client_factory(api.base_url, max_retries=0).messages.stream(
                model=MODEL, max_tokens=10, messages=USER
            ) as stream:
                await stream.get_final_message()
        assert isinstance(info.value, exc_class)
        assert info.value.status_code == status
        assert info.value.body == {"type": "error", "error": {"type": error_type, "message": info.value.body["error"]["message"]},
                                   "request_id": info.value.body["request_id"]}
        assert info.value.response.headers["retry-after-ms"] == "1"
        assert len(api.message_requests) == 1


async def test_cut_stream_raises_remote_protocol_error_and_is_not_retried(client_factory: Any) -> None:
    """anthropic 2.10: a stream cut mid-block raises httpx2.RemoteProtocolError from the
    iteration (not an anthropic.APIConnectionError, not retried even with max_retries=3);
    the snapshot has the partial content and stop_reason None."""
    reply = Stream([thinking("one two three four five six", signature="s"), text("alpha beta gamma delta epsilon zeta")])
    # 0 message_start, 1 ping, 2 start, 3-4 thinking, 5 signature, 6 stop, 7 start, 8 first text delta
    reply.cut_after_events = 9
    async with FakeMessagesAPI(sequence(reply, Stream([text("unused")]))) as api:
        assert api.base_url is not None
        seen: list[str] = []
        with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read") as info:
            async with client_factory(api.base_url, max_retries=3).messages.stream(
                model=MODEL, max_tokens=10, messages=USER
            ) as stream:
                async for event in stream:
                    seen.append(event.type)
        assert info.type is httpx2.RemoteProtocolError  # raw httpx2 error, not anthropic.APIConnectionError
        snapshot = stream.current_message_snapshot
        assert snapshot.stop_reason is None
        assert [b.type for b in snapshot.content] == ["thinking", "text"]
        assert snapshot.content[1].type == "text" and snapshot.content[1].text == "alpha beta gamma"
        assert "text" in seen and "message_stop" not in seen
        assert len(api.message_requests) == 1


async def test_error_event_mid_stream(client_factory: Any) -> None:
    reply = Stream([text("alpha beta gamma delta epsilon zeta")], error_after_events=4)
    async with FakeMessagesAPI(sequence(reply)) as api:
        assert api.base_url is not None
        with pytest.raises(anthropic.APIStatusError) as info:
            async with client_factory(api.base_url, max_retries=3).messages.stream(
                model=MODEL, max_tokens=10, messages=USER
            ) as stream:
                await stream.get_final_message()
        assert info.value.status_code == 200
        assert info.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        assert stream.current_message_snapshot.stop_reason is None
        assert len(api.message_requests) == 1


async def test_non_streaming_message(client_factory: Any) -> None:
    async with FakeMessagesAPI(sequence(Stream([thinking("hm", signature="sg"), text("A summary.")]))) as api:
        assert api.base_url is not None
        message = await client_factory(api.base_url).messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert isinstance(message, anthropic.types.Message)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[1].type == "text" and message.content[1].text == "A summary."
    assert message.stop_reason == "end_turn" and message.model == MODEL
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert "stream" not in (api.requests[0].body or {})


async def test_dropped_connections_are_retried_by_the_sdk(client_factory: Any) -> None:
    cut = Stream([text("a long summary that is cut short")], cut_after_events=1)
    ok = Stream([text("done")])
    async with FakeMessagesAPI(sequence(Disconnect(), cut, ok)) as api:
        assert api.base_url is not None
        message = await client_factory(api.base_url, max_retries=2).messages.create(model=MODEL, max_tokens=10, messages=USER)
        assert message.content[0].type == "text" and message.content[0].text == "done"
        assert len(api.message_requests) == 3
    async with FakeMessagesAPI(sequence(Disconnect())) as api:
        assert api.base_url is not None
        with pytest.raises(anthropic.APIConnectionError):
            await client_factory(api.base_url, max_retries=0).messages.create(model=MODEL, max_tokens=10, messages=USER)


async def test_request_bodies_are_recorded(client_factory: Any) -> None:
    async with FakeMessagesAPI(echo) as api:
        assert api.base_url is not None
        tools = [{"name": "run_experiment", "description": "Run one.", "input_schema": {"type": "object", "properties": {}}}]
        async with client_factory(api.base_url).messages.stream(
            model=MODEL,
            max_tokens=2000,
            system=[{"type": "text", "text": "You are a researcher.", "cache_control": {"type": "ephemeral"}}],
            tools=tools,  # type: ignore[arg-type]
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "ping me"}],
        ) as stream:
            final = await stream.get_final_message()
    assert final.content[-1].type == "text" and final.content[-1].text == "Echo: ping me"
    (req,) = api.requests
    assert (req.method, req.path, req.index) == ("POST", "/v1/messages", 0)
    assert req.body is not None
    assert req.body["system"][0]["text"] == "You are a researcher."
    assert req.body["tools"] == tools
    assert req.body["messages"] == [{"role": "user", "content": "ping me"}]
    assert req.body["stream"] is True and req.body["model"] == MODEL
    assert req.headers["content-type"] == "application/json"
    assert isinstance(req.reply, Stream)


async def test_default_usage_models_prompt_caching(client_factory: Any) -> None:
    """Turn 1 writes the prefix up to its last breakpoint; turn 2 reads it and writes the rest."""
    async with FakeMessagesAPI(sequence(Stream([text("ok")]))) as api:
        assert api.base_url is not None
        client = client_factory(api.base_url)
        system = [{"type": "text", "text": "Long instructions. " * 200, "cache_control": {"type": "ephemeral"}}]
        history: list[dict[str, Any]] = []
        usages = []
        for turn in range(3):
            history.append({"role": "user", "content": [
                {"type": "text", "text": f"turn {turn} " * 50, "cache_control": {"type": "ephemeral"}}]})
            msg = await client.messages.create(model=MODEL, max_tokens=10, system=system, messages=history)  # type: ignore[arg-type]
            usages.append(msg.usage)
            # the next request moves the breakpoint to its newest message, as an agent loop does
            del history[-1]["content"][0]["cache_control"]
            history.append({"role": "assistant", "content": "ok"})
    first, second, third = usages
    assert first.cache_read_input_tokens == 0 and (first.cache_creation_input_tokens or 0) > 1000
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert 0 < (second.cache_creation_input_tokens or 0) < (first.cache_creation_input_tokens or 0)
    assert (third.cache_read_input_tokens or 0) > (second.cache_read_input_tokens or 0)
    assert all(u.input_tokens > 0 for u in usages)


async def test_fault_plan_is_deterministic_and_counted(client_factory: Any) -> None:
    def make() -> FaultPlan:
        return FaultPlan(sequence(Stream([text("ok")])), rate=0.4, seed=7,
                         kinds=("overloaded", "rate_limit", "api_error", "disconnect"))

    plan = make()
    assert [plan.planned(n) for n in range(40)] == [make().planned(n) for n in range(40)]
    async with FakeMessagesAPI(plan) as api:
        assert api.base_url is not None
        client = client_factory(api.base_url, max_retries=8)
        for _ in range(10):
            message = await client.messages.create(model=MODEL, max_tokens=10, messages=USER)
            assert message.content[0].type == "text"
        expected = [plan.planned(n) for n in range(len(api.message_requests))]
        assert sum(plan.injected.values()) == sum(k is not None for k in expected) > 0
        assert plan.injected == Counter(k for k in expected if k is not None)
        assert plan.passed == 10 == len(api.message_requests) - sum(plan.injected.values())

    capped = FaultPlan(sequence(Stream([text("ok")])), rate=1.0, kinds=("cut",), max_faults=2)
    async with FakeMessagesAPI(capped) as api:
        assert api.base_url is not None
        client = client_factory(api.base_url, max_retries=0)
        errors = 0
        for _ in range(3):
            try:
                async with client.messages.stream(model=MODEL, max_tokens=10, messages=USER) as stream:
                    final = await stream.get_final_message()
            except httpx2.RemoteProtocolError:
                errors += 1
                assert stream.current_message_snapshot.content[-1].type == "text"  # cut inside the text block
        assert errors == 2 and capped.injected == {"cut": 2}
        assert final.content[0].type == "text" and final.content[0].text == "ok"


async def test_many_concurrent_streams(client_factory: Any) -> None:
    async def script(body: dict[str, Any], n: int) -> Reply:
        await asyncio.sleep(0.01)
        return Stream([thinking("a b c d e f"), text(f"reply {n} " * 6)], event_delay_s=0.005)

    async with FakeMessagesAPI(script) as api:
        assert api.base_url is not None
        client = client_factory(api.base_url)

        async def one() -> str:
            async with client.messages.stream(model=MODEL, max_tokens=10, messages=USER) as stream:
                return (await stream.get_final_message()).content[-1].text  # type: ignore[union-attr]

        t0 = time.monotonic()
        texts = await asyncio.gather(*(one() for _ in range(32)))
        elapsed = time.monotonic() - t0
    assert len(set(texts)) == 32
    assert elapsed < 3.0, elapsed  # ~15 events x 5 ms each, concurrently; serial would be >2.4 s


async def test_script_exception_is_a_non_retried_500(client_factory: Any) -> None:
    def broken(body: dict[str, Any], n: int) -> Reply:
        raise KeyError("no such step")

    async with FakeMessagesAPI(broken) as api:
        assert api.base_url is not None
        with pytest.raises(anthropic.InternalServerError, match="no such step"):
            await client_factory(api.base_url, max_retries=3).messages.create(model=MODEL, max_tokens=10, messages=USER)
        assert len(api.message_requests) == 1 and isinstance(api.errors[0], KeyError)


def test_thread_mode_with_sync_client() -> None:
    api = FakeMessagesAPI(echo)
    url = api.start_in_thread()
    try:
        with anthropic.Anthropic(api_key="sk-test", base_url=url, max_retries=0) as client:
            with client.messages.stream(model=MODEL, max_tokens=10, messages=USER) as stream:
                final = stream.get_final_message()
            assert final.content[-1].type == "text" and final.content[-1].text == "Echo: What next?"
    finally:
        api.stop_thread()
    assert len(api.requests) == 1


def test_cli_serves_echo() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.messages_api", "--port", "0", "--script", "echo"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), line
        with anthropic.Anthropic(api_key="sk-test", base_url=url, max_retries=0) as client:
            message = client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hello"}])
        assert [b.type for b in message.content] == ["thinking", "text"]
        assert message.content[1].type == "text" and message.content[1].text == "Echo: hello"
    finally:
        proc.terminate()
        proc.wait(5)
    assert proc.returncode == 0


def test_chunking_round_trips() -> None:
    for s in ["", "one", "  lead and trail  ", "a\nb\n\nc d e f g h i", "x" * 100]:
        assert "".join(_word_chunks(s, 3)) == s
        assert "".join(_json_chunks(s)) == s
    assert len(_word_chunks("a b c d e f g", 3)) == 3
    assert len(_json_chunks(json.dumps({"k": "v"}))) >= 2
