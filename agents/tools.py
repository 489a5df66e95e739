"""The tools a researcher may call, and their execution against sandbox and scorer.

Each tool has a JSON schema (what an LLM backend is shown) and an async executor.
Errors an agent can fix (bad arguments, a failed command, a rejected submission)
come back as a failed `ToolResult` the agent can read, never as an exception.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.submissions import SubmissionDesk
from sandboxes import Sandbox, SandboxError, SandboxUnavailableError

OutputSink = Callable[[str, str], None]

# What an agent sees of one command's output; the event log keeps every line.
RESULT_TAIL_CHARS = 4000


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    tool: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    content: str  # what the agent reads
    summary: str  # one line for the transcript


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "run_command",
        "Run a shell command in your sandbox's work directory and return its exit code and output.",
        {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "bash command line"},
                "timeout_s": {"type": "number", "description": "wall-clock limit in seconds"},
            },
            "required": ["command"],
        },
    ),
    ToolSpec(
        "write_file",
        "Write a text file (path relative to your work directory).",
        {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    ),
    ToolSpec(
        "read_file",
        "Read a text file (path relative to your work directory).",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
    ToolSpec(
        "submit_predictions",
        "Submit a predictions file ({'ids': [...], 'probs': [...]}) for scoring; returns coarse PGR "
        "feedback. Give the command that produced it: the harness may re-run it to check the result.",
        {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "method": {"type": "string", "description": "short description of the method"},
                "command": {"type": "string", "description": "shell command that wrote the file"},
            },
            "required": ["path", "method"],
        },
    ),
)


def _tail(text: str, limit: int = RESULT_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "[... earlier output omitted ...]\n" + text[-limit:]


class Toolbox:
    """Executes tool calls for one agent."""

    def __init__(
        self,
        agent_id: str,
        sandbox: Sandbox,
        desk: SubmissionDesk,
        *,
        exec_timeout_s: float,
    ) -> None:
        self._agent_id = agent_id
        self._sandbox = sandbox
        self._desk = desk
        self._exec_timeout_s = exec_timeout_s
        self._executors: dict[str, Callable[[Mapping[str, Any], OutputSink], Awaitable[ToolResult]]] = {
            "run_command": self._run_command,
            "write_file": self._write_file,
            "read_file": self._read_file,
            "submit_predictions": self._submit,
        }

    async def execute(self, call: ToolCall, on_output: OutputSink) -> ToolResult:
        executor = self._executors.get(call.tool)
        if executor is None:
            known = ", ".join(self._executors)
            return ToolResult(False, f"unknown tool {call.tool!r} (known: {known})", "unknown tool")
        try:
            return await executor(call.arguments, on_output)
        except (KeyError, TypeError, ValueError) as exc:
            return ToolResult(False, f"bad arguments for {call.tool}: {exc}", "bad arguments")
        except SandboxUnavailableError:
            raise  # not the agent's doing: the campaign holds the agent until it is back
        except SandboxError as exc:
            return ToolResult(False, f"sandbox error: {exc}", str(exc))

    async def _run_command(self, args: Mapping[str, Any], on_output: OutputSink) -> ToolResult:
        command = str(args["command"])
        timeout = min(float(args.get("timeout_s", self._exec_timeout_s)), self._exec_timeout_s)
        result = await self._sandbox.exec(["bash", "-c", command], timeout_s=timeout, on_output=on_output)
        if result.timed_out:
            status = f"timed out after {timeout:.0f}s (process group killed)"
        else:
            status = f"exit code {result.returncode}"
        parts = [status]
        if result.stdout:
            parts.append("stdout:\n" + _tail(result.stdout))
        if result.stderr:
            parts.append("stderr:\n" + _tail(result.stderr))
        ok = result.returncode == 0 and not result.timed_out
        return ToolResult(ok, "\n".join(parts), status)

    async def _write_file(self, args: Mapping[str, Any], on_output: OutputSink) -> ToolResult:
        path, content = str(args["path"]), str(args["content"])
        await self._sandbox.write_file(path, content)
        return ToolResult(True, f"wrote {len(content)} characters to {path}", f"wrote {path}")

    async def _read_file(self, args: Mapping[str, Any], on_output: OutputSink) -> ToolResult:
        path = str(args["path"])
        data = await self._sandbox.read_file(path, max_bytes=1_000_000)
        return ToolResult(True, _tail(data.decode("utf-8", errors="replace")), f"read {path}")

    async def _submit(self, args: Mapping[str, Any], on_output: OutputSink) -> ToolResult:
        path, method = str(args["path"]), str(args["method"])
        raw = await self._sandbox.read_file(path, max_bytes=50_000_000)
        try:
            payload = json.loads(raw)
            ids, probs = payload["ids"], payload["probs"]
            if not (isinstance(ids, list) and isinstance(probs, list)):
                raise TypeError("ids and probs must be lists")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            message = f'{path} is not a predictions file {{"ids": [...], "probs": [...]}}: {exc}'
            return ToolResult(False, message, "rejected: not a predictions file")
        outcome = self._desk.submit(
            self._agent_id,
            ids,
            probs,
            method=method,
            command=str(args.get("command", "")),
            workdir=self._sandbox.workdir,
        )
        return ToolResult(outcome.accepted, outcome.message, outcome.message.splitlines()[0])
