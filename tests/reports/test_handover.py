"""Handover: the files, the ICS read back by icalendar, khal and todoman, the PDF as an image."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events

from tests.reports.conftest import AMS, DATA, load_seed
from va_engine.cli import main
from va_engine.handover import build_handover, handover_ics
from va_engine.model import Client, DayWindow, Habit
from va_engine.obligations import Obligation, Yearly
from va_engine.planner.year_ics import split_calendar
from va_engine.store import Store

BIN = Path(sys.executable).parent
NOW = datetime(2026, 3, 12, 10, tzinfo=AMS)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def small_handover(weeks: int = 4):  # type: ignore[no-untyped-def]
    client = Client(id="hoeve", name="Familie Hoeve")
    habits = [
        Habit(
            id="post",
            title="Post sorteren",
            kind="mail",
            times_per_week=2,
            minutes=20,
            windows=(
                DayWindow(weekday=0, start=time(9), end=time(10)),
                DayWindow(weekday=3, start=time(9), end=time(10)),
            ),
        )
    ]
    obligations = [
        Obligation(
            name="Zorgtoeslag",
            kind="finance",
            effort_hours=1,
            recurrence=Yearly(month=3, day=31),
            who="client",
        )
    ]
    return build_handover(
        client, habits=habits, obligations=obligations, entries=[], now=NOW, weeks=weeks
    )


def test_routine_and_obligations_in_the_ics() -> None:
    handover = small_handover()
    # next Monday after Thursday 12 March 2026 is the 16th; the habit goes on Mon and Thu
    assert handover.start == date(2026, 3, 16)
    assert [(r.day_name, r.minutes) for r in handover.routine] == [("Monday", 20), ("Thursday", 20)]
    assert all(time(9) <= r.start and r.end <= time(10) for r in handover.routine)
    # Zorgtoeslag due 31 March 2026 and (within 12 months) not yet 2027's
    assert [o.deadline for o in handover.obligations] == [date(2026, 3, 31)]
    # aftercare: +2 weeks, +6 weeks, +3 months from the handover day
    assert [t.release.date() for t in handover.aftercare if t.release] == [
        date(2026, 3, 26), date(2026, 4, 23), date(2026, 6, 12),
    ]  # fmt: skip

    cal = icalendar.Calendar.from_ical(handover_ics(handover, now=NOW))
    events = list(cal.walk("VEVENT"))
    todos = list(cal.walk("VTODO"))
    assert len(events) == 2 and len(todos) == 1
    assert events[0]["RRULE"]["COUNT"] == [4]
    assert todos[0].decoded("DUE") == datetime(2026, 4, 1, tzinfo=AMS)  # end of 31 March
    # expanded over the 4 weeks: 8 sessions at the same wall-clock times although DST
    # starts on 29 March (2 local start times: Monday's and Thursday's slot)
    occurrences = recurring_ical_events.of(cal).between(date(2026, 3, 1), date(2026, 6, 1))
    assert len(occurrences) == 8
    local = {o.decoded("DTSTART").astimezone(AMS).time() for o in occurrences}
    assert local == {r.start for r in handover.routine}
    # stable UIDs: the same handover twice gives the same calendar
    assert handover_ics(handover, now=NOW) == handover_ics(small_handover(), now=NOW)


def _khal_events(ics: Path, tmp: Path) -> list[str]:
    conf = tmp / "khal.conf"
    (tmp / "khal-cal").mkdir()
    conf.write_text(
        f"[calendars]\n[[handover]]\npath = {tmp / 'khal-cal'}\n[locale]\n"
        "timeformat = %H:%M\ndateformat = %Y-%m-%d\nlongdateformat = %Y-%m-%d\n"
        "datetimeformat = %Y-%m-%d %H:%M\nlongdatetimeformat = %Y-%m-%d %H:%M\n"
        "default_timezone = Europe/Amsterdam\nlocal_timezone = Europe/Amsterdam\n"
    )
    done = subprocess.run(
        [str(BIN / "khal"), "-c", str(conf), "printics", str(ics)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout.splitlines()


def _todoman_todos(ics: Path, tmp: Path) -> list[dict[str, object]]:
    folder = tmp / "vdir" / "handover"
    folder.mkdir(parents=True)
    for name, data in split_calendar(ics.read_bytes()).items():
        if b"VTODO" in data:
            (folder / name).write_bytes(data)
    conf = tmp / "todoman.py"
    conf.write_text(f'path = "{tmp / "vdir"}/*"\ndate_format = "%Y-%m-%d"\ntime_format = "%H:%M"\n')
    done = subprocess.run(
        [str(BIN / "todo"), "--config", str(conf), "--porcelain", "list", "--sort", "due"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    result: list[dict[str, object]] = json.loads(done.stdout)
    return result


def test_handover_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (BIN / "khal").exists() or not (BIN / "todo").exists():
        pytest.skip("khal and todoman are not installed in this environment")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    db = tmp_path / "va.db"
    monkeypatch.setenv("VA_ENGINE_DATABASE_URL", f"sqlite:///{db}")
    store = Store(f"sqlite:///{db}")
    try:
        load_seed(store, NOW)
    finally:
        store.close()
    out = tmp_path / "handover"
    args = ["-c", str(config), "handover", "--client", "hoeve", "--out", str(out), "--weeks", "6"]
    assert main([*args, "-f", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["files"]) == {"ics", "md", "html", "pdf"}
    assert result["aftercare_added"] == 3

    ics = out / "schedule.ics"
    cal = icalendar.Calendar.from_ical(ics.read_bytes())
    summaries = sorted(str(e["SUMMARY"]) for e in cal.walk("VEVENT"))
    assert summaries == ["Post sorteren", "Post sorteren"]
    (todo,) = cal.walk("VTODO")
    assert str(todo["SUMMARY"]) == "Zorgtoeslag controleren"

    khal_lines = _khal_events(ics, tmp_path)
    assert khal_lines[0] == "2 events found in " + str(ics)
    assert all("Post sorteren" in line for line in khal_lines[1:]) and len(khal_lines) == 3
    todos = _todoman_todos(ics, tmp_path)
    assert [t["summary"] for t in todos] == ["Zorgtoeslag controleren"]
    due = datetime.fromtimestamp(int(str(todos[0]["due"])), AMS)
    assert (due.month, due.day) in {(4, 1), (3, 31)}  # end of 31 March, local

    md = (out / "handover.md").read_text()
    # what was taught, most independent first: Post sorteren is at leave_to_client
    assert md.index("| Post sorteren | mail | leave to client |") < md.index(
        "| Agenda plannen | planning | take over |"
    )
    png = tmp_path / "page"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(out / "handover.pdf"), str(png)],
        check=True, timeout=60,
    )  # fmt: skip
    (page,) = tmp_path.glob("page*.png")
    assert page.read_bytes().startswith(b"\x89PNG") and page.stat().st_size > 2000

    # again: same files, the aftercare tasks are not added twice
    assert main([*args, "--no-pdf", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["aftercare_added"] == 0
    store = Store(f"sqlite:///{db}")
    try:
        open_tasks = store.for_client("hoeve").open_tasks()
    finally:
        store.close()
    assert sorted(t.id for t in open_tasks if t.source == "handover") == [
        "hoeve:aftercare-2weeks", "hoeve:aftercare-3months", "hoeve:aftercare-6weeks",
    ]  # fmt: skip
    assert timedelta(0) < open_tasks[0].deadline - open_tasks[0].release  # type: ignore[operator]
