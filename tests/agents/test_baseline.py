"""The scripted baseline researcher, turn by turn, from the conversation it is sent."""

from __future__ import annotations

from agents.backend import TurnRequest
from agents.baseline import DIRECTIONS, TRAIN, BaselineResearcher
from agents.conversation import AssistantBlock, Message, TextBlock, ToolResultBlock, ToolUseBlock
from agents.resume import INTERRUPTED


class _Sink:
    def delta(self, index: int, block_type: str, text: str) -> None:
        pass

    def block(self, index: int, block: AssistantBlock) -> None:
        pass


def _exchange(turn: int, name: str, arguments: dict[str, object], result: str, error: bool = False) -> list[Message]:
    use = ToolUseBlock(id=f"toolu_{turn}", name=name, input=arguments)
    return [Message(role="assistant", content=(TextBlock(text="."), use)),
            Message(role="user", content=(ToolResultBlock(tool_use_id=use.id, content=result, is_error=error),),
                    origin="tools")]


async def _next_call(researcher: BaselineResearcher, messages: list[Message]) -> tuple[str, dict[str, object], str]:
    turn = await researcher.stream_turn(
        TurnRequest(agent_id="agent-1", system="", tools=(), messages=tuple(messages), turn=len(messages)), _Sink())
    use = next(b for b in turn.blocks if isinstance(b, ToolUseBlock))
    text = next(b for b in turn.blocks if isinstance(b, TextBlock)).text
    return use.name, dict(use.input), text


async def test_a_training_run_the_engine_crash_cut_off_is_run_again_not_skipped() -> None:
    researcher = BaselineResearcher(DIRECTIONS[0], experiments=4)
    messages = [*_exchange(1, "run_command", {"command": "ls data"}, "exit code 0"),
                *_exchange(2, "write_file", {"path": "train_head.py", "content": "..."}, "wrote")]
    name, first, _ = await _next_call(researcher, messages)
    assert name == "run_command" and str(first["command"]).startswith(TRAIN)
    messages += _exchange(3, "run_command", first, INTERRUPTED, error=True)
    name, again, text = await _next_call(researcher, messages)
    assert (name, again["command"]) == ("run_command", first["command"]), "the same setting, once more"
    assert "run it again" in text
    # A run that failed on its own is not repeated: the sweep moves on.
    messages += _exchange(4, "run_command", again, "exit code 1\nstderr: boom", error=True)
    name, following, _ = await _next_call(researcher, messages)
    assert name == "run_command" and following["command"] != first["command"]
