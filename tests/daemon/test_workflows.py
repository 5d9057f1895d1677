"""The workflows through the one runner: keys, escalation, ledger exactly once, resume."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.daemon.helpers import (
    AMS,
    client_toml,
    drafts,
    invoices_csv,
    make_maildir,
    runtime,
    write_config,
)
from va_engine.cli.app import main
from va_engine.model import LedgerEntry, Mode
from va_engine.workflows.jobs import execute, read_invoices

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=AMS)


def _reminder_config(
    tmp_path: Path, database_url: str, rows: list[tuple[str, str, str, bool]]
) -> Path:
    maildir = make_maildir(tmp_path / "mail")
    invoices = invoices_csv(tmp_path / "invoices.csv", rows)
    return write_config(
        tmp_path / "config",
        database_url=database_url,
        clients={
            "hoef": client_toml("hoef", maildir=maildir, reachability='daily = "08:00-18:00"')
        },
        daemon=(
            "[daemon.workflows.payment_reminders]\n"
            'at = "08:30"\n\n'
            "[daemon.clients.hoef]\n"
            f'invoices = "{invoices}"\n'
        ),
    )


def test_reminders_escalate_due_plus7_plus14_and_skip_paid_and_future(
    tmp_path: Path, database_url: str
) -> None:
    today = MONDAY.date()
    config_dir = _reminder_config(
        tmp_path,
        database_url,
        [
            ("A", "a@example.org", today.isoformat(), False),
            ("B", "b@example.org", (today - timedelta(days=8)).isoformat(), False),
            ("C", "c@example.org", (today - timedelta(days=20)).isoformat(), False),
            ("D", "d@example.org", (today - timedelta(days=3)).isoformat(), True),
            ("E", "e@example.org", (today + timedelta(days=3)).isoformat(), False),
        ],
    )
    rt = runtime(config_dir)
    try:
        store = rt.store.for_client("hoef")
        assert execute(rt, "hoef", "payment_reminders", now=MONDAY).status == "done"
        keys = sorted(row.key for row in store.outbox())
        assert keys == ["reminder:A:L0", "reminder:B:L1", "reminder:C:L2"]
        assert {row.status for row in store.outbox()} == {"done"}
        assert sorted(d["To"] for d in drafts(tmp_path / "mail")) == [
            "a@example.org",
            "b@example.org",
            "c@example.org",
        ]
        # The same day again: the period is done, nothing new.
        assert (
            execute(rt, "hoef", "payment_reminders", now=MONDAY + timedelta(hours=3)).status
            == "skipped"
        )
        # Every day of the next week: A escalates exactly on day +7, nothing else repeats.
        for offset in range(1, 8):
            execute(rt, "hoef", "payment_reminders", now=MONDAY + timedelta(days=offset))
        keys = sorted(row.key for row in store.outbox())
        # A: +7 on day 7; B: +14 on day 6; C stays at the last level; E falls due on day 3.
        assert keys == [
            "reminder:A:L0",
            "reminder:A:L1",
            "reminder:B:L1",
            "reminder:B:L2",
            "reminder:C:L2",
            "reminder:E:L0",
        ]
        assert len(drafts(tmp_path / "mail")) == 6
        # One ledger entry per run that queued work (days 0, 3, 6, 7), 5 minutes a reminder.
        entries = store.entries()
        assert sorted(e.minutes for e in entries) == [5, 5, 5, 15]
        assert all(
            e.mode is Mode.FOR and e.source == "workflow" and e.kind == "finance" for e in entries
        )
    finally:
        rt.store.close()


def test_at_most_one_reminder_per_invoice_per_day(tmp_path: Path, database_url: str) -> None:
    today = MONDAY.date()
    config_dir = _reminder_config(
        tmp_path,
        database_url,
        [("A", "a@example.org", (today - timedelta(days=6)).isoformat(), False)],
    )
    rt = runtime(config_dir)
    try:
        store = rt.store.for_client("hoef")
        execute(rt, "hoef", "payment_reminders", now=MONDAY)  # L0 (6 days late)
        # The due date is corrected to 8 days ago (now L1) and a run is kicked the same day:
        # the invoice already had its reminder today, so nothing new goes out.
        invoices_csv(
            tmp_path / "invoices.csv",
            [("A", "a@example.org", (today - timedelta(days=8)).isoformat(), False)],
        )
        later = MONDAY + timedelta(hours=2)
        kicked = execute(rt, "hoef", "payment_reminders", now=later, period="changed:test")
        assert kicked.status == "done"
        assert [r.key for r in store.outbox()] == ["reminder:A:L0"]
        # The next day the escalation goes out.
        execute(rt, "hoef", "payment_reminders", now=MONDAY + timedelta(days=1))
        assert sorted(r.key for r in store.outbox()) == ["reminder:A:L0", "reminder:A:L1"]
    finally:
        rt.store.close()


def test_a_crashed_run_resumes_without_repeating_or_losing_the_ledger_entry(
    tmp_path: Path, database_url: str
) -> None:
    today = MONDAY.date()
    config_dir = _reminder_config(
        tmp_path, database_url, [("A", "a@example.org", today.isoformat(), False)]
    )
    rt = runtime(config_dir)
    try:
        store = rt.store.for_client("hoef")
        # A crash right after claiming the run: the row stays "started".
        claimed = store.begin_run("payment_reminders", today.isoformat(), now=MONDAY)
        assert claimed is not None
        result = execute(rt, "hoef", "payment_reminders", now=MONDAY + timedelta(minutes=5))
        assert result.status == "done"
        [run] = store.runs(workflow="payment_reminders")
        assert (run.status, run.attempts) == ("done", 2)
        assert len(store.entries()) == 1
        assert len(drafts(tmp_path / "mail")) == 1
        # The ledger write is keyed by the run: writing it again is ignored.
        entry = LedgerEntry(client_id="hoef", task="x", day=today, minutes=5, mode=Mode.FOR)
        assert (
            store.add_entry(entry, actor="t", now=MONDAY, run_key=f"payment_reminders:{today}")
            is None
        )
        assert len(store.entries()) == 1
    finally:
        rt.store.close()


def test_invoices_from_toml_and_bad_rows_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "inv.toml"
    good.write_text(
        '[[invoices]]\nnumber = "7"\ncustomer = "X"\nemail = "x@example.org"\n'
        "amount = 12.5\ndue = 2026-11-01\npaid = false\n"
    )
    [invoice] = read_invoices(good)
    assert (invoice.number, invoice.due, invoice.paid) == ("7", date(2026, 11, 1), False)
    bad = invoices_csv(tmp_path / "bad.csv", [("1", "x@example.org", "not-a-date", False)])
    from va_engine.errors import ConnectorError

    with pytest.raises(ConnectorError, match=r"bad\.csv: row 1"):
        read_invoices(bad)


def test_weekly_review_reports_for_and_taught_minutes_to_the_client(
    tmp_path: Path, database_url: str
) -> None:
    maildir = make_maildir(tmp_path / "mail")
    config_dir = write_config(
        tmp_path / "config",
        database_url=database_url,
        clients={
            "hoef": client_toml("hoef", maildir=maildir, reachability='weekdays = "08:00-18:00"')
        },
    )
    rt = runtime(config_dir)
    try:
        store = rt.store.for_client("hoef")
        friday = datetime(2026, 12, 4, 16, 0, tzinfo=AMS)
        for minutes, mode in ((45, Mode.FOR), (30, Mode.TAUGHT)):
            store.add_entry(
                LedgerEntry(
                    client_id="hoef",
                    task=f"work {minutes}",
                    day=friday.date(),
                    minutes=minutes,
                    mode=mode,
                ),
                actor="sanne",
                now=friday,
            )
        assert (
            execute(rt, "hoef", "weekly_review", now=friday - timedelta(days=1)).status == "not_due"
        )
        assert execute(rt, "hoef", "weekly_review", now=friday).status == "done"
        [draft] = drafts(maildir)
        payload = draft.get_payload(decode=True)
        assert isinstance(payload, bytes)
        body = payload.decode()
        assert draft["To"] == "hoef@client.example"
        assert "45 minutes for you" in body and "30 minutes teaching" in body
        assert "of 10.0" in body
        # The review itself is billable work, logged once.
        assert [e.task for e in store.entries() if e.source == "workflow"] == ["weekly review (1)"]
    finally:
        rt.store.close()


def test_run_once_cli_status_and_runs(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config_dir = _reminder_config(
        tmp_path, database_url, [("A", "a@example.org", MONDAY.date().isoformat(), False)]
    )
    toml = config_dir / "va-engine.toml"
    toml.write_text(toml.read_text() + "\n[daemon.workflows.replan]\nenabled = false\n")
    argv = ["--config", str(config_dir), "run", "--once", "--now", MONDAY.isoformat(), "-f", "json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    by_workflow = {(r["scope"], r["workflow"]): r["status"] for r in rows}
    assert by_workflow[("hoef", "payment_reminders")] == "done"
    assert by_workflow[("hoef", "sync")] == "done"
    assert by_workflow[("@sanne", "replan")] == "disabled"
    assert by_workflow[("hoef", "weekly_review")] == "not_due"
    # Again at the same moment: everything due is already done.
    assert main(argv) == 0
    again = {(r["scope"], r["workflow"]): r["status"] for r in json.loads(capsys.readouterr().out)}
    assert again[("hoef", "payment_reminders")] == "skipped"
    assert main(["--config", str(config_dir), "status", "-f", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    reminders = next(r for r in status if r["workflow"] == "payment_reminders")
    assert (reminders["last_status"], reminders["failures"]) == ("done", 0)
    assert main(["--config", str(config_dir), "runs", "--client", "hoef", "-f", "json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert {r["workflow"] for r in history} >= {"sync", "payment_reminders", "triage"}
    assert main(["--config", str(config_dir), "runs", "--failed", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
