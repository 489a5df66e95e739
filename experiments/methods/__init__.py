"""The method library: ways to train a strong student from weak labels.

Each method lives in its own module, registers itself with `register_method`, and is
imported here so that `METHODS` is complete once the package is imported.
"""

from experiments.methods import cross_entropy as _cross_entropy  # noqa: F401  (registers)
from experiments.methods.base import Method
from experiments.methods.registry import METHODS, get_method, register_method

__all__ = ["METHODS", "Method", "get_method", "register_method"]
