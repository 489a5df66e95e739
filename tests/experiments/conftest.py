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
def exp_cache(feature_cache: Path) -> Path:
    """The session's feature cache (tests/conftest.py), so each text set is embedded once:
    the campaigns' full default testbed and the shipped-testbed reports share it."""
    return feature_cache / "features"
