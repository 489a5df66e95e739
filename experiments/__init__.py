"""The research problem, usable without any agent: weak-to-strong supervision scored by PGR.

Testbeds (paired texts with labels), a frozen-encoder feature cache, the W2S protocol,
a method library and the scorer that alone holds the test labels. Imports only the
standard library, numpy, torch, transformers and safetensors.
"""

from experiments.baselines import BASELINE_SEEDS, FixedBaselines, fixed_baselines
from experiments.bootstrap import GapAndPgr, RunEvidence, gap_and_pgr
from experiments.errors import (
    EncoderLoadError,
    ExperimentError,
    TestbedFormatError,
    UnknownMethodError,
    UnknownTestbedError,
)
from experiments.features import EncoderSpec, cached_embeddings, default_cache_dir, embed_texts
from experiments.methods import METHODS, Method, MethodContext, get_method, method_catalog, register_method
from experiments.protocol import MIN_GAP, SeedResult, W2SResult, pgr, run_w2s
from experiments.quota import QuotaDecision, SubmissionQuota
from experiments.reproduction import (
    ReproductionJudgement,
    judge_reproduction,
    prepare_variant_task,
    write_variant_files,
)
from experiments.scorer import Scorer, ScoreResult, TaskBaselines
from experiments.task import W2STask, prepare_task
from experiments.tripwires import Flag, TripwireConfig
from experiments.testbeds import DEFAULT_TESTBED, TESTBEDS, Testbed, TestbedSpec, load_testbed, register_testbed

__all__ = [
    "BASELINE_SEEDS",
    "DEFAULT_TESTBED",
    "Flag",
    "FixedBaselines",
    "GapAndPgr",
    "QuotaDecision",
    "ReproductionJudgement",
    "RunEvidence",
    "SubmissionQuota",
    "TripwireConfig",
    "fixed_baselines",
    "gap_and_pgr",
    "judge_reproduction",
    "prepare_variant_task",
    "write_variant_files",
    "METHODS",
    "MIN_GAP",
    "TESTBEDS",
    "EncoderLoadError",
    "EncoderSpec",
    "ExperimentError",
    "Method",
    "MethodContext",
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
    "method_catalog",
    "pgr",
    "prepare_task",
    "register_method",
    "register_testbed",
    "run_w2s",
]
