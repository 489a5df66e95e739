"""A small fixed campaign log for review-mode tests and snapshots."""

from agents.conversation import TextBlock, ToolResultBlock, ToolUseBlock
from agents.events import (
    AgentStarted,
    BlockCompleted,
    AgentStatusChanged,
    CampaignStarted,
    Event,
    SubmissionScored,
    TaskPrepared,
    ToolCallFinished,
    ToolOutputEmitted,
    TurnCompleted,
)


def sample_events() -> list[Event]:
    events: list[Event] = [
        CampaignStarted(campaign_id="c-sample", testbed="stdlib-docstrings", agent_ids=["agent-1", "agent-2"],
                        sandbox_backend="local", budget={"experiments_per_agent": 2}),
        TaskPrepared(testbed="stdlib-docstrings", acc_weak=0.712, acc_ceiling=0.805, private_acc_weak=0.705, private_acc_ceiling=0.81, n_train=2400, n_test=1800, seconds=3.0),
    ]
    for agent_id, direction in (("agent-1", "label sharpening"), ("agent-2", "regularisation")):
        events += [
            AgentStarted(agent_id=agent_id, backend="baseline (scripted, not an LLM)", direction=direction,
                         sandbox_workdir=f"/runs/{agent_id}", sandbox_isolation="process"),
            AgentStatusChanged(agent_id=agent_id, status="thinking"),
            BlockCompleted(agent_id=agent_id, turn=1, attempt=1, index=0,
                           block=TextBlock(text=f"Plan: sweep {direction}.")),
            BlockCompleted(agent_id=agent_id, turn=1, attempt=1, index=1,
                           block=ToolUseBlock(id=f"{agent_id}-1", name="run_command",
                                              input={"command": "python train_head.py --temperature 0.5"})),
            TurnCompleted(agent_id=agent_id, turn=1, attempt=1, stop_reason="tool_use"),
            ToolOutputEmitted(agent_id=agent_id, call_id=f"{agent_id}-1", stream="stdout",
                              line="epoch  200  loss 0.5012  held-out agreement with weak labels 0.912"),
            ToolCallFinished(agent_id=agent_id, call_id=f"{agent_id}-1", tool="run_command", ok=True,
                             summary="exit code 0", duration_s=1.2,
                             result=ToolResultBlock(tool_use_id=f"{agent_id}-1", content="exit code 0")),
        ]
    events += [
        SubmissionScored(agent_id="agent-1", submission_id=1, method="logreg, temperature=0.5", valid=True,
                         public_pgr=0.3, private_pgr=0.25, feedback="public PGR ~0.30"),
        SubmissionScored(agent_id="agent-2", submission_id=2, method="logreg, weight-decay=0.1", valid=True,
                         public_pgr=0.5, private_pgr=0.1, feedback="public PGR ~0.50"),
    ]
    return [e.model_copy(update={"seq": i, "ts": 1_700_000_000.0 + i}) for i, e in enumerate(events, start=1)]
