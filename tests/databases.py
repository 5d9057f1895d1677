"""Database URLs for tests: a temp SQLite file, and a throw-away PostgreSQL database.

PostgreSQL runs on every machine of this project (127.0.0.1:5432, trust
auth). Each test gets its own database, created and dropped here, so parallel
runs never see each other's rows. Under CI=true an unreachable server fails
the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

PG_ADMIN_DSN = os.environ.get(
    "VA_ENGINE_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


def unavailable(reason: str) -> NoReturn:
    """Fail under CI (the service must be there), skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh database and yield its SQLAlchemy URL; drop it afterwards."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed (pip install 'va-engine[test]')")
    name = f"va_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {PG_ADMIN_DSN!r} is not reachable: {exc}".strip())
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = dict(item.split("=", 1) for item in PG_ADMIN_DSN.split())
    url = (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/{name}"
    )
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
