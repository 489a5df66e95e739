"""The offline baseline researcher: a scripted search, not a language model.

It lets every part of aar run with no API key, through the same tools and the same
content-block conversation as a Claude researcher. Each direction sweeps one knob of
a logistic-regression student trained on the weak teacher's soft labels. It shares
its results on the forum and, after its first experiment, reads the forum and builds
on the best setting another agent found (so an offline campaign shows collaboration).
Every decision is a pure function of the conversation it is sent, so a conversation
rebuilt from the log (crash resume) continues exactly where it was.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from agents.backend import AssistantTurn, TurnRequest, TurnSink, register_backend
from agents.conversation import (
    SUPERVISOR_PREFIX,
    AssistantBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from agents.events import TokenUsage
from agents.resume import INTERRUPTED
from agents.settings import AarSettings
from agents.shell import join_words

_PGR_RE = re.compile(r"PGR[^0-9+-]*([+-]?\d+(?:\.\d+)?)")
TRAIN = ("python", "train_head.py")
KNOBS = {"weight-decay": float, "temperature": float, "epochs": int, "lr": float}
"""train_head.py's flags a setting may hold (its --seed is the agent's own)."""


@dataclass(frozen=True)
class Direction:
    """A starting direction: which knob to sweep and why."""

    name: str
    rationale: str
    knob: str
    values: tuple[float, ...]

    @property
    def text(self) -> str:
        return f"{self.name}: {self.rationale}"


DIRECTIONS: tuple[Direction, ...] = (
    Direction(
        "label sharpening",
        "the weak teacher is often right but unsure; sharpening its soft labels may help the "
        "student commit to the teacher's majority signal instead of copying its hesitation",
        "temperature",
        (1.0, 0.5, 0.25, 0.0, 2.0),
    ),
    Direction(
        "regularisation",
        "a strong student can imitate the teacher's errors; weight decay limits how much "
        "of the weak labels' noise it can fit",
        "weight-decay",
        (1.0, 0.3, 3.0, 0.1, 10.0),
    ),
    Direction(
        "training length",
        "imitating weak errors takes longer than learning the easy signal, so stopping "
        "early may recover more of the ceiling",
        "epochs",
        (200, 50, 20, 800, 100),
    ),
)


def parse_pgr(feedback: str) -> float | None:
    """The coarse public PGR in a scorer feedback message, if any."""
    match = _PGR_RE.search(feedback)
    return float(match.group(1)) if match else None


def _fmt(value: float) -> str:
    return f"{value:g}"


def _show(setting: Mapping[str, float]) -> str:
    """A setting as the flags it runs with, for people and posts."""
    return " ".join(flags(setting))


@dataclass(frozen=True)
class _Step:
    use: ToolUseBlock
    result: ToolResultBlock | None


def _steps(messages: tuple[Message, ...]) -> list[_Step]:
    results = {b.tool_use_id: b for m in messages for b in m.content if isinstance(b, ToolResultBlock)}
    return [_Step(use, results.get(use.id)) for m in messages if m.role == "assistant" for use in m.tool_uses()]


def _argv(use: ToolUseBlock) -> list[str]:
    """A run_command call's words: its argv, or (a log from before argv) its command split."""
    argv = use.input.get("argv")
    if isinstance(argv, list):
        return [str(word) for word in argv]
    return str(use.input.get("command", "")).split()


def _is_training(step: _Step) -> bool:
    """A training run of the sweep that counts: one the engine's death interrupted is run again
    (its effects are unknown), so it takes no setting of the sweep."""
    return (step.use.name == "run_command" and tuple(_argv(step.use)[:2]) == TRAIN
            and not (step.result is not None and step.result.content == INTERRUPTED))


def flags(setting: Mapping[str, float]) -> list[str]:
    """A setting as train_head.py's flags, in a fixed order."""
    words: list[str] = []
    for name, kind in KNOBS.items():
        if name in setting:
            words += [f"--{name}", _fmt(kind(setting[name]))]
    return words


def best_shared_setting(forum_text: str, me: str, my_knob: str) -> tuple[dict[str, float], float] | None:
    """The best setting another agent posted (its structured ``setting`` and the public PGR
    its text reports), on another knob than mine. Only train_head.py's own flags are taken:
    a post is data, and nothing in it becomes a word of a command unless it is one of them."""
    best: tuple[dict[str, float], float] | None = None
    for line in forum_text.splitlines()[1:]:
        try:
            post = json.loads(line)
        except json.JSONDecodeError:
            continue
        setting = post.get("setting") if isinstance(post, dict) else None
        if (not isinstance(setting, dict) or post.get("kind") != "result" or post.get("author") == me
                or post.get("yours") or my_knob in setting):
            continue
        known = {name: float(value) for name, value in setting.items()
                 if name in KNOBS and isinstance(value, (int, float)) and math.isfinite(value)}
        pgr = parse_pgr(str(post.get("text", "")))
        if known and pgr is not None and (best is None or pgr > best[1]):
            best = (known, pgr)
    return best


class BaselineResearcher:
    """Scripted backend: decides each turn from the conversation it is sent."""

    name = "baseline (scripted, not an LLM)"
    model = ""

    def __init__(self, direction: Direction, *, experiments: int, seed: int = 0) -> None:
        self._direction = direction
        self._values = direction.values[: max(1, experiments)]
        self._seed = seed

    async def stream_turn(self, request: TurnRequest, sink: TurnSink) -> AssistantTurn:
        text, call = self._plan(request)
        blocks: list[AssistantBlock] = [TextBlock(text=text)]
        sink.delta(0, "text", text)
        sink.block(0, blocks[0])
        if call is not None:
            name, arguments = call
            use = ToolUseBlock(id=f"toolu_baseline_{request.agent_id}_{request.turn}", name=name, input=arguments)
            blocks.append(use)
            sink.block(1, use)
        return AssistantTurn(tuple(blocks), "tool_use" if call else "end_turn", TokenUsage())

    async def summarize(self, request: TurnRequest) -> tuple[str, TokenUsage]:
        steps = _steps(request.messages)
        return f"{len(steps)} tool calls so far; see the notebook and the forum.", TokenUsage()

    async def aclose(self) -> None:
        return None

    def _plan(self, request: TurnRequest) -> tuple[str, tuple[str, dict[str, object]] | None]:
        d = self._direction
        notes = self._acknowledge_supervisor(request.messages)
        steps = _steps(request.messages)
        done = [s.use.name for s in steps]
        runs = [s for s in steps if _is_training(s)]
        scored = self._scores(steps)
        base = self._base_setting(steps, request.agent_id)
        last = steps[-1] if steps else None
        if not steps:
            return notes + (f"Plan: sweep {d.knob} ({d.name}) because {d.rationale}. "
                            "First I look at the data I was given."), ("run_command", {
                                # Plain commands an approval policy can read (no `python -c`, which asks).
                                "command": "ls -l data && head -n 40 data/TASK.md"})
        if "write_file" not in done:
            script = resources.files("agents.scripts").joinpath("train_head.py").read_text()
            return notes + ("I write a logistic-regression student on the frozen strong features, trained on "
                            "the weak teacher's soft labels with Adam; every knob is a command-line flag."), (
                "write_file", {"path": "train_head.py", "content": script})
        if last is not None and last.use in [r.use for r in runs] and last.result and not last.result.is_error:
            value = self._values[len(runs) - 1]
            command = join_words(_argv(last.use))
            return notes + f"Training with {d.knob}={_fmt(value)} finished; I submit its predictions.", (
                "submit_predictions", {"path": "predictions.json", "command": command,
                                       "method": f"logreg on weak soft labels, {_show(self._setting(value, base))}"})
        if last is not None and last.use.name == "submit_predictions" and "post_to_forum" not in done and scored:
            value, pgr = scored[-1]
            setting = self._setting(value, base)
            return notes + "I share my first result so the others can build on it.", ("post_to_forum", {
                "kind": "result", "attachments": ["train_head.py"], "setting": setting,
                "text": f"setting `{_show(setting)}` reached public PGR ~{pgr:.2f} ({d.name}; script attached)"})
        if "post_to_forum" in done and "read_forum" not in done:
            return notes + "Before the rest of my sweep I read what the others found.", ("read_forum", {})
        if len(runs) < len(self._values):
            value = self._values[len(runs)]
            lead = ""
            if scored:
                best_v, best_p = max(scored, key=lambda vp: vp[1])
                lead = f"Best so far: {d.knob}={_fmt(best_v)} at public PGR ~{best_p:.2f}. "
            if base and last is not None and last.use.name == "read_forum":
                lead += f"Another agent found `{_show(base)}` best so far; I build on it. "
            if last is not None and last.result is not None and last.result.content == INTERRUPTED:
                lead += "That run was cut off when the engine stopped; I run it again. "
            argv = [*TRAIN, *flags(self._setting(value, base)), "--seed", str(self._seed)]
            return notes + f"{lead}Next experiment: {d.knob}={_fmt(value)}.", (
                "run_command", {"argv": argv, "timeout_s": 120})
        if sum(1 for name in done if name == "post_to_forum") < 2:
            if scored:
                best_v, best_p = max(scored, key=lambda vp: vp[1])
                best = self._setting(best_v, base)
                return notes + "My sweep is done; I post its best setting.", ("post_to_forum", {
                    "kind": "result", "setting": best,
                    "text": f"setting `{_show(best)}` reached public PGR ~{best_p:.2f} (best of my {d.knob} sweep)"})
            return notes + "My sweep is done and nothing scored; I say so.", ("post_to_forum", {
                "kind": "negative_result", "text": f"no {d.knob} setting produced a scored submission"})
        return notes + self._summary(scored, base), None

    def _scores(self, steps: list[_Step]) -> list[tuple[float, float]]:
        scored: list[tuple[float, float]] = []
        runs = 0
        for step in steps:
            if _is_training(step):
                runs += 1
            if step.use.name == "submit_predictions" and step.result and not step.result.is_error:
                pgr = parse_pgr(step.result.content)
                if pgr is not None and runs:
                    scored.append((self._values[runs - 1], pgr))
        return scored

    def _base_setting(self, steps: list[_Step], me: str) -> dict[str, float]:
        for step in steps:
            if step.use.name == "read_forum" and step.result:
                best = best_shared_setting(step.result.content, me, self._direction.knob)
                return best[0] if best else {}
        return {}

    def _setting(self, value: float, base: Mapping[str, float]) -> dict[str, float]:
        return {**base, self._direction.knob: float(value)}

    @staticmethod
    def _acknowledge_supervisor(messages: tuple[Message, ...]) -> str:
        last_assistant = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
        said = [m.text() for m in messages[last_assistant + 1:] if m.origin == "supervisor"]
        return "".join(
            f"Supervisor says: {text.removeprefix(SUPERVISOR_PREFIX).strip()!r}. I am the scripted baseline, "
            "not a language model, so I cannot act on free-form advice; I note it and keep to my sweep.\n"
            for text in said
        )

    def _summary(self, scored: list[tuple[float, float]], base: Mapping[str, float]) -> str:
        d = self._direction
        if not scored:
            return f"Done: none of my {d.knob} experiments produced a score."
        lines = [f"Done sweeping {d.knob}{' on top of ' + repr(_show(base)) if base else ''}. "
                 "Coarse public PGR per setting:"]
        lines += [f"  {d.knob}={_fmt(v)}: {p:.2f}" for v, p in scored]
        best_v, best_p = max(scored, key=lambda vp: vp[1])
        lines.append(f"Best: {d.knob}={_fmt(best_v)} (~{best_p:.2f}).")
        return "\n".join(lines)


def _create(settings: AarSettings, index: int, direction: str) -> BaselineResearcher:
    chosen = DIRECTIONS[index % len(DIRECTIONS)]
    return BaselineResearcher(chosen, experiments=settings.experiments_per_agent, seed=index // len(DIRECTIONS))


def baseline_direction(index: int) -> str:
    """The baseline's built-in direction for agent ``index``."""
    return DIRECTIONS[index % len(DIRECTIONS)].text


register_backend("baseline", _create)
