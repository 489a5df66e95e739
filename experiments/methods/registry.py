"""Methods by name: `METHODS`, `register_method`, `get_method`, `method_catalog`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

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


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""


def method_catalog() -> list[dict[str, Any]]:
    """One JSON-ready object per registered method: name, summary, source, needs.

    `summary` and `source` come from the method class's `summary` / `source`
    attributes (falling back to its docstring's first line); `teachers` says how many
    extra weak teachers the method asks the protocol for (0 for most).
    """
    out: list[dict[str, Any]] = []
    for name in sorted(METHODS):
        factory = METHODS[name]
        summary = getattr(factory, "summary", None) or _first_line(getattr(factory, "__doc__", None))
        out.append({
            "name": name,
            "summary": str(summary),
            "source": str(getattr(factory, "source", "") or ""),
            "teachers": int(getattr(factory, "teachers", 0) or 0),
        })
    return out
