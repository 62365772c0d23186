"""Shared test configuration.

Real-data fixtures live in ``../shared/fixtures`` next to the repo (CI has that folder). A developer
without it gets a skip with a reason; in CI (``CI=true``) a missing folder is a failure, so a test
that must run against real data can never silently stop running.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL server's admin URL (``PYTEST_POSTGRES_URL``; ``.ci/run`` starts a
    throwaway server on 127.0.0.1 and sets it). Without one: skip, but fail in CI."""
    url = os.environ.get("PYTEST_POSTGRES_URL")
    if not url:
        message = "no PostgreSQL server (set PYTEST_POSTGRES_URL, see .ci/postgres)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database on that server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"kitepilot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
