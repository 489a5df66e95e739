"""Testbeds: built-in offline W2S problems and the registry that loads them."""

from experiments.testbeds.registry import TESTBEDS, TestbedSpec, load_testbed, register_testbed
from experiments.testbeds.testbed import Splits, Testbed

__all__ = ["TESTBEDS", "Splits", "Testbed", "TestbedSpec", "load_testbed", "register_testbed"]
