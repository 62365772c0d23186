"""Shared test configuration.

Real-data fixtures live in ``../shared/fixtures`` next to the repo (CI has that folder). A developer
without it gets a skip with a reason; in CI (``CI=true``) a missing folder is a failure, so a test
that must run against real data can never silently stop running.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """Path to ``../shared/fixtures`` (real Kite mocks, NSE holidays, instruments dump, candles)."""
    if not SHARED_FIXTURES.is_dir():
        message = f"real-data fixtures not found at {SHARED_FIXTURES}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_FIXTURES
