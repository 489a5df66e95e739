"""Testbeds: built-in offline W2S problems, user data (JSONL, Hugging Face) and the registry."""

from experiments.testbeds.registry import (
    DEFAULT_TESTBED,
    LEGACY_NAMES,
    TESTBEDS,
    TestbedSpec,
    describe_model,
    is_user_testbed,
    load_testbed,
    register_testbed,
    resolve_spec,
)
from experiments.testbeds.testbed import Splits, Testbed

__all__ = [
    "DEFAULT_TESTBED",
    "LEGACY_NAMES",
    "TESTBEDS",
    "Splits",
    "Testbed",
    "TestbedSpec",
    "describe_model",
    "is_user_testbed",
    "load_testbed",
    "register_testbed",
    "resolve_spec",
]
