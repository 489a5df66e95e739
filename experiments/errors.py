"""User-facing errors of the experiments package.

Every error a caller can fix (a wrong name, a malformed file, a model that is not on
disk) derives from `ExperimentError`, so a front end can catch one type and show its
message as is.
"""

from __future__ import annotations


class ExperimentError(Exception):
    """Base class for errors whose message is meant for the user."""


class UnknownTestbedError(ExperimentError, KeyError):
    """A testbed name that is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown testbed {name!r}; known testbeds: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class UnknownMethodError(ExperimentError, KeyError):
    """A method name that is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown method {name!r}; known methods: {', '.join(self.known)}")

    def __str__(self) -> str:
        return str(self.args[0])


class TestbedFormatError(ExperimentError):
    """A testbed file that cannot be read as the documented JSONL format."""

    __test__ = False  # not a pytest test class despite the name


class EncoderLoadError(ExperimentError):
    """A model checkpoint that cannot be loaded (missing offline, wrong path, ...)."""
