"""Registered testbeds and `load_testbed`.

A testbed is a JSONL file of text pairs plus the weak/strong setup measured to give a
clear gap on it. Register more with `register_testbed(TestbedSpec(...))`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from experiments.errors import ExperimentError, UnknownTestbedError
from experiments.features import EncoderSpec
from experiments.testbeds.testbed import Testbed, read_records, testbed_from_records

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class TestbedSpec:
    """Where a testbed's items live and which encoder layers are weak and strong.

    The weak model is the encoder truncated to its first `weak_layer` layers (0 is the
    embedding output); the strong model is layer `strong_layer` (-1: the last). Pairs
    become features as `experiments.pair_features` describes.
    """

    __test__ = False  # not a pytest test class despite the name

    name: str
    path: Path
    description: str
    weak_layer: int
    strong_layer: int = -1
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    # What TASK.md tells agents. Kept vaguer than `description`: naming the source of
    # the texts would point an agent at public data from which labels can be rebuilt.
    agent_description: str = "Binary classification of text pairs. Label 1: the two texts belong together."


TESTBEDS: dict[str, TestbedSpec] = {}


def register_testbed(spec: TestbedSpec, *, replace: bool = False) -> TestbedSpec:
    """Add a testbed to `TESTBEDS`; refuses to shadow an existing name unless `replace`."""
    if spec.name in TESTBEDS and not replace:
        raise ExperimentError(f"a testbed named {spec.name!r} is already registered")
    TESTBEDS[spec.name] = spec
    return spec


def load_testbed(name: str, *, limit: int | None = None) -> Testbed:
    """Load a registered testbed; `limit` keeps its first items (files are pre-shuffled)."""
    spec = TESTBEDS.get(name)
    if spec is None:
        raise UnknownTestbedError(name, list(TESTBEDS))
    return testbed_from_records(spec, read_records(spec.path, limit=limit))


register_testbed(TestbedSpec(
    name="stdlib-docstrings",
    path=DATA_DIR / "stdlib_docstrings.jsonl.gz",
    description=(
        "Does this docstring paragraph describe this function? Signatures and docstrings "
        "of public CPython 3.11 stdlib functions, own name masked, negatives mostly from "
        "the same module. Label 1: the docstring belongs to the function."
    ),
    # Measured (l2 = 1, 3 seeds): weak layers 0/1/2/3 gave gaps of 7.1/7.9/7.1/7.3 points.
    weak_layer=1,
    encoder=EncoderSpec(display_name="all-MiniLM-L6-v2"),
    agent_description=(
        "Does a one-paragraph documentation text describe a given function signature? "
        "The function's own name is masked in the text. Label 1: it does."
    ),
))
