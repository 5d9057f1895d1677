"""ICS parsing over the named files in tests/data/ics, and plan serialisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from va_engine.connectors.base import Origin, ParsedCalendar, PlanEvent
from va_engine.connectors.ics import (
    build_plan_calendar,
    decode_text,
    item_fingerprints,
    our_fingerprint,
    parse_calendar,
    plan_event_ics,
    plan_to_events,
)
from va_engine.model import Location, Plan, PlannedBlock

DATA = Path(__file__).resolve().parent.parent / "data" / "ics"
AMS = ZoneInfo("Europe/Amsterdam")
NY = ZoneInfo("America/New_York")


def parse(
    name: str, *, tz: ZoneInfo = AMS, start: datetime | None = None, end: datetime | None = None
) -> ParsedCalendar:
    return parse_calendar(
        (DATA / name).read_bytes(),
        origin=Origin(account="anna", collection=name),
        start=start or datetime(2026, 1, 1, tzinfo=tz),
        end=end or datetime(2027, 1, 1, tzinfo=tz),
        tz=tz,
    )


def test_normal_file_events_and_todos() -> None:
    parsed = parse("normal.ics")
    assert not parsed.quarantined and not parsed.warnings
    dentist, lunch = parsed.events
    assert dentist.summary == "Tandarts"
    assert dentist.start == datetime(2026, 11, 10, 14, tzinfo=AMS)
    assert dentist.end - dentist.start == timedelta(hours=1)
    assert dentist.attendees == ("anna@example.org",)
    assert dentist.organizer == "praktijk@example.org"
    assert dentist.categories == ("health", "personal")
    assert dentist.location == "Kerkstraat 1, Utrecht"
    assert dentist.origin == Origin(
        account="anna", collection="normal.ics", item="dentist-1@example.org"
    )
    assert lunch.transparent
    tax, done = sorted(parsed.todos, key=lambda t: t.uid, reverse=True)
    assert tax.uid == "todo-tax@example.org"
    assert (tax.duration_minutes, tax.priority, tax.categories) == (120, 1, ("tax",))
    # A date-only DUE means "on that day": the end of the day in the client's zone.
    assert tax.due == datetime(2026, 11, 30, 23, 59, tzinfo=AMS)
    assert not tax.done
    assert done.done and done.related_to == ("todo-tax@example.org",)


def test_recurrence_with_exdate_and_override() -> None:
    events = parse("recurring_exdate_override.ics").events
    assert [(e.summary, e.start.astimezone(AMS).strftime("%m-%d %H:%M")) for e in events] == [
        ("Standup", "11-02 09:00"),
        ("Standup", "11-03 09:00"),
        ("Standup (moved)", "11-05 13:00"),
        ("Standup", "11-06 09:00"),
    ]
    moved = events[2]
    assert moved.recurrence_id == datetime(2026, 11, 5, 9, tzinfo=AMS)
    assert moved.end - moved.start == timedelta(hours=1)
    assert len({e.key for e in events}) == 4


def test_weekly_event_keeps_wall_clock_time_across_dst() -> None:
    events = parse("dst_weekly.ics", end=datetime(2026, 11, 5, tzinfo=AMS)).events
    local = [e.start.astimezone(AMS) for e in events]
    assert [t.strftime("%d %H:%M") for t in local] == [
        "14 19:00",
        "21 19:00",
        "28 19:00",
        "04 19:00",
    ]
    # The UTC offset changes on 25 October, the local time does not.
    assert [e.start.utcoffset() for e in events][1:3] == [timedelta(hours=2), timedelta(hours=1)]
    assert all(e.end - e.start == timedelta(hours=1) for e in events)


def test_range_clips_expansion() -> None:
    events = parse(
        "dst_weekly.ics",
        start=datetime(2026, 11, 10, tzinfo=AMS),
        end=datetime(2026, 11, 20, tzinfo=AMS),
    ).events
    assert [e.start.day for e in events] == [11, 18]


def test_all_day_spans_local_days_across_dst() -> None:
    holiday, _ = parse("allday_floating.ics").events
    assert holiday.all_day and not holiday.floating
    assert holiday.start == datetime(2026, 3, 28, tzinfo=AMS)
    assert holiday.end == datetime(2026, 3, 30, tzinfo=AMS)
    # Two calendar days that contain the spring-forward hour: 47 hours, not 48.
    # (Python subtracts same-zone datetimes as wall time, so compare in UTC.)
    assert holiday.end.astimezone(UTC) - holiday.start.astimezone(UTC) == timedelta(hours=47)


@pytest.mark.parametrize("tz", [AMS, NY], ids=str)
def test_floating_time_is_read_in_the_clients_zone(tz: ZoneInfo) -> None:
    floating = next(e for e in parse("allday_floating.ics", tz=tz).events if e.floating)
    assert floating.start == datetime(2026, 3, 30, 9, tzinfo=tz)
    assert floating.end == datetime(2026, 3, 30, 10, 30, tzinfo=tz)


def test_outlook_windows_zone_maps_to_iana() -> None:
    parsed = parse("outlook_windows_tz.ics")
    assert not parsed.quarantined
    (event,) = parsed.events
    assert parsed.method == "PUBLISH"
    assert event.start == datetime(2026, 11, 12, 10, tzinfo=AMS)
    assert event.start.utcoffset() == timedelta(hours=1)


def test_bad_items_quarantined_with_origin_and_reason_rest_kept() -> None:
    parsed = parse("nasty_mixed.ics")
    assert [e.uid for e in parsed.events] == ["good-1@example.org", "good-2@example.org"]
    reasons = {q.origin.item: q.reason for q in parsed.quarantined}
    assert set(reasons) == {
        "broken-rrule@example.org",
        "unknown-tz@example.org",
        "no-start@example.org",
    }
    assert reasons["broken-rrule@example.org"].startswith("broken RRULE")
    assert "Mars/Olympus_Mons" in reasons["unknown-tz@example.org"]
    assert reasons["no-start@example.org"] == "missing DTSTART"
    assert all(
        q.origin.account == "anna" and q.origin.collection == "nasty_mixed.ics"
        for q in parsed.quarantined
    )


def test_latin1_bytes_in_utf8_file_are_kept_and_reported() -> None:
    parsed = parse("latin1_in_utf8.ics")
    (event,) = parsed.events
    # é was Latin-1, the em dash real UTF-8: both must come out right.
    assert event.summary == "Café met Renée — planning"
    assert len(parsed.warnings) == 1 and "encoding" in parsed.warnings[0].reason
    assert not parsed.quarantined


def test_garbage_file_is_one_quarantine_entry() -> None:
    parsed = parse("not_a_calendar.ics")
    assert not parsed.events and not parsed.todos
    (entry,) = parsed.quarantined
    assert entry.reason == "not an iCalendar file"
    assert str(entry.origin) == "anna/not_a_calendar.ics"


def test_decode_text_strips_bom_and_reports_repair() -> None:
    assert decode_text(b"\xef\xbb\xbfabc") == ("abc", False)
    assert decode_text(b"caf\xe9") == ("café", True)


def test_item_fingerprints_change_only_for_the_changed_item() -> None:
    data = (DATA / "nasty_mixed.ics").read_bytes()
    before = item_fingerprints(data)
    after = item_fingerprints(data.replace(b"SUMMARY:Good two", b"SUMMARY:Good 2"))
    assert before is not None and after is not None
    assert {u for u in before if before[u] != after[u]} == {"good-2@example.org"}
    assert item_fingerprints(b"garbage") is None


def _plan_event(key: str = "anna-t1-0", **update: object) -> PlanEvent:
    event = PlanEvent(
        key=key,
        summary="Belasting",
        start=datetime(2026, 11, 16, 9, tzinfo=AMS),
        end=datetime(2026, 11, 16, 10, tzinfo=AMS),
        location="Kantoor",
        categories=("tax",),
    )
    return event.model_copy(update=update)


def test_plan_events_round_trip_as_ours() -> None:
    stamp = datetime(2026, 11, 15, tzinfo=UTC)
    events = [
        _plan_event(),
        _plan_event(
            "anna-t2-0",
            summary="Post",
            start=datetime(2026, 11, 16, 11, tzinfo=AMS),
            end=datetime(2026, 11, 16, 11, 30, tzinfo=AMS),
        ),
    ]
    data = build_plan_calendar(events, stamp=stamp)
    parsed = parse_calendar(
        data, origin=Origin(account="p"), start=stamp, end=stamp + timedelta(days=7), tz=AMS
    )
    assert [(e.uid, e.summary, e.start, e.ours) for e in parsed.events] == [
        (ev.uid, ev.summary, ev.start, True) for ev in events
    ]
    cal = icalendar.Calendar.from_ical(data)
    assert cal.walk("VTIMEZONE"), "zones must be embedded for clients that need them"
    assert [our_fingerprint(c) for c in cal.walk("VEVENT")] == [e.fingerprint for e in events]


def test_fingerprint_ignores_stamp_but_not_content() -> None:
    a = plan_event_ics(_plan_event(), stamp=datetime(2026, 1, 1, tzinfo=UTC))
    b = plan_event_ics(_plan_event(), stamp=datetime(2026, 2, 1, tzinfo=UTC))
    assert a != b
    fp = [our_fingerprint(icalendar.Calendar.from_ical(x).walk("VEVENT")[0]) for x in (a, b)]
    assert fp[0] == fp[1] == _plan_event().fingerprint
    assert _plan_event(summary="Other").fingerprint != fp[0]
    # Same instant in another zone is a different event for the person reading it.
    assert _plan_event(start=datetime(2026, 11, 16, 8, tzinfo=UTC)).fingerprint != fp[0]


def test_foreign_event_is_not_ours_even_with_our_prefix() -> None:
    cal = icalendar.Calendar.from_ical(
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:va-engine-plan-x\r\nDTSTART:20261116T090000Z\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert our_fingerprint(cal.walk("VEVENT")[0]) is None


def test_plan_to_events_keys_are_stable_and_numbered_per_task() -> None:
    def block(task: str, hour: int) -> PlannedBlock:
        return PlannedBlock(
            task_id=task,
            assistant_id="va",
            start=datetime(2026, 11, 16, hour, tzinfo=AMS),
            end=datetime(2026, 11, 16, hour, 45, tzinfo=AMS),
            location=Location(name="Client", lat=52.0, lon=5.0, address="Dorpsstraat 2")
            if task == "visit"
            else None,
        )

    plan = Plan(
        start=datetime(2026, 11, 16, tzinfo=AMS),
        end=datetime(2026, 11, 17, tzinfo=AMS),
        blocks=(block("t1", 13), block("t1", 9), block("visit", 11), block("odd id/é", 15)),
    )
    events = plan_to_events(plan, scope="va", titles={"t1": "Belasting"})
    assert [e.key for e in events[:3]] == ["va-t1-0", "va-t1-1", "va-visit-0"]
    assert events[0].start.hour == 9 and events[0].summary == "Belasting"
    assert events[2].location == "Dorpsstraat 2"
    assert events[3].key.startswith("va-odd_id__-0-")
    assert plan_to_events(plan, scope="va", titles={"t1": "Belasting"}) == events


def _one_event(body: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:x@t\r\n"
        f"{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("DTSTART:20261110T090000Z\r\nRRULE:FREQ=SECONDLY", "unsupported RRULE frequency SECONDLY"),
        ("DTSTART:20261110T090000Z\r\nRRULE:COUNT=3", "broken RRULE"),
        ("DTSTART:not-a-date", "bad DTSTART"),
        ("DTSTART:20261110T090000Z\r\nDTEND:20261110T1000", "bad DTEND"),
    ],
)
def test_more_broken_items(body: str, reason: str) -> None:
    parsed = parse_calendar(
        _one_event(body),
        origin=Origin(account="a"),
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 12, 1, tzinfo=UTC),
        tz=AMS,
    )
    assert parsed.events == ()
    (entry,) = parsed.quarantined
    assert entry.reason.startswith(reason)
    assert entry.origin.item == "x@t"


def test_event_without_end_lasts_zero_minutes_or_one_day() -> None:
    data = _one_event("DTSTART:20261110T090000Z").replace(
        b"END:VCALENDAR",
        b"BEGIN:VEVENT\r\nUID:d@t\r\nDTSTART;VALUE=DATE:20261111\r\nEND:VEVENT\r\nEND:VCALENDAR",
    )
    parsed = parse_calendar(
        data,
        origin=Origin(account="a"),
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 12, 1, tzinfo=UTC),
        tz=AMS,
    )
    moment, day = parsed.events
    assert moment.start == moment.end == datetime(2026, 11, 10, 9, tzinfo=UTC)
    assert (day.start, day.end) == (
        datetime(2026, 11, 11, tzinfo=AMS),
        datetime(2026, 11, 12, tzinfo=AMS),
    )
