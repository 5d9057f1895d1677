"""Root fixtures: real servers only (Radicale, Dovecot, aiosmtpd); area fixtures live below.

Use in a test::

    def test_x(radicale_server, caldav_account, dovecot_server, imap_account, smtp_server): ...

A server that cannot start skips the test with the reason, or fails it under
``CI=true`` (a CI run must never go green without its servers).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

# Importable as ``tests.servers`` whether or not pytest put the repo root on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.databases import postgres_database, unavailable
from tests.servers import (
    Account,
    DovecotServer,
    RadicaleServer,
    ServerUnavailable,
    SmtpServer,
)
from va_engine.store import Store


def server_unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail under ``CI=true`` (one rule, in tests/databases.py)."""
    unavailable(f"test server unavailable: {reason}")


def _running(kind: type[RadicaleServer] | type[DovecotServer]) -> Iterator[Any]:
    """Start a server of ``kind`` for the session and clean it up afterwards."""
    try:
        server = kind.create()
        server.start()
    except (ServerUnavailable, OSError) as exc:
        server_unavailable(str(exc))
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def radicale_server() -> Iterator[RadicaleServer]:
    """A running Radicale with users alice/bob; ``.new_user()`` for a fresh account."""
    yield from _running(RadicaleServer)


@pytest.fixture
def caldav_account(radicale_server: RadicaleServer) -> Account:
    """A fresh, empty CalDAV account (``.url``, ``.username``, ``.password``)."""
    return radicale_server.new_user("cal")


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """Running Dovecot (users alice, bob): ``.new_user()``, ``.restart()``, ``.write_messages``."""
    yield from _running(DovecotServer)


@pytest.fixture
def imap_account(dovecot_server: DovecotServer) -> Account:
    """A fresh, empty IMAP account (``.host``, ``.port``, ``.username``, ``.password``)."""
    return dovecot_server.new_user("mail")


@pytest.fixture(scope="session")
def _smtp_session() -> Iterator[SmtpServer]:
    server = SmtpServer()
    try:
        server.start()
    except ServerUnavailable as exc:
        server_unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture
def smtp_server(_smtp_session: SmtpServer) -> SmtpServer:
    """A running SMTP sink; ``.messages`` holds what was sent during this test."""
    _smtp_session.reset()
    return _smtp_session


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store-touching test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'va.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store(database_url)
    try:
        yield opened
    finally:
        opened.close()
