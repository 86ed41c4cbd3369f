"""Shared fixtures: a clean environment, database URLs for SQLite and PostgreSQL, a fixed clock.

Tests that need PostgreSQL skip with a reason when it is unreachable, unless READINESS_REQUIRE_PG=1
(set by .ci/run), in which case the skip becomes a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from checks.core.clock import FixedClock
from tests.pgschema import fresh_schema

PG_URL = os.environ.get("READINESS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Provider and Readiness variables a developer's shell might carry into a test.
_STRIPPED_PREFIXES = (
    "GOOGLE_",
    "MICROSOFT_",
    "RETELL_",
    "TWILIO_",
    "TOKEN_VAULT_",
    "GHL_",
    "READINESS_MANIFEST",
    "READINESS_DB_URL",
    "READINESS_STANDINS_URL",
)


TEST_FINGERPRINT_KEY = "tests-fingerprint-key-not-a-secret"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Strip provider variables so a developer's shell cannot make a test pass or fail; a fixed
    fingerprint key (not the developer's ~/.config one); the process-wide scrubbing registry emptied
    after each test, so one test's secrets cannot mask another's text."""
    from vault import redact

    for name in list(os.environ):
        if name.startswith(_STRIPPED_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("READINESS_FINGERPRINT_KEY", TEST_FINGERPRINT_KEY)
    redact._reset_fingerprint_key()
    yield
    redact.forget_all()
    redact._reset_fingerprint_key()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2025, 10, 6, 9, 0, tzinfo=UTC))


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means "not available here"
        return f"PostgreSQL not reachable at READINESS_TEST_PG_URL ({type(exc).__name__})"


_PG_REASON: list[str | None] = []


def require_pg() -> None:
    """Skip (or fail, under READINESS_REQUIRE_PG=1) when PostgreSQL is not reachable."""
    if not _PG_REASON:
        _PG_REASON.append(_pg_available())
    reason = _PG_REASON[0]
    if reason is None:
        return
    if os.environ.get("READINESS_REQUIRE_PG") == "1":
        pytest.fail(f"{reason}; READINESS_REQUIRE_PG=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    require_pg()
    with fresh_schema(PG_URL) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'readiness.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every store test runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")
