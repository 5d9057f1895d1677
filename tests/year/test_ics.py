"""ICS export of a year plan: parses back with icalendar; khal and todoman read it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from va_engine.catalogue import catalogue_obligations
from va_engine.obligations import Obligation, Yearly, expand
from va_engine.planner.year import YearPlan, plan_year
from va_engine.planner.year_ics import split_calendar, year_plan_to_ics

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 1, 2, 9, tzinfo=AMS)


@pytest.fixture(scope="module")
def plan() -> YearPlan:
    obligations = [
        *catalogue_obligations(["income-tax", "vat-return", "health-insurance"]),
        Obligation(name="Too big", effort_hours=50, recurrence=Yearly(month=6, day=1)),
    ]
    return plan_year(expand(obligations, 2026, AMS), {"assistant": 16}, year=2026)


def test_round_trip(plan: YearPlan) -> None:
    ics = year_plan_to_ics(plan, AMS, now=NOW)
    cal = Calendar.from_ical(ics)
    todos = list(cal.walk("VTODO"))
    events = list(cal.walk("VEVENT"))
    groups = {p.occurrence.group for p in plan.placements} | {
        u.occurrence.group for u in plan.unplanned
    }
    multi = {p.occurrence.group for p in plan.placements if p.occurrence.steps > 1}
    assert len(events) == len(groups)
    assert len(todos) == len(plan.placements) + len(plan.unplanned) + len(multi)
    assert len({str(c["UID"]) for c in [*todos, *events]}) == len(todos) + len(events)
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Amsterdam"]

    by_uid = {str(t["UID"]): t for t in todos}
    for placement in plan.placements:
        occ = placement.occurrence
        todo = by_uid[f"{occ.id if occ.steps > 1 else occ.group}@va-engine"]
        assert str(todo["SUMMARY"]) == occ.title
        assert todo.decoded("DUE") == occ.due
        assert todo.decoded("DTSTART") == datetime.combine(
            placement.week, datetime.min.time(), tzinfo=AMS
        )
        if occ.steps > 1:
            related = todo.get("RELATED-TO")
            related = related if isinstance(related, list) else [related]
            parents = [r for r in related if r.params.get("RELTYPE") == "PARENT"]
            assert [str(p) for p in parents] == [f"{occ.group}@va-engine"]
            if occ.index:
                assert any(r.params.get("RELTYPE") == "DEPENDS-ON" for r in related)
    (too_big,) = [t for t in todos if str(t["SUMMARY"]) == "Too big"]
    assert "DTSTART" not in too_big and "Not planned" in str(too_big["DESCRIPTION"])
    deadline = next(e for e in events if str(e["SUMMARY"]) == "Deadline: Too big")
    assert deadline.decoded("DTSTART") == date(2026, 6, 1)
    assert deadline.decoded("DTEND") == date(2026, 6, 2)
    # Stable: exporting again gives the same bytes.
    assert year_plan_to_ics(plan, AMS, now=NOW) == ics


def write_vdir(plan: YearPlan, root: Path) -> tuple[Path, Path]:
    todos, events = root / "todos", root / "events"
    todos.mkdir()
    events.mkdir()
    for name, data in split_calendar(year_plan_to_ics(plan, AMS, now=NOW)).items():
        folder = todos if b"BEGIN:VTODO" in data else events
        (folder / name).write_bytes(data)
    return todos, events


def tool(name: str) -> str:
    pytest.importorskip(name)
    path = shutil.which(
        name if name != "todoman" else "todo", path=str(Path(sys.executable).parent)
    )
    if path is None:
        pytest.skip(f"{name} command not found next to {sys.executable}")
    return path


def isolated_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(root),
        XDG_CONFIG_HOME=str(root / "cfg"),
        XDG_DATA_HOME=str(root / "data"),
        XDG_CACHE_HOME=str(root / "cache"),
        TZ="Europe/Amsterdam",
    )
    return env


def test_todoman_reads_the_todos(plan: YearPlan, tmp_path: Path) -> None:
    todo = tool("todoman")
    todos, _ = write_vdir(plan, tmp_path)
    config = tmp_path / "todoman.py"
    config.write_text(
        f'path = "{todos}"\ncache_path = "{tmp_path / "cache.sqlite"}"\n'
        'date_format = "%Y-%m-%d"\ntime_format = "%H:%M"\n'
    )
    done = subprocess.run(
        [todo, "--config", str(config), "--porcelain", "list", "--sort", "due"],
        capture_output=True,
        text=True,
        timeout=60,
        env=isolated_env(tmp_path),
        check=True,
    )
    items = json.loads(done.stdout)
    titles = {i["summary"] for i in items}
    assert {p.occurrence.title for p in plan.placements} <= titles
    vat = next(p.occurrence for p in plan.placements if p.occurrence.obligation.startswith("VAT"))
    dues = {i["due"] for i in items if i["summary"] == vat.title}
    assert int(vat.due.timestamp()) in dues


def test_khal_reads_the_deadlines(plan: YearPlan, tmp_path: Path) -> None:
    khal = tool("khal")
    _, events = write_vdir(plan, tmp_path)
    config = tmp_path / "khal.conf"
    config.write_text(
        "[calendars]\n[[plan]]\n"
        f"path = {events}\n"
        "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
        "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n"
        "local_timezone = Europe/Amsterdam\ndefault_timezone = Europe/Amsterdam\n"
        f"[sqlite]\npath = {tmp_path / 'khal.db'}\n"
    )
    done = subprocess.run(
        [
            khal,
            "-c",
            str(config),
            "list",
            "2026-01-01",
            "400d",
            "--format",
            "{start-date}|{title}",
            "--day-format",
            "",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=isolated_env(tmp_path),
        check=True,
    )
    lines = {line for line in done.stdout.splitlines() if "|" in line}
    assert "2026-05-01|Deadline: Income tax return (aangifte inkomstenbelasting)" in lines
    assert "2026-12-31|Deadline: Health insurance review (zorgverzekering)" in lines
    vat_dates = sorted(line.split("|")[0] for line in lines if "VAT" in line)
    assert vat_dates == ["2026-01-31", "2026-04-30", "2026-07-31", "2026-10-31"]
