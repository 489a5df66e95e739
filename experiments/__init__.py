"""The research problem, usable without any agent: weak-to-strong supervision scored by PGR.

Testbeds (paired texts with labels), a frozen-encoder feature cache, the W2S protocol,
a method library and the scorer that alone holds the test labels. Imports only the
standard library, numpy, torch, transformers and safetensors.
"""

from experiments.errors import (
    EncoderLoadError,
    ExperimentError,
    TestbedFormatError,
    UnknownMethodError,
    UnknownTestbedError,
)
from experiments.features import EncoderSpec, cached_embeddings, default_cache_dir, embed_texts
from experiments.methods import METHODS, Method, get_method, register_method
from experiments.protocol import MIN_GAP, SeedResult, W2SResult, pgr, run_w2s
from experiments.scorer import Scorer, ScoreResult, TaskBaselines
from experiments.task import W2STask, prepare_task
from experiments.testbeds import TESTBEDS, Testbed, TestbedSpec, load_testbed, register_testbed

__all__ = [
    "METHODS",
    "MIN_GAP",
    "TESTBEDS",
    "EncoderLoadError",
    "EncoderSpec",
    "ExperimentError",
    "Method",
    "ScoreResult",
    "Scorer",
    "SeedResult",
    "TaskBaselines",
    "Testbed",
    "TestbedFormatError",
    "TestbedSpec",
    "UnknownMethodError",
    "UnknownTestbedError",
    "W2SResult",
    "W2STask",
    "cached_embeddings",
    "default_cache_dir",
    "embed_texts",
    "get_method",
    "load_testbed",
    "pgr",
    "prepare_task",
    "register_method",
    "register_testbed",
    "run_w2s",
]
