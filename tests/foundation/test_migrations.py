"""Alembic migrations: a fresh, an old and a newer database, on SQLite and PostgreSQL.

An installation upgrades in place by opening its store; these tests make the
databases an older va-engine left behind and open them with this one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.orm import Session

from tests.databases import postgres_database
from va_engine.cli import main
from va_engine.errors import StoreError
from va_engine.migrations import alembic_config, script_directory
from va_engine.store import (
    SCHEMA_VERSION,
    Base,
    DispatchRow,
    LedgerRow,
    MetaRow,
    RunRow,
    Store,
    TaskRow,
)

HEAD = f"{SCHEMA_VERSION:04d}"


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would write to make the database match the models ([] = none)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def revision(url: str) -> str | None:
    with engine_for(url) as engine, engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def make_pre_alembic_database(url: str) -> None:
    """What va-engine wrote before Alembic: revision 0001's tables, va_meta = 1, a few rows."""
    with engine_for(url) as engine:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
            connection.execute(text("DROP TABLE alembic_version"))
        with Session(engine) as session, session.begin():
            session.add(MetaRow(key="schema_version", value="1"))
            session.add(
                TaskRow(
                    client_id="a",
                    source="maildir:mail/INBOX",
                    external_id="m1",
                    task_id="a:m1",
                    title="Pay invoice",
                    kind="finance",
                    payload={
                        "id": "a:m1",
                        "title": "Pay invoice",
                        "client_id": "a",
                        "kind": "finance",
                        "duration_minutes": 20,
                        "source": "maildir:mail/INBOX",
                        "external_id": "m1",
                    },
                )
            )
            session.add(
                LedgerRow(
                    client_id="a",
                    task="Invoices",
                    day=date(2026, 11, 20),
                    minutes=45,
                    mode="for",
                    level="instruct",
                    kind="finance",
                    source="manual",
                )
            )
            session.add(RunRow(client_id="a", workflow="reminders", period="2026-11-20"))


def test_schema_version_is_the_head_revision() -> None:
    assert script_directory().get_current_head() == HEAD
    revisions = [script.revision for script in script_directory().walk_revisions()]
    assert revisions == [f"{n:04d}" for n in range(SCHEMA_VERSION, 0, -1)]


def test_fresh_database_is_exactly_the_models(database_url: str) -> None:
    store = Store(database_url)
    try:
        assert store.schema_revision() == HEAD
        assert store.schema_version() == SCHEMA_VERSION
        with store.engine.connect() as connection:
            assert differences(connection) == []
    finally:
        store.close()


def test_every_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    Store(database_url).close()
    with engine_for(database_url) as engine, engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
        command.upgrade(alembic_config(connection), "head")
        assert differences(connection) == []


def test_pre_alembic_database_upgrades_in_place_keeping_rows(database_url: str) -> None:
    make_pre_alembic_database(database_url)
    assert revision(database_url) is None
    store = Store(database_url)
    try:
        assert store.schema_revision() == HEAD
        assert store.schema_version() == SCHEMA_VERSION
        client = store.for_client("a")
        assert [t.external_id for t in client.open_tasks()] == ["m1"]
        assert [e.minutes for e in client.entries()] == [45]
        assert [(r.workflow, r.period) for r in client.runs()] == [("reminders", "2026-11-20")]
        with store.session() as session:  # the table 0002 added is usable
            session.add(DispatchRow(client_id="a", workflow="reminders", slot="2026-11-23T09:00Z"))
        with store.engine.connect() as connection:
            assert differences(connection) == []
    finally:
        store.close()


def test_database_made_by_create_all_with_dispatch_is_adopted(database_url: str) -> None:
    """Commit 0f9ea09 added va_dispatch to create_all before Alembic: stamped, not re-created."""
    with engine_for(database_url) as engine:
        Base.metadata.create_all(engine)
        with Session(engine) as session, session.begin():
            session.add(MetaRow(key="schema_version", value="1"))
    Store(database_url).close()
    assert revision(database_url) == HEAD


def test_opening_again_changes_nothing(database_url: str) -> None:
    Store(database_url).close()
    with engine_for(database_url) as engine, engine.connect() as connection:
        before = sorted(inspect(connection).get_table_names())
    Store(database_url).close()
    with engine_for(database_url) as engine, engine.connect() as connection:
        assert sorted(inspect(connection).get_table_names()) == before
        meta = connection.execute(text("SELECT key, value FROM va_meta")).all()
    assert [tuple(row) for row in meta] == [("schema_version", str(SCHEMA_VERSION))]
    assert revision(database_url) == HEAD


def test_newer_unknown_revision_is_refused_untouched(database_url: str) -> None:
    Store(database_url).close()
    with engine_for(database_url) as engine, engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(StoreError, match=r"schema \(rev 0999\) is newer than this va-engine") as e:
        Store(database_url)
    assert e.value.hint == "upgrade va-engine"
    assert revision(database_url) == "0999"


def test_concurrent_first_opens_of_one_postgresql_database_all_succeed() -> None:
    """Clock and workers start together on an empty database: one migrates, the rest wait."""
    opened = 4
    barrier = threading.Barrier(opened)
    errors: list[BaseException] = []

    def open_store(url: str) -> None:
        barrier.wait()
        try:
            Store(url).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    with postgres_database() as url:
        threads = [
            threading.Thread(target=open_store, args=(url,), daemon=True) for _ in range(opened)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)  # without the lock they block each other for good
        assert not any(thread.is_alive() for thread in threads), "schema creation deadlocked"
        assert errors == []
        assert revision(url) == HEAD


@pytest.fixture
def cli_config(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``--config DIR`` of a starter config whose database is ``database_url``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VA_ENGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VA_ENGINE_DATABASE_URL", database_url)
    assert main(["init", "cfg"]) == 0
    return ["--config", "cfg"]


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_db_commands_show_and_upgrade_an_old_database(
    database_url: str, cli_config: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    make_pre_alembic_database(database_url)
    current = cli_json(capsys, *cli_config, "db", "current")
    assert (current["revision"], current["head"]) == ("0001", HEAD)
    assert current["state"] == f"behind: upgrade to {HEAD}"
    assert revision(database_url) is None  # looking changed nothing
    upgraded = cli_json(capsys, *cli_config, "db", "upgrade")
    assert (upgraded["from"], upgraded["to"], upgraded["changed"]) == ("0001", HEAD, True)
    assert cli_json(capsys, *cli_config, "db", "current")["state"] == "up to date"
    assert cli_json(capsys, *cli_config, "db", "upgrade")["changed"] is False
    history = cli_json(capsys, *cli_config, "db", "history")
    assert [row["revision"] for row in history] == [
        f"{n:04d}" for n in range(1, SCHEMA_VERSION + 1)
    ]
    checks = {c["name"]: c for c in cli_json(capsys, *cli_config, "doctor")}
    assert f"schema rev {HEAD}" in checks["database"]["detail"]
