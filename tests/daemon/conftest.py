"""Fixtures for the daemon tests: every store-touching test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The embedded default and the at-scale database, one test run each."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'va.db'}"
    else:
        with postgres_database() as url:
            yield url
