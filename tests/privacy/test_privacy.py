"""Inventory, export → import, erasure and retention on a realistic seeded client."""

from __future__ import annotations

import csv
import email
import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import select

from tests.privacy.seed import (
    CLIENT,
    LOOKALIKE,
    NOW,
    OTHER,
    add_jobs,
    job_ids,
    save_shared_plan,
    seed_client,
)
from va_engine.errors import ValidationError
from va_engine.privacy import (
    ERASED_TEXT,
    RULES,
    client_tables,
    erase_client,
    export_client,
    import_client,
    inventory,
    purge_expired,
)
from va_engine.settings import RetentionSettings
from va_engine.store import Base, Store

#: Every client table as of this writing. A new table must get a rule in
#: va_engine.privacy.RULES (how long it is kept, what erasure does) and be added here.
CLIENT_TABLES = {
    "va_alerts",
    "va_assignments",
    "va_audit",
    "va_dispatch",
    "va_failures",
    "va_heartbeats",
    "va_ledger",
    "va_ledger_times",
    "va_outbox",
    "va_quarantine",
    "va_runs",
    "va_sync_state",
    "va_tasks",
}


def test_every_client_table_has_a_retention_rule() -> None:
    names = {t.name for t in client_tables()}
    missing = sorted(names - set(RULES))
    assert not missing, f"client tables without a retention rule in privacy.RULES: {missing}"
    assert names == CLIENT_TABLES, "client tables changed: review RULES and this snapshot"
    for name, rule in RULES.items():
        table = Base.metadata.tables[name]
        if rule.column is not None:
            assert rule.column in table.c, f"{name}: retention column {rule.column} is gone"
            assert rule.period in RetentionSettings.model_fields


def canonical(store: Store, client: str) -> dict[str, list[str]]:
    """The client's rows without database ids; references spelled out by content."""
    tables = {t.name: t for t in client_tables()}
    with store.engine.connect() as connection:
        raw = {
            name: [
                dict(r)
                for r in connection.execute(select(t).where(t.c.client_id == client)).mappings()
            ]
            for name, t in tables.items()
        }

    def norm(value: Any) -> Any:
        if isinstance(value, datetime):
            return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return value

    ledger = {r["id"]: f"{r['day']}|{r['task']}|{r['minutes']}" for r in raw["va_ledger"]}
    assignments = {r["id"]: f"{r['task']}|{r['due']}" for r in raw["va_assignments"]}
    result: dict[str, list[str]] = {}
    for name, rows in raw.items():
        out = []
        for row in rows:
            if name == "va_audit" and row["action"] == "client.import":
                continue
            row = {
                k: norm(v) for k, v in row.items() if not (k == "id" and name != "va_ledger_times")
            }
            if name == "va_ledger_times":
                row["ledger_id"] = ledger[row["ledger_id"]]
            if name == "va_audit":
                kind, _, number = row["subject"].partition(":")
                lookup = {"ledger": ledger, "assignment": assignments}.get(kind)
                if lookup is not None:
                    row["subject"] = f"{kind}:{lookup[int(number)]}"
            out.append(json.dumps(row, sort_keys=True, default=str))
        result[name] = sorted(out)
    return result


def test_inventory_counts_every_kind_with_oldest_and_rule(store: Store, tmp_path: Path) -> None:
    seeded = seed_client(store, CLIENT, data_dir=tmp_path)
    seed_client(store, OTHER, data_dir=tmp_path / "b")
    save_shared_plan(store)
    add_jobs(store, [CLIENT, OTHER, LOOKALIKE])
    found = inventory(store, CLIENT, data_dir=tmp_path)
    kinds = {k.table: k for k in found.kinds}
    assert set(kinds) == CLIENT_TABLES
    assert kinds["va_tasks"].count == seeded.tasks
    assert kinds["va_ledger"].count == seeded.ledger_rows
    assert kinds["va_ledger"].oldest == min(
        e.day for e in store.for_client(CLIENT).entries(include_deleted=True)
    )
    assert "7 years" in kinds["va_ledger"].retention
    assert "90 days" in kinds["va_outbox"].retention
    assert found.plan_blocks == 2
    assert found.jobs == [f"{CLIENT}:sync", f"retry:{CLIENT}:triage"]
    assert found.files == [str(seeded.outbox_file)]
    assert inventory(store, "nobody").total == 0


def test_export_opens_in_open_formats_and_reimports_equal(
    store: Store, other_url: str, tmp_path: Path
) -> None:
    seeded = seed_client(store, CLIENT, data_dir=tmp_path)
    seed_client(store, OTHER, data_dir=tmp_path / "b")
    save_shared_plan(store)
    out = tmp_path / "export.zip"
    summary = export_client(store, CLIENT, out, now=NOW, actor="test")
    assert summary.tables["va_tasks"] == seeded.tasks
    with zipfile.ZipFile(out) as archive:
        files = {n.removeprefix(f"{CLIENT}/"): archive.read(n) for n in archive.namelist()}
    assert {"README.md", "manifest.json", "schema.json", "tasks.ics", "ledger.csv"} <= set(files)
    schema = json.loads(files["schema.json"])
    assert set(schema) == CLIENT_TABLES and all(s["columns"] for s in schema.values())
    todos = Calendar.from_ical(files["tasks.ics"]).walk("VTODO")
    assert len(todos) == seeded.tasks
    assert sum(t["STATUS"] == "NEEDS-ACTION" for t in todos) == seeded.open_tasks
    events = Calendar.from_ical(files["plan.ics"]).walk("VEVENT")
    assert sorted(str(e["SUMMARY"]) for e in events) == ["BTW-aangifte Q4", "Hoefsmid afspreken"]
    ledger = list(csv.DictReader(io.StringIO(files["ledger.csv"].decode())))
    assert len(ledger) == seeded.ledger_rows
    mails = [email.message_from_bytes(v) for k, v in files.items() if k.startswith("mail/")]
    assert sorted(m["Message-ID"] for m in mails) == [
        f"<{CLIENT}-1@va.example>",
        f"<{CLIENT}-2@va.example>",
    ]
    assert OTHER not in json.dumps({k: v.decode() for k, v in files.items()})

    target = Store(other_url)
    try:
        # the other installation already has a client, so every id differs there
        seed_client(target, OTHER, data_dir=tmp_path / "t")
        result = import_client(target, out, now=NOW + timedelta(hours=1), actor="colleague")
        assert result.tables == summary.tables
        assert canonical(target, CLIENT) == canonical(store, CLIENT)
        assert [a.action for a in target.for_client(CLIENT).audit()][-1] == "client.import"
        assert result.plans == 1
        with pytest.raises(ValidationError, match="already has"):
            import_client(target, out, now=NOW, actor="colleague")
    finally:
        target.close()


def test_only_open_hands_over_open_work_without_history(
    store: Store, other_url: str, tmp_path: Path
) -> None:
    seeded = seed_client(store, CLIENT, data_dir=tmp_path)
    save_shared_plan(store)
    out = tmp_path / "handoff.zip"
    export_client(store, CLIENT, out, now=NOW, actor="sanne")
    target = Store(other_url)
    try:
        result = import_client(target, out, now=NOW, actor="colleague", only_open=True)
        colleague = target.for_client(CLIENT)
        assert len(colleague.open_tasks()) == seeded.open_tasks
        assert [t.id for t in colleague.open_tasks()] == [
            t.id for t in store.for_client(CLIENT).open_tasks()
        ]
        assert colleague.entries(include_deleted=True) == []
        assert colleague.runs() == [] and colleague.outbox() == []
        assert [a.status for a in colleague.assignments()] == ["open", "open"]
        assert [a.action for a in colleague.audit()] == ["client.import"]
        assert "va_ledger" in result.skipped
        plan = target.load_plan(f"handoff:{CLIENT}:daemon:sanne:week:2026-11-23")
        assert plan is not None
        assert {b.task_id for b in plan.blocks} == {f"{CLIENT}:vat", f"{CLIENT}:farrier"}
    finally:
        target.close()


def test_erase_leaves_only_minimised_billing_records(store: Store, tmp_path: Path) -> None:
    seeded = seed_client(store, CLIENT, data_dir=tmp_path)
    seed_client(store, OTHER, data_dir=tmp_path / "b")
    save_shared_plan(store)
    add_jobs(store, [CLIENT, OTHER, LOOKALIKE])
    before_other = canonical(store, OTHER)
    before = canonical(store, CLIENT)

    dry = erase_client(store, CLIENT, now=NOW, actor="test", dry_run=True, data_dir=tmp_path)
    assert dry.dry_run and dry.removed
    assert canonical(store, CLIENT) == before and seeded.outbox_file.exists()

    report = erase_client(store, CLIENT, now=NOW, actor="test", data_dir=tmp_path)
    assert report.removed == dry.removed
    left = {t.name: n for t, n in _counts(store, CLIENT).items() if n}
    assert left == {"va_ledger": seeded.billable_recent, "va_audit": 1}
    kept = store.for_client(CLIENT).entries()
    assert all(e.billable and e.task == ERASED_TEXT and e.note == "" for e in kept)
    assert {e.day for e in kept} >= {NOW.date() - timedelta(days=3)}
    (audit,) = store.for_client(CLIENT).audit()
    assert audit.action == "client.erase"
    assert "bankafschriften" not in json.dumps(audit.after)
    assert not seeded.outbox_file.exists()
    assert job_ids(store) == {
        f"{OTHER}:sync",
        f"retry:{OTHER}:triage",
        f"{LOOKALIKE}:sync",
        f"retry:{LOOKALIKE}:triage",
    }
    plan = store.load_plan("daemon:sanne:week:2026-11-23")
    assert plan is not None
    assert {b.task_id for b in plan.blocks} == {f"{OTHER}:vat", f"{OTHER}:taxes"}
    assert plan.unplanned == ()
    assert canonical(store, OTHER) == before_other
    whys = " ".join(i.reason for i in report.kept)
    assert "fiscal retention" in whys and "never touched" in whys


def _counts(store: Store, client: str) -> dict[Any, int]:
    from sqlalchemy import func

    with store.engine.connect() as connection:
        return {
            t: int(
                connection.execute(
                    select(func.count()).select_from(t).where(t.c.client_id == client)
                ).scalar_one()
            )
            for t in client_tables()
        }


def test_retention_purge_at_a_fake_now(store: Store, tmp_path: Path) -> None:
    seeded = seed_client(store, CLIENT, data_dir=tmp_path)
    seed_client(store, OTHER, data_dir=tmp_path / "b")
    settings = RetentionSettings()
    # at seeding time only the ledger row from 8 years ago and the 500-day-old
    # quarantine record and delivered mail are past their periods ...
    first = purge_expired(store, settings, NOW, data_dir=tmp_path)
    assert first["va_ledger"] == 2  # one per client
    assert first["va_quarantine"] == 2
    assert first["va_outbox"] == 2  # the delivered one; the pending one stays
    assert first["va_runs"] == 2 and first["va_tasks"] == 2
    assert first["va_audit"] == 0
    assert not seeded.outbox_file.exists()
    cs = store.for_client(CLIENT)
    assert [r.status for r in cs.outbox()] == ["pending"]
    assert len(cs.entries(include_deleted=True)) == seeded.ledger_rows - 1
    assert len(cs.open_tasks()) == seeded.open_tasks
    purge_rows = [a for a in cs.audit() if a.action == "retention.purge"]
    assert len(purge_rows) == 1 and purge_rows[0].after == {
        "va_ledger": 1,
        "va_outbox": 1,
        "va_quarantine": 1,
        "va_runs": 1,
        "va_tasks": 1,
    }
    # ... and purging again at the same moment finds nothing
    assert sum(purge_expired(store, settings, NOW).values()) == 0
    # eight years on, only open work (and the still pending message) is left
    later = purge_expired(store, settings, NOW + timedelta(days=8 * 366))
    assert later["va_ledger"] > 0 and later["va_ledger_times"] == 2
    assert len(cs.open_tasks()) == seeded.open_tasks
    assert cs.entries(include_deleted=True) == []
    assert [a.action for a in cs.audit()] == ["retention.purge"]


def test_purge_can_be_limited_to_one_client_and_dry_run(store: Store, tmp_path: Path) -> None:
    seed_client(store, CLIENT, data_dir=tmp_path)
    seed_client(store, OTHER, data_dir=tmp_path / "b")
    before = canonical(store, CLIENT)
    counts = purge_expired(store, RetentionSettings(), NOW, dry_run=True)
    assert counts["va_ledger"] == 2 and canonical(store, CLIENT) == before
    only = purge_expired(store.for_client(OTHER), RetentionSettings(mail_days=1000), NOW)
    assert only["va_ledger"] == 1 and only["va_outbox"] == 0
    assert canonical(store, CLIENT) == before


def test_import_rejects_what_is_not_an_export(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValidationError, match="not a readable zip"):
        import_client(store, bad, now=NOW, actor="t")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("x/readme.txt", "hello")
    with pytest.raises(ValidationError, match="not a va-engine client export"):
        import_client(store, other, now=NOW, actor="t")


def test_import_skips_tables_this_installation_does_not_know(
    store: Store, other_url: str, tmp_path: Path
) -> None:
    seed_client(store, CLIENT, data_dir=tmp_path)
    out = tmp_path / "export.zip"
    export_client(store, CLIENT, out, now=NOW, actor="test")
    newer = tmp_path / "newer.zip"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(newer, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr(f"{CLIENT}/tables/va_future.json", json.dumps([{"client_id": CLIENT}]))
    other = Store(other_url)
    try:
        result = import_client(other, newer, now=NOW, actor="test")
        assert result.skipped == {"va_future": "this installation has no such table"}
        assert canonical(other, CLIENT) == canonical(store, CLIENT)
    finally:
        other.close()
