"""Shared fixtures: small, real campaigns on the built-in testbed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agents.settings import AarSettings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")



@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One feature cache for the whole session: a fresh machine extracts once (about a
    minute on 2 cores). Campaigns use the whole testbed: a subset's public split is too
    small for a weak/strong gap above noise."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def settings(tmp_path: Path, feature_cache: Path, monkeypatch: pytest.MonkeyPatch) -> AarSettings:
    monkeypatch.setenv("AAR_CONFIG", str(tmp_path / "no-config.toml"))
    return AarSettings(
        home=tmp_path / "home",
        cache_dir=feature_cache,
        agents=3,
        experiments_per_agent=2,
        baseline_seeds=2,
        max_wall_s=240,
        reproduction_reruns=2,  # the least that gives a verdict: every check runs 3 sandboxes, not 4
    )
