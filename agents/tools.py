"""The research tools, identical for every researcher backend, and their execution.

Each tool's arguments are a pydantic model: its JSON schema is what a model is shown,
and every call is validated against it before anything runs, so a malformed call
comes back as a tool error the model can read and fix. Errors the agent can act on
(a failed command, a refused path, a rejected submission) are tool errors too. A bug
in aar is not blamed on the agent's arguments: it is logged, shown to the supervisor
as an internal error, and the model is told the call failed through no fault of its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.conversation import ToolResultBlock
from agents.events import Setting
from agents.forum import Forum, Notebooks, ToolError
from agents.shell import join_words
from agents.submissions import SubmissionDesk
from sandboxes import Sandbox, SandboxError, SandboxUnavailableError
from sandboxes.files import list_tree

log = logging.getLogger(__name__)

OutputSink = Callable[[str, str], None]

RESULT_TAIL_CHARS = 4000  # what an agent reads of one command's output; the log keeps every line
READ_FILE_BYTES = 1_000_000
PREDICTIONS_BYTES = 50_000_000


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunCommand(_Args):
    command: str | None = Field(None, min_length=1, max_length=20_000,
                                description="bash command line, run in your work dir")
    argv: list[str] | None = Field(None, min_length=1, max_length=1000,
                                   description="or: a program and its arguments, run as they are (no shell)")
    timeout_s: float | None = Field(None, gt=0, description="wall-clock limit in seconds (capped by the campaign)")

    @model_validator(mode="after")
    def _one_of(self) -> "RunCommand":
        if (self.command is None) == (self.argv is None):
            raise ValueError("give exactly one of command (a bash line) or argv (a list of words)")
        if self.argv is not None and (not self.argv[0] or any("\0" in word for word in self.argv)):
            raise ValueError("argv needs a program name first, and no word may hold a NUL byte")
        return self

    @property
    def line(self) -> str:
        """The command as one bash line (argv quoted word by word): what approvals judge."""
        return self.command if self.command is not None else join_words(self.argv or [])


class WriteFile(_Args):
    path: str = Field(min_length=1, max_length=500, description="path relative to your work dir")
    content: str = Field(max_length=5_000_000)


class ReadFile(_Args):
    path: str = Field(min_length=1, max_length=500, description="path relative to your work dir")


class ListFiles(_Args):
    path: str = Field(".", max_length=500, description="folder relative to your work dir")
    depth: int = Field(2, ge=1, le=6)


class SubmitPredictions(_Args):
    path: str = Field(min_length=1, max_length=500, description='predictions file {"ids": [...], "probs": [...]}')
    method: str = Field(min_length=1, max_length=200, description="short description of the method")
    command: str = Field("", max_length=2000, description="the shell command that wrote the file; the harness may re-run it")


class PostToForum(_Args):
    kind: Literal["result", "hypothesis", "negative_result"]
    text: str = Field(min_length=1, max_length=20_000)
    setting: Setting | None = Field(None, description="a result's settings as data: flag name -> number, "
                                                      'e.g. {"weight-decay": 3, "epochs": 200}')
    attachments: list[str] = Field(default_factory=list, max_length=20,
                                   description="files in your work dir to share (snapshotted read-only)")


class ReadForum(_Args):
    query: str = Field("", max_length=500, description="words that must all appear; empty for all posts")
    limit: int = Field(20, ge=1, le=100)


class ViewLeaderboard(_Args):
    pass


class ReadSharedFile(_Args):
    agent: str = Field(min_length=1, max_length=100, description="the agent who attached the file")
    path: str = Field(min_length=1, max_length=500, description="path inside its shared folder, e.g. post-3/train.py")


class Notebook(_Args):
    action: Literal["append", "read"]
    text: str = Field("", max_length=20_000, description="the entry to append")


@dataclass(frozen=True)
class ToolSpec:
    """A tool as a model sees it."""

    name: str
    description: str
    args: type[_Args]

    @property
    def input_schema(self) -> dict[str, Any]:
        return _clean_schema(self.args.model_json_schema())


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema without pydantic's titles (noise to a model)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if isinstance(value, dict):
            value = {k: _clean_schema(v) if isinstance(v, dict) else v for k, v in value.items() if k != "title"}
        out[key] = value
    return out


TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec("run_command", "Run a bash command in your sandbox's work directory; returns exit code and output "
             "(the tail, if long). numpy and torch are installed; there is no network.", RunCommand),
    ToolSpec("write_file", "Write a text file in your work directory (parents are created).", WriteFile),
    ToolSpec("read_file", "Read a text file in your work directory.", ReadFile),
    ToolSpec("list_files", "List files under a folder of your work directory, with sizes.", ListFiles),
    ToolSpec("submit_predictions", "Submit a predictions file for scoring; returns coarse public PGR feedback. "
             "Give the command that produced it: the harness re-runs submitted methods on unseen variants.",
             SubmitPredictions),
    ToolSpec("post_to_forum", "Share a finding with the other researchers: a result, a hypothesis or a negative "
             "result, optionally with files (others read them under shared/).", PostToForum),
    ToolSpec("read_forum", "Read the forum's posts (newest last), optionally filtered by words.", ReadForum),
    ToolSpec("view_leaderboard", "The public leaderboard: each scored submission's coarse public PGR.", ViewLeaderboard),
    ToolSpec("read_shared_file", "Read a file another agent attached to a forum post (read-only shared storage).",
             ReadSharedFile),
    ToolSpec("notebook", "Your persistent notebook: append an entry, or read all entries. It survives "
             "context compaction.", Notebook),
)
TOOLS_BY_NAME = {spec.name: spec for spec in TOOL_SPECS}


def _tail(text: str, limit: int = RESULT_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "[... earlier output omitted ...]\n" + text[-limit:]


@dataclass(frozen=True)
class ToolOutcome:
    """What one call produced: the block the model reads, and a line for the transcript."""

    result: ToolResultBlock
    summary: str
    internal_error: bool = False

    @property
    def ok(self) -> bool:
        return not self.result.is_error


def validation_message(tool: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(arguments)"
        problems.append(f"{where}: {error['msg']}")
    return f"invalid arguments for {tool}: " + "; ".join(problems)


@dataclass(frozen=True)
class ResearchServices:
    """What the tools act on besides the sandbox: scorer desk, forum, notebooks."""

    desk: SubmissionDesk
    forum: Forum
    notebooks: Notebooks


Executor = Callable[[Any, OutputSink], Awaitable[tuple[str, str]]]


class Toolbox:
    """Executes one agent's tool calls."""

    def __init__(self, agent_id: str, sandbox: Sandbox, services: ResearchServices, *, exec_timeout_s: float) -> None:
        self._agent_id = agent_id
        self._sandbox = sandbox
        self._services = services
        self._exec_timeout_s = exec_timeout_s
        self._executors: dict[str, Executor] = {
            "run_command": self._run_command,
            "write_file": self._write_file,
            "read_file": self._read_file,
            "list_files": self._list_files,
            "submit_predictions": self._submit,
            "post_to_forum": self._post,
            "read_forum": self._read_forum,
            "view_leaderboard": self._leaderboard,
            "read_shared_file": self._read_shared,
            "notebook": self._notebook,
        }

    def validate(self, tool: str, arguments: Mapping[str, Any]) -> _Args | str:
        """The parsed arguments, or the message that says what is wrong with the call."""
        spec = TOOLS_BY_NAME.get(tool)
        if spec is None:
            return f"unknown tool {tool!r} (known: {', '.join(TOOLS_BY_NAME)})"
        try:
            return spec.args.model_validate(dict(arguments))
        except ValidationError as exc:
            return validation_message(tool, exc)

    async def execute(self, call_id: str, tool: str, arguments: Mapping[str, Any], on_output: OutputSink) -> ToolOutcome:
        """Validate and run one call. ``SandboxUnavailableError`` propagates: the engine holds the agent."""
        args = self.validate(tool, arguments)
        if isinstance(args, str):
            return self._error(call_id, args, "invalid arguments")
        try:
            content, summary = await self._executors[tool](args, on_output)
        except SandboxUnavailableError:
            raise
        except (SandboxError, ToolError) as exc:
            return self._error(call_id, f"{tool} failed: {exc}", str(exc).splitlines()[0][:200])
        except Exception as exc:  # noqa: BLE001 - aar's bug, not the agent's: say so to both
            log.exception("internal error in tool %s for %s", tool, self._agent_id)
            message = (f"{tool} failed because of an internal error in aar ({type(exc).__name__}), not because "
                       "of your arguments; the supervisor has been told. You may try again or do something else.")
            outcome = self._error(call_id, message, f"aar internal error: {type(exc).__name__}: {exc}")
            return ToolOutcome(outcome.result, outcome.summary, internal_error=True)
        return ToolOutcome(ToolResultBlock(tool_use_id=call_id, content=content), summary)

    @staticmethod
    def _error(call_id: str, content: str, summary: str) -> ToolOutcome:
        return ToolOutcome(ToolResultBlock(tool_use_id=call_id, content=content, is_error=True), summary)

    async def _run_command(self, args: RunCommand, on_output: OutputSink) -> tuple[str, str]:
        timeout = min(args.timeout_s or self._exec_timeout_s, self._exec_timeout_s)
        argv = args.argv if args.argv is not None else ["bash", "-c", args.line]
        result = await self._sandbox.exec(argv, timeout_s=timeout, on_output=on_output)
        status = (f"timed out after {timeout:.0f}s (process group killed)" if result.timed_out
                  else f"exit code {result.returncode}")
        parts = [status]
        if result.stdout:
            parts.append("stdout:\n" + _tail(result.stdout))
        if result.stderr:
            parts.append("stderr:\n" + _tail(result.stderr))
        if result.returncode != 0 or result.timed_out:
            raise ToolError("\n".join(parts))
        return "\n".join(parts), status

    async def _write_file(self, args: WriteFile, on_output: OutputSink) -> tuple[str, str]:
        await self._sandbox.write_file(args.path, args.content)
        return f"wrote {len(args.content)} characters to {args.path}", f"wrote {args.path}"

    async def _read_file(self, args: ReadFile, on_output: OutputSink) -> tuple[str, str]:
        data = await self._sandbox.read_file(args.path, max_bytes=READ_FILE_BYTES)
        return _tail(data.decode("utf-8", errors="replace"), 20_000), f"read {args.path} ({len(data)} bytes)"

    async def _list_files(self, args: ListFiles, on_output: OutputSink) -> tuple[str, str]:
        entries = list_tree(str(self._sandbox.workdir), args.path, max_depth=args.depth, max_entries=500)
        lines = [f"{kind:<4} {size:>10}  {path}" for path, kind, size in entries]
        return "\n".join(lines) or "(empty)", f"listed {args.path} ({len(entries)} entries)"

    async def _submit(self, args: SubmitPredictions, on_output: OutputSink) -> tuple[str, str]:
        raw = await self._sandbox.read_file(args.path, max_bytes=PREDICTIONS_BYTES)
        try:
            payload = json.loads(raw)
            ids, probs = payload["ids"], payload["probs"]
            if not (isinstance(ids, list) and isinstance(probs, list)):
                raise TypeError("ids and probs must be lists")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise ToolError(f'{args.path} is not a predictions file {{"ids": [...], "probs": [...]}}: {exc}') from None
        outcome = await self._services.desk.submit(
            self._agent_id, ids, probs, method=args.method, command=args.command, workdir=self._sandbox.workdir
        )
        if not outcome.accepted:
            raise ToolError(outcome.message)
        return outcome.message, outcome.message.splitlines()[0]

    async def _post(self, args: PostToForum, on_output: OutputSink) -> tuple[str, str]:
        post = self._services.forum.post(
            self._agent_id, args.kind, args.text, attachments=list(args.attachments), workdir=self._sandbox.workdir,
            setting=args.setting,
        )
        shared = "".join(f"\n  shared/{a.shared_path}" for a in post.attachments)
        return f"posted #{post.post_id}{shared}", f"posted #{post.post_id} ({args.kind})"

    async def _read_forum(self, args: ReadForum, on_output: OutputSink) -> tuple[str, str]:
        text = self._services.forum.render(query=args.query, limit=args.limit, reader=self._agent_id)
        return text, f"read the forum ({len(self._services.forum.posts)} posts)"

    async def _leaderboard(self, args: ViewLeaderboard, on_output: OutputSink) -> tuple[str, str]:
        return self._services.desk.public_leaderboard(), "viewed the leaderboard"

    async def _read_shared(self, args: ReadSharedFile, on_output: OutputSink) -> tuple[str, str]:
        data = self._services.forum.read_shared(args.agent, args.path)
        return _tail(data.decode("utf-8", errors="replace"), 20_000), f"read shared {args.agent}/{args.path}"

    async def _notebook(self, args: Notebook, on_output: OutputSink) -> tuple[str, str]:
        books = self._services.notebooks
        if args.action == "read":
            return books.read(self._agent_id), "read the notebook"
        if not args.text.strip():
            raise ToolError("append needs a non-empty text")
        count = books.append(self._agent_id, args.text)
        return f"noted (entry {count})", f"notebook entry {count}"
