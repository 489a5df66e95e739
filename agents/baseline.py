"""The offline baseline researcher: a scripted search, not a language model.

It lets every part of aar run with no API key. It uses the same tools an LLM agent
gets (write a training script, run it in the sandbox, submit predictions) and says
in plain words what it does and why, so its transcript reads like a research log.
Each campaign direction sweeps one knob of a logistic-regression student trained on
the weak teacher's soft labels, keeps the setting with the best coarse feedback,
and stops when its experiment budget is spent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from agents.researcher import Message, Turn
from agents.tools import ToolCall, ToolSpec

_PGR_RE = re.compile(r"PGR[^0-9+-]*([+-]?\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Direction:
    """A starting direction: which knob to sweep and why."""

    name: str
    rationale: str
    knob: str
    values: tuple[float, ...]


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
        (1e-3, 1e-2, 1e-1, 1e-4, 1.0),
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


class BaselineResearcher:
    """Scripted backend for `Researcher`; decides each turn from the history it is given."""

    name = "baseline (scripted, not an LLM)"

    def __init__(self, direction: Direction, *, experiments: int, seed: int = 0) -> None:
        self._direction = direction
        self._values = direction.values[: max(1, experiments)]
        self._seed = seed
        self._tried: list[tuple[float, float | None]] = []
        self._step = 0
        self._seen_supervisor = 0

    async def next_turn(self, history: list[Message], tools: tuple[ToolSpec, ...]) -> Turn:
        notes = self._acknowledge_supervisor(history)
        self._record_feedback(history)
        turn = self._plan(history)
        self._step += 1
        return Turn(notes + turn.text, turn.calls)

    def _acknowledge_supervisor(self, history: list[Message]) -> str:
        said = [m.text for m in history if m.role == "supervisor"]
        new, self._seen_supervisor = said[self._seen_supervisor :], len(said)
        return "".join(
            f"Supervisor says: {text!r}. I am the scripted baseline, not a language model, so "
            "I cannot act on free-form advice; I note it and keep to my sweep.\n"
            for text in new
        )

    def _record_feedback(self, history: list[Message]) -> None:
        last = history[-1] if history else None
        if last and last.call and last.call.tool == "submit_predictions" and last.result:
            value = self._values[len(self._tried)]
            self._tried.append((value, parse_pgr(last.result.content) if last.result.ok else None))

    def _call(self, tool: str, **arguments: object) -> tuple[ToolCall, ...]:
        return (ToolCall(call_id="", tool=tool, arguments=arguments),)

    def _plan(self, history: list[Message]) -> Turn:
        d = self._direction
        if self._step == 0:
            return Turn(
                f"Plan: sweep {d.knob} ({d.name}) because {d.rationale}. "
                "First I look at the data I was given.",
                self._call(
                    "run_command",
                    command="ls -l data && python -c \"import numpy as np; "
                    "x=np.load('data/train_x.npy'); w=np.load('data/train_weak.npy'); "
                    "print('train', x.shape, 'test', np.load('data/test_x.npy').shape); "
                    "print('weak P(1): mean %.3f, share confident (<.2 or >.8) %.3f' % "
                    "(w.mean(), ((w<.2)|(w>.8)).mean()))\"",
                ),
            )
        if self._step == 1:
            script = resources.files("agents.scripts").joinpath("train_head.py").read_text()
            return Turn(
                "I write a logistic-regression student on the frozen strong features, trained on "
                "the weak teacher's soft labels with Adam; every knob is a command-line flag.",
                self._call("write_file", path="train_head.py", content=script),
            )
        last = history[-1]
        if last.call and last.call.tool == "run_command" and self._step > 2:
            value = self._values[len(self._tried)]
            if last.result and last.result.ok:
                return Turn(
                    f"Training with {d.knob}={_fmt(value)} finished; I submit its predictions.",
                    self._call(
                        "submit_predictions",
                        path="predictions.json",
                        method=f"logreg on weak soft labels, {d.knob}={_fmt(value)}",
                        command=self._command(value),
                    ),
                )
            self._tried.append((value, None))
        if len(self._tried) < len(self._values):
            value = self._values[len(self._tried)]
            scored = [(v, p) for v, p in self._tried if p is not None]
            lead = ""
            if scored:
                best_v, best_p = max(scored, key=lambda vp: vp[1] or 0.0)
                lead = f"Best so far: {d.knob}={_fmt(best_v)} at public PGR ~{best_p:.2f}. "
            return Turn(
                f"{lead}Next experiment: {d.knob}={_fmt(value)}.",
                self._call("run_command", command=self._command(value), timeout_s=120),
            )
        return Turn(self._summary())

    def _command(self, value: float) -> str:
        return f"python train_head.py --{self._direction.knob} {_fmt(value)} --seed {self._seed}"

    def _summary(self) -> str:
        d = self._direction
        scored = [(v, p) for v, p in self._tried if p is not None]
        if not scored:
            return f"Done: none of my {len(self._tried)} {d.knob} experiments produced a score."
        lines = [f"Done sweeping {d.knob}. Coarse public PGR per setting:"]
        lines += [f"  {d.knob}={_fmt(v)}: {'-' if p is None else f'{p:.2f}'}" for v, p in self._tried]
        best_v, best_p = max(scored, key=lambda vp: vp[1] or 0.0)
        lines.append(f"Best: {d.knob}={_fmt(best_v)} (~{best_p:.2f}).")
        return "\n".join(lines)
