"""Store round trips on SQLite and PostgreSQL: idempotent imports, ledger audit, runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from va_engine.errors import NotFoundError, StoreError
from va_engine.model import LedgerEntry, Mode, Plan, PlannedBlock, SupportLevel, Task
from va_engine.store import SCHEMA_VERSION, Store

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def task(external: str, title: str = "Pay invoice", client: str = "a") -> Task:
    return Task(
        id=f"{client}:{external}",
        title=title,
        client_id=client,
        kind="finance",
        duration_minutes=20,
        deadline=NOW + timedelta(days=3),
        source="maildir:mail/INBOX",
        external_id=external,
    )


def entry(client: str = "a", minutes: int = 45, mode: Mode = Mode.FOR) -> LedgerEntry:
    return LedgerEntry(
        client_id=client,
        task="Invoices",
        day=date(2026, 11, 20),
        minutes=minutes,
        mode=mode,
        level=SupportLevel.INSTRUCT,
        kind="finance",
    )


def test_schema_created_and_versioned(database_url: str, store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert store.schema_revision() == f"{SCHEMA_VERSION:04d}"  # Alembic's, in step
    Store(database_url).close()  # reopening an existing schema is fine


def test_reimport_updates_instead_of_duplicating(store: Store) -> None:
    store = store.for_client("a")
    assert store.upsert_tasks([task("m1"), task("m2")], now=NOW) == (2, 0)
    assert store.upsert_tasks([task("m1"), task("m2")], now=NOW) == (0, 0)
    assert store.upsert_tasks([task("m1", title="Pay invoice 17")], now=NOW) == (0, 1)
    titles = sorted(t.title for t in store.open_tasks())
    assert titles == ["Pay invoice", "Pay invoice 17"]
    # m2 disappeared upstream: it is closed, not deleted
    assert store.close_missing("maildir:mail/INBOX", {"m1"}, now=NOW) == 1
    assert [t.external_id for t in store.open_tasks()] == ["m1"]
    # and reopened if it comes back
    assert store.upsert_tasks([task("m2")], now=NOW) == (0, 1)
    assert len(store.open_tasks()) == 2


def test_tasks_round_trip_with_aware_datetimes(store: Store) -> None:
    store = store.for_client("a")
    original = task("m1")
    store.upsert_tasks([original], now=NOW)
    (loaded,) = store.open_tasks()
    assert loaded == original
    assert loaded.deadline is not None and loaded.deadline.tzinfo is not None


def test_clients_are_isolated(store: Store) -> None:
    store = store
    a, b = store.for_client("a"), store.for_client("b")
    a.upsert_tasks([task("m1")], now=NOW)
    a.add_entry(entry("a"), actor="test", now=NOW)
    assert b.open_tasks() == []
    assert b.entries() == []
    with pytest.raises(StoreError, match="refusing to write data of client 'a'"):
        b.upsert_tasks([task("m1", client="a")], now=NOW)
    with pytest.raises(StoreError, match="refusing"):
        b.add_entry(entry("a"), actor="test", now=NOW)
    entry_id = a.entries()[0].id
    assert entry_id is not None
    with pytest.raises(NotFoundError):
        b.delete_entry(entry_id, actor="test", now=NOW)


def test_ledger_edits_and_deletions_are_audited(store: Store) -> None:
    ledger = store.for_client("a")
    entry_id = ledger.add_entry(entry(), actor="sanne", now=NOW)
    assert entry_id is not None
    ledger.update_entry(entry_id, {"minutes": 60, "mode": Mode.TAUGHT}, actor="sanne", now=NOW)
    (edited,) = ledger.entries()
    assert (edited.minutes, edited.mode) == (60, Mode.TAUGHT)
    ledger.delete_entry(entry_id, actor="sanne", now=NOW)
    assert ledger.entries() == []
    assert len(ledger.entries(include_deleted=True)) == 1
    actions = [(row.action, row.actor) for row in ledger.audit()]
    assert actions == [
        ("ledger.add", "sanne"),
        ("ledger.edit", "sanne"),
        ("ledger.delete", "sanne"),
    ]
    edit = ledger.audit()[1]
    assert edit.before is not None and edit.after is not None
    assert (edit.before["minutes"], edit.after["minutes"]) == (45, 60)
    with pytest.raises(StoreError, match="cannot be edited"):
        ledger.update_entry(entry_id, {"client_id": "b"}, actor="x", now=NOW)


def test_run_key_makes_ledger_writes_idempotent(store: Store) -> None:
    ledger = store.for_client("a")
    first = ledger.add_entry(entry(), actor="workflow", now=NOW, run_key="a/reminders/2026-11-23")
    again = ledger.add_entry(entry(), actor="workflow", now=NOW, run_key="a/reminders/2026-11-23")
    assert first is not None and again is None
    assert len(ledger.entries()) == 1


def test_runs_are_claimed_once_and_resumed_after_a_crash(store: Store) -> None:
    runs = store.for_client("a")
    run = runs.begin_run("reminders", "2026-11-23", now=NOW)
    assert run is not None and run.attempts == 1
    # crash: never finished; the next claim resumes it with a higher attempt count
    again = runs.begin_run("reminders", "2026-11-23", now=NOW)
    assert again is not None and again.attempts == 2
    runs.finish_run(again.id, now=NOW, result={"sent": 1})
    assert runs.begin_run("reminders", "2026-11-23", now=NOW) is None
    assert [r.status for r in runs.runs()] == ["done"]


def test_sync_state_and_quarantine(store: Store) -> None:
    store = store.for_client("a")
    assert store.sync_state("mail", "INBOX") is None
    store.set_sync_state("mail", "INBOX", "uidvalidity=1;uid=5", now=NOW)
    store.set_sync_state("mail", "INBOX", "uidvalidity=1;uid=9", now=NOW)
    assert store.sync_state("mail", "INBOX") == "uidvalidity=1;uid=9"
    store.quarantine("mail/INBOX/17", "broken MIME boundary", now=NOW)
    assert [q.reason for q in store.quarantined()] == ["broken MIME boundary"]
    assert store.counts()["quarantine"] == 1


def test_plan_kept_per_scope(store: Store) -> None:
    store = store
    block = PlannedBlock(task_id="t", assistant_id="sanne", start=NOW, end=NOW + timedelta(hours=1))
    plan = Plan(start=NOW, end=NOW + timedelta(days=7), blocks=(block,), objective=3.0)
    store.save_plan("assistant:sanne", plan, now=NOW)
    assert store.load_plan("assistant:sanne") == plan
    assert store.load_plan("assistant:other") is None


def test_bad_url_gives_clear_error_without_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store("postgresql+psycopg://va:topsecret@127.0.0.1:1/none")
    assert "topsecret" not in str(caught.value)
    assert "cannot open the database" in str(caught.value)
