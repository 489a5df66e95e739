"""Methods by name: `METHODS`, `register_method`, `get_method`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from experiments.errors import ExperimentError, UnknownMethodError
from experiments.methods.base import Method

# name -> factory (usually the method's class; its defaults are the baseline settings)
METHODS: dict[str, Callable[[], Method]] = {}

F = TypeVar("F", bound=Callable[[], Method])


def register_method(name: str, *, replace: bool = False) -> Callable[[F], F]:
    """Class decorator adding a method factory to `METHODS` under `name`."""

    def add(factory: F) -> F:
        if name in METHODS and not replace:
            raise ExperimentError(f"a method named {name!r} is already registered")
        METHODS[name] = factory
        return factory

    return add


def get_method(name: str) -> Method:
    """A fresh instance of the registered method `name`, with its default settings."""
    factory = METHODS.get(name)
    if factory is None:
        raise UnknownMethodError(name, list(METHODS))
    return factory()
