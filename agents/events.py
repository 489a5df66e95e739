"""The campaign's event vocabulary: one frozen model per kind, a discriminated union.

The event log is the single source of truth. Every view (live TUI, leaderboard,
offline review, export) is a projection of these events, so each kind carries the
facts a reader needs and nothing that can be derived. Names are past tense: an event
records something that already happened and is never edited.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

AgentStatus = Literal["starting", "thinking", "running", "paused", "finished", "failed"]


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


class AgentStatusChanged(EventBase):
    kind: Literal["agent_status_changed"] = "agent_status_changed"
    status: AgentStatus
    reason: str = ""


class TextEmitted(EventBase):
    """A piece of the agent's visible reasoning or prose."""

    kind: Literal["text_emitted"] = "text_emitted"
    text: str


class ToolCallRequested(EventBase):
    kind: Literal["tool_call_requested"] = "tool_call_requested"
    call_id: str
    tool: str
    arguments: dict[str, object]


class ToolOutputEmitted(EventBase):
    """One line of live output from a running tool (experiment logs)."""

    kind: Literal["tool_output_emitted"] = "tool_output_emitted"
    call_id: str
    stream: Literal["stdout", "stderr"]
    line: str


class ToolCallFinished(EventBase):
    kind: Literal["tool_call_finished"] = "tool_call_finished"
    call_id: str
    tool: str
    ok: bool
    summary: str
    duration_s: float


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
    flags: list[dict[str, str]] = Field(default_factory=list)  # tripwires: {code, reason}
    feedback: str = ""
    command: str = ""  # what the agent said produced the predictions; "" = not reproducible


class ReproductionJudged(EventBase):
    """The harness re-ran a submission's command on unseen task variants (for the human)."""

    kind: Literal["reproduction_judged"] = "reproduction_judged"
    submission_id: int
    verdict: str  # "reproduced" | "not reproduced" | "ignores the teacher" (see experiments.reproduction)
    reason: str
    rerun_pgr: float | None = None
    shuffled_pgr: float | None = None


class SupervisorCommandIssued(EventBase):
    """A command from the person in charge, recorded before it is applied."""

    kind: Literal["supervisor_command_issued"] = "supervisor_command_issued"
    command: Literal["pause", "resume", "redirect", "stop"]
    message: str = ""


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
        AgentStatusChanged,
        TextEmitted,
        ToolCallRequested,
        ToolOutputEmitted,
        ToolCallFinished,
        SubmissionScored,
        ReproductionJudged,
        SupervisorCommandIssued,
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
