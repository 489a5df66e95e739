"""The method library: ways to train a strong student from weak labels.

Each method lives in its own module, registers itself with `register_method`, and is
imported here so that `METHODS` is complete once the package is imported.
"""

from experiments.methods import confidence as _confidence  # noqa: F401  (registers)
from experiments.methods import confident_weighting as _confident_weighting  # noqa: F401
from experiments.methods import cross_entropy as _cross_entropy  # noqa: F401
from experiments.methods import early_stopping as _early_stopping  # noqa: F401
from experiments.methods import noisy_channel as _noisy_channel  # noqa: F401
from experiments.methods import principal_probe as _principal_probe  # noqa: F401
from experiments.methods import self_training as _self_training  # noqa: F401
from experiments.methods import teacher_ensemble as _teacher_ensemble  # noqa: F401
from experiments.methods.base import Method, MethodContext, accepts_context, call_method, teachers_wanted
from experiments.methods.registry import METHODS, get_method, method_catalog, register_method

__all__ = [
    "METHODS",
    "Method",
    "MethodContext",
    "accepts_context",
    "call_method",
    "get_method",
    "method_catalog",
    "register_method",
    "teachers_wanted",
]
