"""Reachability windows: client-facing mail waits for the next window, never goes out outside."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.daemon.helpers import (
    AMS,
    appointments_ics,
    client_toml,
    drafts,
    make_maildir,
    runtime,
    write_config,
)
from va_engine.model import DayWindow
from va_engine.settings import parse_weekly
from va_engine.workflows.boundaries import is_reachable, next_release
from va_engine.workflows.jobs import execute

WEEKDAYS = parse_weekly({"weekdays": ["08:00-10:00", "13:00-14:00"]})


def test_no_windows_means_no_restriction() -> None:
    now = datetime(2026, 11, 29, 3, 0, tzinfo=AMS)  # a Sunday night
    assert next_release(now, (), AMS) == now
    assert next_release(now, (), AMS, not_after=now - timedelta(minutes=1)) is None


def test_sunday_waits_for_monday_morning() -> None:
    sunday = datetime(2026, 11, 29, 10, 30, tzinfo=AMS)
    assert sunday.weekday() == 6
    release = next_release(sunday, WEEKDAYS, AMS)
    assert release == datetime(2026, 11, 30, 8, 0, tzinfo=AMS)
    assert not is_reachable(sunday, WEEKDAYS, AMS)


def test_inside_a_window_is_now_and_between_windows_is_the_next_one() -> None:
    inside = datetime(2026, 12, 1, 9, 15, tzinfo=AMS)
    assert next_release(inside, WEEKDAYS, AMS) == inside
    lunch = datetime(2026, 12, 1, 11, 0, tzinfo=AMS)
    assert next_release(lunch, WEEKDAYS, AMS) == datetime(2026, 12, 1, 13, 0, tzinfo=AMS)
    friday_evening = datetime(2026, 12, 4, 18, 0, tzinfo=AMS)
    assert next_release(friday_evening, WEEKDAYS, AMS) == datetime(2026, 12, 7, 8, 0, tzinfo=AMS)


def test_a_release_after_the_deadline_is_refused() -> None:
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=AMS)
    monday_7am = datetime(2026, 12, 7, 7, 0, tzinfo=AMS)
    assert next_release(saturday, WEEKDAYS, AMS, not_after=monday_7am) is None


def test_windows_keep_their_wall_clock_time_across_dst() -> None:
    windows = (DayWindow(weekday=0, start=time(9), end=time(10)),)
    before = datetime(2026, 10, 24, 12, 0, tzinfo=AMS)  # Saturday before the switch to CET
    release = next_release(before, windows, AMS)
    assert release is not None
    assert release.astimezone(AMS).time() == time(9)
    assert release.utcoffset() == timedelta(hours=1)
    new_york = ZoneInfo("America/New_York")
    release_ny = next_release(before, windows, new_york)
    assert release_ny is not None and release_ny.astimezone(new_york).time() == time(9)


def test_confirmation_due_on_sunday_goes_out_monday_in_the_window(
    tmp_path: Path, database_url: str
) -> None:
    maildir = make_maildir(tmp_path / "mail")
    monday_2pm = datetime(2026, 11, 30, 14, 0, tzinfo=AMS)
    calendar = appointments_ics(
        tmp_path / "agenda.ics", [("farrier-1", monday_2pm, "farrier@example.org")]
    )
    config_dir = write_config(
        tmp_path / "config",
        database_url=database_url,
        clients={"hoef": client_toml("hoef", calendar=calendar, maildir=maildir)},
        daemon='[daemon.workflows.confirmations]\nat = "10:00"\n',
    )
    rt = runtime(config_dir)
    try:
        sunday = datetime(2026, 11, 29, 10, 30, tzinfo=AMS)
        result = execute(rt, "hoef", "confirmations", now=sunday)
        assert result.status == "done"
        [row] = rt.store.for_client("hoef").outbox()
        assert row.recipient == "farrier@example.org"
        release = row.release_at if row.release_at.tzinfo else row.release_at.replace(tzinfo=UTC)
        assert release.astimezone(AMS) == datetime(2026, 11, 30, 8, 0, tzinfo=AMS)
        assert drafts(maildir) == []
        # Sunday evening the outbox is flushed by a sync: still nothing may go out.
        assert execute(rt, "hoef", "sync", now=sunday.replace(hour=22)).status == "done"
        assert drafts(maildir) == []
        # Monday 07:59 is outside the window too.
        assert (
            execute(rt, "hoef", "sync", now=datetime(2026, 11, 30, 7, 59, tzinfo=AMS)).status
            == "done"
        )
        assert drafts(maildir) == []
        # Monday 08:05, inside the window: exactly one draft, the confirmation.
        assert (
            execute(rt, "hoef", "sync", now=datetime(2026, 11, 30, 8, 5, tzinfo=AMS)).status
            == "done"
        )
        [draft] = drafts(maildir)
        assert draft["To"] == "farrier@example.org"
        assert draft["Message-ID"] == row.message_id
        assert "Appointment farrier-1" in str(draft["Subject"])
        [done] = rt.store.for_client("hoef").outbox()
        assert done.status == "done"
        # A second flush later changes nothing.
        execute(rt, "hoef", "sync", now=datetime(2026, 11, 30, 9, 30, tzinfo=AMS))
        assert len(drafts(maildir)) == 1
    finally:
        rt.store.close()


def test_confirmation_that_cannot_go_out_in_time_is_not_queued(
    tmp_path: Path, database_url: str
) -> None:
    maildir = make_maildir(tmp_path / "mail")
    monday_7am = datetime(2026, 11, 30, 7, 30, tzinfo=AMS)
    calendar = appointments_ics(tmp_path / "agenda.ics", [("early", monday_7am, "x@example.org")])
    config_dir = write_config(
        tmp_path / "config",
        database_url=database_url,
        clients={"hoef": client_toml("hoef", calendar=calendar, maildir=maildir)},
    )
    rt = runtime(config_dir)
    try:
        result = execute(rt, "hoef", "confirmations", now=datetime(2026, 11, 29, 11, 0, tzinfo=AMS))
        assert result.status == "done"
        assert result.detail["too_late"] == 1
        assert rt.store.for_client("hoef").outbox() == []
    finally:
        rt.store.close()
