"""The transcript read model: structured items folded from one agent's events."""

from __future__ import annotations

import itertools

from agents.commands import Redirect
from agents.conversation import Message, TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock
from agents.events import (
    ApprovalDecided,
    ApprovalRequested,
    ApprovalWithdrawn,
    BlockCompleted,
    BlockDelta,
    BudgetReached,
    CommandApplied,
    Event,
    MessageAdded,
    ReproductionJudged,
    SubmissionScored,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutputEmitted,
    TurnCompleted,
    TurnFailed,
)
from agents.items import (
    ITEMS_KEPT,
    OUTPUT_LINES_KEPT,
    ApprovalItem,
    BudgetItem,
    MessageItem,
    NoticeItem,
    SubmissionItem,
    TextItem,
    ThinkingItem,
    ToolCallItem,
)
from agents.transcript import Transcript

_seq = itertools.count(1)


def fold(*events: Event, transcript: Transcript | None = None) -> Transcript:
    transcript = transcript or Transcript("a")
    for event in events:
        transcript.apply(event.model_copy(update={"seq": next(_seq), "agent_id": "a"}))
    return transcript


def _result(call_id: str, text: str = "exit code 0") -> ToolResultBlock:
    return ToolResultBlock(tool_use_id=call_id, content=text)


def test_deltas_grow_a_block_until_the_completed_block_replaces_them() -> None:
    t = fold(BlockDelta(turn=1, attempt=1, index=0, block_type="thinking", text="Let me "),
             BlockDelta(turn=1, attempt=1, index=0, block_type="thinking", text="think"),
             BlockDelta(turn=1, attempt=1, index=1, block_type="text", text="# Plan"))
    thinking, text = t.items
    assert isinstance(thinking, ThinkingItem) and isinstance(text, TextItem)
    assert (thinking.text, thinking.streaming, thinking.version) == ("Let me think", True, 2)
    assert t.activity() == "writing…"

    fold(BlockCompleted(turn=1, attempt=1, index=0, block=ThinkingBlock(thinking="Let me think.", signature="s")),
         BlockCompleted(turn=1, attempt=1, index=1, block=TextBlock(text="# Plan\n\n- sweep")), transcript=t)
    assert len(t.items) == 2  # completed in place, not appended
    assert (thinking.text, thinking.streaming) == ("Let me think.", False)
    assert (text.text, text.streaming) == ("# Plan\n\n- sweep", False)


def test_a_broken_turn_marks_its_blocks_and_calls_discarded() -> None:
    t = fold(BlockDelta(turn=2, attempt=1, index=0, block_type="text", text="half"),
             BlockCompleted(turn=2, attempt=1, index=1,
                            block=ToolUseBlock(id="t1", name="run_command", input={"command": "ls"})),
             TurnFailed(turn=2, attempt=1, error="stream cut", will_retry=True),
             BlockCompleted(turn=2, attempt=2, index=0, block=TextBlock(text="whole")))
    half, call, notice, whole = t.items
    assert isinstance(half, TextItem) and half.discarded and not half.streaming
    assert isinstance(call, ToolCallItem) and call.state == "discarded"
    assert isinstance(notice, NoticeItem) and notice.level == "error" and "stream cut" in notice.text
    assert isinstance(whole, TextItem) and whole.text == "whole" and not whole.discarded


def test_a_tool_call_from_proposal_through_approval_edit_output_and_result() -> None:
    t = fold(BlockCompleted(turn=1, attempt=1, index=0,
                            block=ToolUseBlock(id="t1", name="run_command", input={"command": "python train.py"})),
             TurnCompleted(turn=1, attempt=1, stop_reason="tool_use"),
             ApprovalRequested(request_id=7, call_id="t1", tool="run_command",
                               arguments={"command": "python train.py"}, rule="run_command asks"))
    (call,) = t.items
    assert isinstance(call, ToolCallItem)
    assert (call.state, call.request_id, call.rule) == ("awaiting_approval", 7, "run_command asks")
    assert t.activity() == "asks: run_command python train.py"

    fold(ApprovalDecided(request_id=7, decision="edited", command_id=3, viewer="tui-1",
                         arguments={"command": "python train.py --epochs 2"}),
         ToolCallStarted(call_id="t1", tool="run_command", arguments={"command": "python train.py --epochs 2"}),
         ToolOutputEmitted(call_id="t1", stream="stdout", line="epoch 1 loss 0.5"),
         ToolOutputEmitted(call_id="t1", stream="stderr", line="warning: slow"), transcript=t)
    assert call.state == "running" and call.decision == "edited by tui-1"
    assert call.command == "python train.py --epochs 2" and call.arguments == {"command": "python train.py"}
    assert list(call.output) == [("stdout", "epoch 1 loss 0.5"), ("stderr", "warning: slow")]
    assert t.activity() == "python train.py --epochs 2 | warning: slow"

    fold(ToolCallFinished(call_id="t1", tool="run_command", ok=True, summary="exit code 0", duration_s=3.5,
                          result=_result("t1", "exit code 0\nstdout: ...")), transcript=t)
    assert (call.state, call.duration_s, call.result) == ("succeeded", 3.5, "exit code 0\nstdout: ...")
    assert len(t.items) == 1 and t.activity() == ""


def test_a_denied_call_stays_denied_and_its_reason_is_kept() -> None:
    t = fold(BlockCompleted(turn=1, attempt=1, index=0,
                            block=ToolUseBlock(id="t1", name="run_command", input={"command": "rm -rf /"})),
             ApprovalRequested(request_id=1, call_id="t1", tool="run_command", arguments={"command": "rm -rf /"}),
             ApprovalDecided(request_id=1, decision="denied", command_id=1, viewer="v", reason="no"),
             ToolCallFinished(call_id="t1", tool="run_command", ok=False, summary="denied", duration_s=0.0,
                              result=_result("t1", "denied: no")))
    (call,) = t.items
    assert isinstance(call, ToolCallItem) and call.state == "denied" and call.decision == "denied by v: no"


def test_budget_checkpoints_submissions_verdicts_and_messages_are_their_own_items() -> None:
    t = fold(MessageAdded(message=Message(role="user", origin="task", content=(TextBlock(text="the brief"),))),
             BudgetReached(budget="turns", limit=3, used=3),
             ApprovalRequested(request_id=2, request_kind="budget", rule="turns budget", budget="turns"),
             ApprovalWithdrawn(request_id=2, reason="the agent was stopped"),
             SubmissionScored(submission_id=5, method="logreg", valid=True, public_pgr=0.4, private_pgr=0.3,
                              public_pgr_interval=(0.2, 0.6), flags=[{"code": "probing", "reason": "r"}]),
             ReproductionJudged(submission_id=5, verdict="not reproduced", reason="other teacher 0.01"),
             CommandApplied(command_id=4, command=Redirect(agent_id="a", message="try L2", viewer="v")),
             MessageAdded(message=Message(role="user", origin="supervisor", content=(TextBlock(text="try L2"),))))
    brief, budget, checkpoint, sub, command, supervisor = t.items
    assert isinstance(brief, MessageItem) and (brief.origin, brief.text) == ("task", "the brief")
    assert isinstance(budget, BudgetItem) and (budget.budget, budget.used, budget.limit) == ("turns", 3, 3)
    assert isinstance(checkpoint, ApprovalItem) and checkpoint.decision == "withdrawn: the agent was stopped"
    assert isinstance(sub, SubmissionItem) and sub.public_interval == (0.2, 0.6)
    assert (sub.verdict, sub.verdict_reason, sub.flags) == ("not reproduced", "other teacher 0.01", (("probing", "r"),))
    assert t.submission(5) is sub and t.item_at(sub.seq + 1) is sub
    assert isinstance(command, NoticeItem) and command.topic == "command" and "redirect: try L2" in command.text
    assert isinstance(supervisor, MessageItem) and supervisor.origin == "supervisor"


def test_memory_is_bounded_and_evicted_items_leave_the_indexes() -> None:
    events: list[Event] = []
    for n in range(ITEMS_KEPT + 10):
        events.append(SubmissionScored(submission_id=n, method="m", valid=False, error="e"))
    t = fold(*events)
    assert len(t.items) == ITEMS_KEPT and t.items_total == ITEMS_KEPT + 10
    assert t.submission(0) is None and t.submission(ITEMS_KEPT + 9) is not None

    many = fold(ToolCallStarted(call_id="c", tool="run_command", arguments={}),
                *[ToolOutputEmitted(call_id="c", stream="stdout", line=str(i)) for i in range(OUTPUT_LINES_KEPT + 5)])
    (call,) = many.items
    assert isinstance(call, ToolCallItem) and call.output_total == OUTPUT_LINES_KEPT + 5
    assert len(call.output) == OUTPUT_LINES_KEPT and call.output[-1] == ("stdout", str(OUTPUT_LINES_KEPT + 4))


def test_revision_and_versions_move_only_on_change() -> None:
    t = fold(ToolCallStarted(call_id="c", tool="read_file", arguments={"path": "x"}))
    (call,) = t.items
    before = (t.revision, call.version)
    fold(TurnCompleted(turn=1, attempt=1, stop_reason="end_turn"), transcript=t)  # no usage, no stream: no change
    assert (t.revision, call.version) == before
    fold(ToolOutputEmitted(call_id="c", stream="stdout", line="x"), transcript=t)
    assert t.revision == before[0] + 1 and call.version == before[1] + 1
