"""The campaign's event vocabulary: one frozen model per kind, a discriminated union.

The event log is the single source of truth. Every view (live TUI, leaderboard,
offline review, export) is a projection of these events, so each kind carries the
facts a reader needs and nothing that can be derived. Names are past tense: an event
records something that already happened and is never edited.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from agents.commands import BudgetName, Command
from agents.conversation import AssistantBlock, Message, ToolResultBlock

AgentStatus = Literal["starting", "thinking", "running", "awaiting_approval", "paused", "finished", "failed"]


class EventBase(BaseModel):
    """Fields common to every event. `seq` is assigned by the bus, in publish order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = 0
    ts: float = Field(default_factory=time.time)
    agent_id: str | None = None


class CampaignStarted(EventBase):
    kind: Literal["campaign_started"] = "campaign_started"
    campaign_id: str
    testbed: str
    agent_ids: list[str]
    sandbox_backend: str
    budget: dict[str, float]
    researcher: str = "baseline"
    model: str = ""
    settings: dict[str, object] = Field(default_factory=dict)  # all of them, for --resume
    isolation: str = "bwrap"
    """The least isolation agent code runs at."""
    isolation_risk: str = ""
    """Below bwrap: the risk the campaign accepted by name (the host is visible to agent code)."""


class TaskPrepared(EventBase):
    """The research task is ready: baselines PGR is measured against (public test part;
    the private part's for the supervisor)."""

    kind: Literal["task_prepared"] = "task_prepared"
    testbed: str
    acc_weak: float
    acc_ceiling: float
    private_acc_weak: float
    private_acc_ceiling: float
    n_train: int
    n_test: int
    seconds: float


class ProgressReported(EventBase):
    """Long set-up work (feature extraction) reporting how far it got."""

    kind: Literal["progress_reported"] = "progress_reported"
    stage: str
    done: int
    total: int


class AgentStarted(EventBase):
    kind: Literal["agent_started"] = "agent_started"
    backend: str
    direction: str
    sandbox_workdir: str
    sandbox_isolation: str


class CampaignResumed(EventBase):
    """The engine started again on this store (after a crash or a stop) and rebuilt its
    state from the log up to ``after_seq``."""

    kind: Literal["campaign_resumed"] = "campaign_resumed"
    after_seq: int
    agents_resumed: list[str]
    interrupted_calls: int = 0


class AgentResumed(EventBase):
    """An agent continues from its last complete turn, its conversation rebuilt from the log."""

    kind: Literal["agent_resumed"] = "agent_resumed"
    turns_done: int
    messages: int


class AgentStatusChanged(EventBase):
    kind: Literal["agent_status_changed"] = "agent_status_changed"
    status: AgentStatus
    reason: str = ""


class MessageAdded(EventBase):
    """A user turn entered the agent's conversation: the task brief, a supervisor's
    message, or a note from the harness. (Assistant turns arrive as blocks; tool
    results with `ToolCallFinished`.)"""

    kind: Literal["message_added"] = "message_added"
    message: Message


class TokenUsage(BaseModel):
    """Tokens of one model turn, as the provider counted them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def context(self) -> int:
        """The prompt's size: what the next request starts from."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


class BlockDelta(EventBase):
    """Streamed thinking or text of a block still being written: coalesced (at most ~10
    a second per agent) for the screen. The completed block is the record."""

    kind: Literal["block_delta"] = "block_delta"
    turn: int
    attempt: int
    index: int
    block_type: Literal["thinking", "text"]
    text: str


class BlockCompleted(EventBase):
    """One complete block of an assistant turn (thinking with signature, text, tool_use)."""

    kind: Literal["block_completed"] = "block_completed"
    turn: int
    attempt: int
    index: int
    block: AssistantBlock


class TurnCompleted(EventBase):
    """An assistant turn ended cleanly: its blocks (same turn and attempt) are the message."""

    kind: Literal["turn_completed"] = "turn_completed"
    turn: int
    attempt: int
    stop_reason: str
    model: str = ""
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost_usd: float = 0.0
    seconds: float = 0.0  # wall time of the turn (the agent's wall-time budget)


class TurnFailed(EventBase):
    """An assistant turn broke (a cut stream, an API error after the SDK's retries): its
    blocks are discarded and none of its tools runs; `will_retry` says what comes next."""

    kind: Literal["turn_failed"] = "turn_failed"
    turn: int
    attempt: int
    error: str
    will_retry: bool


class Compacted(EventBase):
    """The conversation neared the model's window and was replaced by `messages` (the
    brief and a summary of the work so far)."""

    kind: Literal["compacted"] = "compacted"
    tokens_before: int
    tokens_after: int
    messages: list[Message]


class ToolOutputEmitted(EventBase):
    """One line of live output from a running tool (experiment logs)."""

    kind: Literal["tool_output_emitted"] = "tool_output_emitted"
    call_id: str
    stream: Literal["stdout", "stderr"]
    line: str


class ToolCallStarted(EventBase):
    """A tool call begins to execute, with the arguments that actually run. A call started
    and never finished (the engine died) is reported to the model as interrupted."""

    kind: Literal["tool_call_started"] = "tool_call_started"
    call_id: str
    tool: str
    arguments: dict[str, object]


class ToolCallFinished(EventBase):
    """A tool call ended; `result` is exactly what the model reads back (same id as its
    tool_use block)."""

    kind: Literal["tool_call_finished"] = "tool_call_finished"
    call_id: str
    tool: str
    ok: bool
    summary: str
    duration_s: float
    result: ToolResultBlock


class SubmissionScored(EventBase):
    """A scored submission. Private figures are for the human; the agent saw `feedback`."""

    kind: Literal["submission_scored"] = "submission_scored"
    submission_id: int
    method: str
    valid: bool
    refused: bool = False
    error: str | None = None
    public_pgr: float | None = None
    private_pgr: float | None = None
    public_acc: float | None = None
    private_acc: float | None = None
    public_pgr_interval: tuple[float, float] | None = None  # 95% bootstrap, for the supervisor
    private_pgr_interval: tuple[float, float] | None = None
    flags: list[dict[str, str]] = Field(default_factory=list)  # tripwires: {code, reason}
    feedback: str = ""
    command: str = ""  # what the agent said produced the predictions; "" = not reproducible
    predictions: str = ""  # the probabilities in the scorer's id order (base64 float32): the scorer's
    # probing history is rebuilt from them after a crash, and review can re-audit them


class ReproductionJudged(EventBase):
    """The harness re-ran a submission's command on unseen task variants (for the human)."""

    kind: Literal["reproduction_judged"] = "reproduction_judged"
    submission_id: int
    # "reproduced" | "not reproduced" | "ignores the teacher" | "inconclusive" (experiments.reproduction)
    verdict: str
    reason: str
    rerun_pgr: float | None = None  # the mean over the other-teacher re-runs (whole test split)
    shuffled_pgr: float | None = None
    reruns: int = 0  # other-teacher re-runs that produced predictions (0 in logs from before the noise model)
    difference_interval: tuple[float, float] | None = None  # 95%: re-run minus original PGR


class CommandApplied(EventBase):
    """The engine applied a supervisor command (row ``command_id`` of the commands table)."""

    kind: Literal["command_applied"] = "command_applied"
    command_id: int
    command: Command


class CommandRefused(EventBase):
    """The engine refused a command, and why; nothing changed."""

    kind: Literal["command_refused"] = "command_refused"
    command_id: int
    command: Command
    reason: str


ApprovalKind = Literal["tool", "budget"]


class ApprovalRequested(EventBase):
    """An agent waits for the supervisor: a tool call the policy says to ask about, or a
    budget checkpoint. One queue across agents, oldest first."""

    kind: Literal["approval_requested"] = "approval_requested"
    request_id: int
    request_kind: ApprovalKind = "tool"
    call_id: str = ""
    tool: str = ""
    arguments: dict[str, object] = Field(default_factory=dict)
    rule: str = ""  # the policy rule that asked, in words
    budget: BudgetName | None = None


class ApprovalDecided(EventBase):
    """The supervisor decided a request (``decision``), by command ``command_id``."""

    kind: Literal["approval_decided"] = "approval_decided"
    request_id: int
    decision: Literal["approved", "denied", "edited"]
    command_id: int
    viewer: str = ""
    reason: str = ""
    arguments: dict[str, object] | None = None  # what runs, when edited
    grant_id: int | None = None  # when approved "always"


class ApprovalWithdrawn(EventBase):
    """A pending request went away without a decision (its agent was stopped, or a grant
    now covers it)."""

    kind: Literal["approval_withdrawn"] = "approval_withdrawn"
    request_id: int
    reason: str


class GrantAdded(EventBase):
    """An "approve always": calls of ``tool`` (with ``prefix``, commands starting so) by
    ``agent_id`` (None: every agent) run without asking, until revoked."""

    kind: Literal["grant_added"] = "grant_added"
    grant_id: int
    tool: str
    prefix: str = ""
    scope: str  # in words, shown to the supervisor


class GrantRevoked(EventBase):
    kind: Literal["grant_revoked"] = "grant_revoked"
    grant_id: int


class EngineDecided(EventBase):
    """The engine itself stopped or paused an agent (its wall-clock budget ran out, a
    budget was reached): the engine's decision, not a supervisor's command."""

    kind: Literal["engine_decided"] = "engine_decided"
    decision: Literal["stop", "pause"]
    reason: str


class BudgetReached(EventBase):
    """An agent (or, with no agent, the campaign) reached a budget and was paused; the
    supervisor can grant more or stop it."""

    kind: Literal["budget_reached"] = "budget_reached"
    budget: BudgetName
    limit: float
    used: float
    scope: Literal["agent", "campaign"] = "agent"


class BudgetGranted(EventBase):
    """The supervisor raised a budget of one agent (or of the campaign)."""

    kind: Literal["budget_granted"] = "budget_granted"
    budget: BudgetName
    amount: float
    new_limit: float


class ForumAttachment(BaseModel):
    """A file attached to a forum post, snapshotted read-only into shared storage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # as the author named it, relative to its work dir
    shared_path: str  # where every agent reads it: relative to shared/
    size: int
    sha256: str


SETTING_NAME = r"^[a-z][a-z0-9_-]{0,39}$"
Setting = Annotated[
    dict[Annotated[str, StringConstraints(pattern=SETTING_NAME)], Annotated[float, Field(allow_inf_nan=False)]],
    Field(max_length=16),
]
"""A method's settings as data: flag names (lower-case words) to finite numbers."""


class ForumPosted(EventBase):
    """A finding posted to the campaign's forum (by an agent, or the supervisor: no agent)."""

    kind: Literal["forum_posted"] = "forum_posted"
    post_id: int
    post_kind: Literal["result", "hypothesis", "negative_result", "note"]
    text: str
    attachments: list[ForumAttachment] = Field(default_factory=list)
    author: str = ""
    setting: Setting | None = None  # the flags of a result, structured (``post_to_forum``'s ``setting``)


class NoteAdded(EventBase):
    """An entry in the agent's own notebook (persistent across turns and compaction)."""

    kind: Literal["note_added"] = "note_added"
    text: str


class AgentFinished(EventBase):
    kind: Literal["agent_finished"] = "agent_finished"
    reason: str


class CampaignFinished(EventBase):
    kind: Literal["campaign_finished"] = "campaign_finished"
    reason: str
    seconds: float


Event = Annotated[
    Union[
        CampaignStarted,
        TaskPrepared,
        ProgressReported,
        AgentStarted,
        CampaignResumed,
        AgentResumed,
        AgentStatusChanged,
        MessageAdded,
        BlockDelta,
        BlockCompleted,
        TurnCompleted,
        TurnFailed,
        Compacted,
        ToolCallStarted,
        ToolOutputEmitted,
        ToolCallFinished,
        SubmissionScored,
        ReproductionJudged,
        CommandApplied,
        CommandRefused,
        ApprovalRequested,
        ApprovalDecided,
        ApprovalWithdrawn,
        GrantAdded,
        GrantRevoked,
        EngineDecided,
        BudgetReached,
        BudgetGranted,
        ForumPosted,
        NoteAdded,
        AgentFinished,
        CampaignFinished,
    ],
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def event_from_json(data: str | bytes) -> Event:
    """Parse one stored event."""
    return EVENT_ADAPTER.validate_json(data)


def event_to_json(event: Event) -> str:
    """Serialise one event for storage or export."""
    return event.model_dump_json()
