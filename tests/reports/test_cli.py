"""The report commands in-process over a temp config and a real SQLite store."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.reports.conftest import AMS, DATA, load_seed
from va_engine.cli import main
from va_engine.model import Task
from va_engine.store import Store

NOW = datetime(2026, 3, 12, 10, tzinfo=AMS)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DATA / "config", target)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VA_ENGINE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("VA_ENGINE_DATABASE_URL", f"sqlite:///{tmp_path / 'va.db'}")
    return target


@pytest.fixture
def seeded(config: Path, tmp_path: Path) -> Path:
    store = Store(f"sqlite:///{tmp_path / 'va.db'}")
    try:
        load_seed(store, NOW)
    finally:
        store.close()
    return config


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    status = main(list(args))
    out = capsys.readouterr()
    assert status == 0, out.err
    return out.out


def test_log_edit_trail_and_contact_time(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = str(config)
    out = run(
        capsys, "-c", c, "log", "--client", "hoeve", "--task", "Bellen", "--minutes", "20",
        "--kind", "call", "--date", "2026-03-10", "--at", "13:30",
    )  # fmt: skip
    assert "logged #1" in out
    assert "boundary: unreachable: call 13:30–13:50 is outside" in out
    run(
        capsys, "-c", c, "log", "--client", "hoeve", "--task", "Post", "--minutes", "30",
        "--mode", "taught", "--level", "guide", "--kind", "mail", "--date", "2026-03-10",
        "--not-billable", "--note", "met de nieuwe bakjes",
    )  # fmt: skip
    data = json.loads(run(capsys, "-c", c, "report", "ledger", "--client", "hoeve", "-f", "json"))
    (hoeve,) = data["clients"]
    assert data["schema_id"] == "va-engine/ledger/1"
    assert [(s["code"], s["subject"]) for s in hoeve["signals"]] == [("unreachable", "Bellen")]
    assert hoeve["months"] == [
        {
            "month": "2026-03",
            "for_minutes": 20,
            "taught_minutes": 30,
            "client_own_minutes": 0,
            "billable_minutes": 20,
        }
    ]
    run(capsys, "-c", c, "log", "--client", "hoeve", "--delete", "1")
    store = Store(f"sqlite:///{tmp_path / 'va.db'}")
    try:
        cs = store.for_client("hoeve")
        assert [e.task for e in cs.entries()] == ["Post"]
        assert [(a.action, a.actor) for a in cs.audit()] == [
            ("ledger.add", "sanne"),
            ("ledger.add", "sanne"),
            ("ledger.delete", "sanne"),
        ]
    finally:
        store.close()


def test_log_rejects_bad_input(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(config), "log", "--client", "hoeve", "--task", "x"]) != 0
    assert "--minutes" in capsys.readouterr().err
    assert (
        main(["-c", str(config), "log", "--client", "nobody", "--task", "x", "--minutes", "5"]) != 0
    )
    assert "unknown client" in capsys.readouterr().err


def test_report_ledger_formats(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(seeded)
    data = json.loads(run(capsys, "-c", c, "report", "ledger", "-f", "json"))
    by_id = {x["client_id"]: x for x in data["clients"]}
    assert set(by_id) == {"bakkerij", "hoeve", "lotje"}
    # hand-worked in test_ledger.py: 0 → 25 % → 50 %
    assert [p["index"] for p in by_id["hoeve"]["independence"]] == [0.0, 0.25, 0.5]
    assert by_id["hoeve"]["independence_index"] == 0.5
    assert [s["code"] for s in by_id["hoeve"]["signals"]] == [
        "overrun", "overrun", "unreachable", "handback", "unreachable",
    ]  # fmt: skip
    # a window: February only
    feb = json.loads(
        run(capsys, "-c", c, "report", "ledger", "--client", "hoeve", "--from", "2026-02-01",
            "--to", "2026-02-28", "-f", "json")
    )  # fmt: skip
    assert [m["month"] for m in feb["clients"][0]["months"]] == ["2026-02"]

    rows = list(csv.DictReader(io.StringIO(run(capsys, "-c", c, "report", "ledger", "-f", "csv"))))
    jan = next(r for r in rows if r["client"] == "hoeve" and r["month"] == "2026-01")
    assert (jan["for_hours"], jan["taught_hours"]) == ("4.00", "1.58")  # 240 and 95 min

    md = run(capsys, "-c", c, "report", "ledger", "--client", "hoeve", "-f", "md")
    assert md.startswith("# Ledger report") and "handback" in md

    table = run(capsys, "-c", c, "report", "ledger", "--client", "hoeve")
    assert "Hours per month" in table and "Boundary signals" in table
    assert "Bellen: facturen" in table and "Bakkerij" not in table  # only the asked client


def test_assignments_land_in_the_ledger(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(config)
    run(
        capsys, "-c", c, "assign", "--client", "hoeve", "--task", "Post van de week archiveren",
        "--kind", "mail", "--due", "2026-03-13", "--every", "FREQ=WEEKLY;BYDAY=FR",
    )  # fmt: skip
    run(capsys, "-c", c, "assign", "--client", "hoeve", "--task", "Facturen goedkeuren",
        "--due", "2026-03-16")  # fmt: skip
    run(capsys, "-c", c, "assign", "--client", "hoeve", "--done", "1")
    run(capsys, "-c", c, "assign", "--client", "hoeve", "--done", "1")  # next Friday's as well
    run(capsys, "-c", c, "assign", "--client", "hoeve", "--missed", "2")
    items = json.loads(run(capsys, "-c", c, "assign", "--client", "hoeve", "--list", "-f", "json"))
    by_task = {a["task"]: a for a in items}
    weekly, once = by_task["Post van de week archiveren"], by_task["Facturen goedkeuren"]
    # two Fridays done: 13 → 20 → 27 March
    assert (weekly["due"], weekly["status"], weekly["done_count"]) == ("2026-03-27", "open", 2)
    # mail is at "coach" for this client: the assignment keeps that level
    assert weekly["level"] == "coach"
    assert (once["status"], once["missed_count"]) == ("missed", 1)
    data = json.loads(run(capsys, "-c", c, "report", "ledger", "--client", "hoeve", "-f", "json"))
    (month,) = data["clients"][0]["months"]
    assert month["client_own_minutes"] == 30 and month["for_minutes"] == 0  # 2 × 15 min
    bad = main(["-c", c, "assign", "--client", "hoeve", "--task", "x", "--due", "2026-03-13",
                "--every", "FREQ=SOMETIMES"])  # fmt: skip
    assert bad != 0 and "repeat rule" in capsys.readouterr().err


def test_session_report(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(seeded)
    data = json.loads(
        run(
            capsys,
            "-c",
            c,
            "report",
            "session",
            "--client",
            "hoeve",
            "--date",
            "2026-03-04",
            "-f",
            "json",
        )
    )
    assert data["schema_id"] == "va-engine/session/1"
    assert [d["task"] for d in data["done"]] == ["Facturen", "Archief opruimen"]
    assert [(d["task"], d["level"]) for d in data["taught"]] == [
        ("Post sorteren", "leave_to_client")
    ]
    assert data["minutes"] == 140  # 20 + 90 + 30
    md = run(
        capsys,
        "-c",
        c,
        "report",
        "session",
        "--client",
        "hoeve",
        "--date",
        "2026-03-04",
        "-f",
        "md",
    )
    assert md.startswith("# Session Familie Hoeve: 2026-03-04") and "- Facturen (90 min)" in md
    html = run(
        capsys,
        "-c",
        c,
        "report",
        "session",
        "--client",
        "hoeve",
        "--date",
        "2026-03-04",
        "-f",
        "html",
    )
    assert "<h2>Taught</h2>" in html
    table = run(capsys, "-c", c, "report", "session", "--client", "hoeve", "--date", "2026-03-04")
    assert "2.3 h" in table


def test_report_delegate(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(config)
    toml = str(DATA / "questionnaire.toml")
    data = json.loads(run(capsys, "-c", c, "report", "delegate", "--input", toml, "-f", "json"))
    assert data["schema_id"] == "va-engine/delegation/1"
    assert (data["freed_hours"], data["savings_per_month"]) == (22.75, 978.25)
    # rates from the command line win over the file: 22.75 h × (100 − 50) = 1137.50
    data = json.loads(
        run(
            capsys,
            "-c",
            c,
            "report",
            "delegate",
            "--input",
            toml,
            "--own-rate",
            "100",
            "--va-rate",
            "50",
            "-f",
            "json",
        )
    )
    assert data["savings_per_month"] == 1137.5
    table = run(capsys, "-c", c, "report", "delegate", "--input", toml)
    assert "▇" in table and "frees 22.8 h" in table and "delegate after instruction" in table
    html = run(capsys, "-c", c, "report", "delegate", "--input", toml, "-f", "html")
    assert 'src="data:image/png;base64,' in html
    md = run(
        capsys,
        "-c",
        c,
        "report",
        "delegate",
        "--input",
        str(DATA / "questionnaire.csv"),
        "-f",
        "md",
    )
    assert "| appointments | 6.5 |" in md
    assert main(["-c", c, "report", "delegate"]) != 0


def test_report_delegate_from_history(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI reads the real clock, so the history is dated relative to it; the seeded
    # ledger of bakkerij (Feb–Mar 2026) lies outside the 3-month window by then.
    now = datetime.now(AMS)
    recent = now - timedelta(days=10)
    store = Store(f"sqlite:///{tmp_path / 'va.db'}")
    try:
        cs = store.for_client("bakkerij")
        tasks = [
            Task(id=f"m{n}", title="Inbox", client_id="bakkerij", kind="mail",
                 duration_minutes=390, release=recent, source="rules", external_id=f"m{n}")
            for n in (1, 2)
        ]  # fmt: skip
        cs.upsert_tasks(tasks, now=now)
        cs.set_task_status("m1", "closed", now=now)  # done tasks are history too
    finally:
        store.close()
    data = json.loads(
        run(capsys, "-c", str(seeded), "report", "delegate", "--client", "bakkerij", "-f", "json")
    )
    assert data["source"] == "history of 3 months" and data["va_rate"] == 45
    # 3 months = 13 weeks: 780 min / 13 = 60 min/week → 60 × 52/12 / 60 = 4.33 h/month
    (mail,) = data["categories"]
    assert (mail["category"], mail["hours_per_month"], mail["recommendation"]) == (
        "mail", 4.33, "instruct",
    )  # fmt: skip
    assert data["savings_per_month"] == 130.0  # 4.333 h × (75 default own rate − 45)


def test_dates_are_checked(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["-c", str(config), "report", "session", "--client", "hoeve", "--date", "12-03-2026"])
        != 0
    )
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert date(2026, 3, 12)  # keep the import honest


def test_json_schemas_are_stable(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Scripts depend on these names; a change needs a new schema_id."""
    c = str(seeded)
    ledger = json.loads(run(capsys, "-c", c, "report", "ledger", "--client", "hoeve", "-f", "json"))
    assert set(ledger) == {"schema_id", "generated", "clients"}
    (client,) = ledger["clients"]
    assert set(client) == {
        "schema_id", "client_id", "name", "start", "end", "months", "levels", "independence",
        "budget", "signals", "for_minutes", "taught_minutes", "independence_index",
    }  # fmt: skip
    assert set(client["budget"]) == {
        "period", "start", "end", "budget_minutes", "used_minutes", "remaining_minutes",
        "share", "minutes_per_day", "exhaustion", "warnings",
    }  # fmt: skip
    assert set(client["signals"][0]) == {"code", "day", "subject", "detail", "minutes"}
    toml = str(DATA / "questionnaire.toml")
    report = json.loads(run(capsys, "-c", c, "report", "delegate", "--input", toml, "-f", "json"))
    assert set(report) == {
        "schema_id", "name", "source", "months", "currency", "own_rate", "va_rate", "goals",
        "categories", "total_hours", "delegate_categories", "freed_hours", "savings_per_month",
        "savings_total", "revenue_opportunity", "extra_appointments", "appointment_minutes",
        "summary",
    }  # fmt: skip
    assert set(report["categories"][0]) == {
        "category", "hours_per_month", "delegable_hours", "own_cost", "va_cost", "savings",
        "score", "recommendation", "advice", "reasons", "tasks",
    }  # fmt: skip
