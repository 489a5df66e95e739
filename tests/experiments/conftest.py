"""Fixtures for the experiments tests: one small real subset, one feature cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing may reach a model hub from the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Items of stdlib-docstrings used by end-to-end tests: features extract in seconds,
# and every split (including both test halves) still has tens of items.
SMALL_LIMIT = 400


@pytest.fixture(scope="session")
def exp_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A feature cache shared by this directory's tests, so extraction runs once."""
    return tmp_path_factory.mktemp("exp-features")
