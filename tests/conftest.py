"""Shared fixtures: small, real campaigns on a subset of the built-in testbed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agents.settings import AarSettings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Small enough to extract features in seconds, large enough for a real weak/strong gap.
TEST_LIMIT = 600


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One feature cache for the whole session: extraction runs once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def settings(tmp_path: Path, feature_cache: Path, monkeypatch: pytest.MonkeyPatch) -> AarSettings:
    monkeypatch.setenv("AAR_CONFIG", str(tmp_path / "no-config.toml"))
    return AarSettings(
        home=tmp_path / "home",
        cache_dir=feature_cache,
        agents=3,
        testbed_limit=TEST_LIMIT,
        experiments_per_agent=2,
        baseline_seeds=2,
        max_wall_s=240,
    )
