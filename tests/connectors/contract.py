"""Contract tests every calendar and mail backend must pass, local or networked.

A backend's test module supplies a *harness* (how to change things upstream
behind the connector's back) and calls the ``check_*`` functions, e.g.::

    from tests.connectors.contract import CALENDAR_CHECKS, MAIL_CHECKS

    @pytest.mark.parametrize("check", CALENDAR_CHECKS, ids=lambda c: c.__name__)
    def test_caldav_contract(check, caldav_harness):
        check(caldav_harness)

The checks only use the Protocols of ``va_engine.connectors.base`` plus the
harness, and they read item ids back from what the backend reports (a vdir
file name, a CalDAV href, a Maildir key, an IMAP UID), never assume them.
Every check wants a fresh, empty collection/mailbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from va_engine.connectors.base import (
    FLAG_DRAFT,
    FLAG_FLAGGED,
    CalendarSink,
    CalendarSource,
    MailSink,
    MailSource,
    PlanEvent,
)

DATA = Path(__file__).resolve().parent.parent / "data"
TZ = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 11, 1, tzinfo=TZ)
END = datetime(2026, 12, 1, tzinfo=TZ)


class CalendarHarness(Protocol):
    """One empty calendar collection, with a way to change it behind the connector's back."""

    source: CalendarSource
    sink: CalendarSink
    #: the ``calendar`` argument for ``push_plan`` that targets this same collection
    plan_calendar: str

    def put(self, name: str, data: bytes) -> None:
        """Create or replace the upstream item ``name`` (a file name / resource name)."""

    def delete(self, name: str) -> None:
        """Delete the upstream item ``name``."""


class MailHarness(Protocol):
    """One empty mailbox with INBOX, and a way to deliver/expunge behind the connector's back."""

    source: MailSource
    sink: MailSink

    def deliver(self, folder: str, data: bytes) -> None: ...

    def expunge(self, folder: str, message_id: str) -> None:
        """Remove message ``message_id`` (as the backend reported it) from ``folder``."""


def ics_file(name: str) -> bytes:
    return (DATA / "ics" / name).read_bytes()


def eml_file(name: str) -> bytes:
    return (DATA / "mail" / name).read_bytes()


def _event_ics(uid: str, summary: str, start: str, end: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//contract//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


# --- calendars ----------------------------------------------------------------


def check_calendar_reads_expanded_events_and_todos(h: CalendarHarness) -> None:
    h.put("standup.ics", ics_file("recurring_exdate_override.ics"))
    h.put(
        "dentist.ics", _event_ics("dentist@x", "Tandarts", "20261110T130000Z", "20261110T140000Z")
    )
    h.put(
        "todo.ics",
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//contract//EN\r\nBEGIN:VTODO\r\n"
        b"UID:todo@x\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Pay rent\r\n"
        b"DUE:20261115T170000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
    )
    parsed = h.source.events(START, END, tz=TZ)
    standups = sorted(e.start for e in parsed.events if e.uid == "standup@example.org")
    # 5 daily, minus the EXDATE on the 4th; the 5th moved to 13:00.
    assert [s.astimezone(TZ).strftime("%d %H:%M") for s in standups] == [
        "02 09:00",
        "03 09:00",
        "05 13:00",
        "06 09:00",
    ]
    dentist = next(e for e in parsed.events if e.uid == "dentist@x")
    assert dentist.start == datetime(2026, 11, 10, 13, tzinfo=UTC)
    assert dentist.origin.item, "events must name the item they came from"
    assert not parsed.quarantined
    todos = h.source.todos(tz=TZ).todos
    assert [(t.uid, t.summary, t.due) for t in todos] == [
        ("todo@x", "Pay rent", datetime(2026, 11, 15, 17, tzinfo=UTC))
    ]


def check_calendar_quarantines_bad_items_and_keeps_good_ones(h: CalendarHarness) -> None:
    h.put("good.ics", _event_ics("good@x", "Good", "20261110T080000Z", "20261110T090000Z"))
    h.put(
        "bad-rrule.ics",
        _event_ics("bad@x", "Bad", "20261110T100000Z", "20261110T110000Z").replace(
            b"SUMMARY:Bad", b"SUMMARY:Bad\r\nRRULE:FREQ=SOMETIMES"
        ),
    )
    parsed = h.source.events(START, END, tz=TZ)
    assert [e.uid for e in parsed.events] == ["good@x"]
    assert len(parsed.quarantined) == 1
    bad = parsed.quarantined[0]
    assert "RRULE" in bad.reason
    assert bad.origin.account and bad.origin.item


def check_calendar_sync_is_incremental(h: CalendarHarness) -> None:
    h.put("a.ics", _event_ics("a@x", "A", "20261110T080000Z", "20261110T090000Z"))
    first = h.source.sync(None, start=START, end=END, tz=TZ)
    assert {e.uid for e in first.events} == {"a@x"}
    item_a = next(e.origin.item for e in first.events)

    again = h.source.sync(first.state, start=START, end=END, tz=TZ)
    assert again.unchanged and not again.events

    h.put("b.ics", _event_ics("b@x", "B", "20261111T080000Z", "20261111T090000Z"))
    added = h.source.sync(again.state, start=START, end=END, tz=TZ)
    assert not added.reset
    assert [e.uid for e in added.events] == ["b@x"]
    assert item_a not in added.changed_items

    h.put("a.ics", _event_ics("a@x", "A moved", "20261112T080000Z", "20261112T090000Z"))
    changed = h.source.sync(added.state, start=START, end=END, tz=TZ)
    assert [(e.uid, e.summary) for e in changed.events] == [("a@x", "A moved")]
    assert item_a in changed.changed_items

    h.delete("a.ics")
    removed = h.source.sync(changed.state, start=START, end=END, tz=TZ)
    assert removed.removed_items == (item_a,)
    assert not removed.events


def _plan(n: int, *, shift: int = 0) -> list[PlanEvent]:
    base = datetime(2026, 11, 16, 9, tzinfo=TZ)
    return [
        PlanEvent(
            key=f"c-t{i}-0",
            summary=f"Task {i}",
            start=base + timedelta(hours=i + shift),
            end=base + timedelta(hours=i + shift, minutes=45),
        )
        for i in range(n)
    ]


def check_plan_push_is_idempotent_and_spares_foreign_events(h: CalendarHarness) -> None:
    foreign = _event_ics("foreign@x", "Not ours", "20261116T100000Z", "20261116T110000Z")
    h.put("foreign.ics", foreign)

    first = h.sink.push_plan(_plan(3), calendar=h.plan_calendar)
    assert len(first.created) == 3 and first.writes == 3

    second = h.sink.push_plan(_plan(3), calendar=h.plan_calendar)
    assert second.writes == 0 and len(second.unchanged) == 3

    changed = _plan(2)
    changed[1] = changed[1].model_copy(update={"summary": "Task 1 (renamed)"})
    third = h.sink.push_plan(changed, calendar=h.plan_calendar)
    assert (len(third.created), len(third.updated), len(third.deleted)) == (0, 1, 1)

    events = h.source.events(START, END, tz=TZ).events
    ours = sorted((e.summary for e in events if e.ours), key=str)
    assert ours == ["Task 0", "Task 1 (renamed)"]
    survivor = [e for e in events if e.uid == "foreign@x"]
    assert len(survivor) == 1 and survivor[0].summary == "Not ours" and not survivor[0].ours

    # Emptying the plan deletes our events only.
    last = h.sink.push_plan([], calendar=h.plan_calendar)
    assert len(last.deleted) == 2
    left = h.source.events(START, END, tz=TZ).events
    assert [e.uid for e in left] == ["foreign@x"]


def check_complete_todo(h: CalendarHarness) -> None:
    h.put(
        "todo.ics",
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//contract//EN\r\nBEGIN:VTODO\r\n"
        b"UID:todo-c@x\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Call bank\r\n"
        b"STATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
    )
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert h.sink.complete_todo("todo-c@x", at=at) is True
    todo = next(t for t in h.source.todos(tz=TZ).todos if t.uid == "todo-c@x")
    assert todo.done and todo.completed == at
    assert h.sink.complete_todo("todo-c@x", at=at) is False
    assert h.sink.complete_todo("no-such-todo@x", at=at) is False


CALENDAR_CHECKS: tuple[Callable[[CalendarHarness], None], ...] = (
    check_calendar_reads_expanded_events_and_todos,
    check_calendar_quarantines_bad_items_and_keeps_good_ones,
    check_calendar_sync_is_incremental,
    check_plan_push_is_idempotent_and_spares_foreign_events,
    check_complete_todo,
)


# --- mail ---------------------------------------------------------------------


def check_mail_fetch_is_incremental(h: MailHarness) -> None:
    h.deliver("INBOX", eml_file("plain_rfc2047.eml"))
    h.deliver("INBOX", eml_file("invoice_pdf.eml"))
    first = h.source.fetch("INBOX", None)
    subjects = sorted(m.subject for m in first.messages)
    assert subjects == ["Factuur 2026-0042", "Vergadering over de begroting — dinsdag"]
    assert all(m.folder == "INBOX" and m.origin.account for m in first.messages)

    again = h.source.fetch("INBOX", first.state)
    assert again.unchanged

    h.deliver("INBOX", eml_file("missing_date.eml"))
    new = h.source.fetch("INBOX", again.state)
    assert [m.subject for m in new.messages] == ["Wachten op antwoord"]
    assert new.messages[0].date is None

    invoice = next(m for m in first.messages if m.subject.startswith("Factuur"))
    h.sink.flag([invoice.id], "INBOX", FLAG_FLAGGED, True)
    flagged = h.source.fetch("INBOX", new.state)
    assert not flagged.messages
    assert FLAG_FLAGGED in flagged.flag_changes[invoice.id]

    h.expunge("INBOX", invoice.id)
    gone = h.source.fetch("INBOX", flagged.state)
    assert gone.removed_ids == (invoice.id,)


def check_mail_quarantines_broken_messages(h: MailHarness) -> None:
    h.deliver("INBOX", eml_file("broken_boundary.eml"))
    h.deliver("INBOX", eml_file("meeting_request.eml"))
    batch = h.source.fetch("INBOX", None)
    assert [m.subject for m in batch.messages] == ["Uitnodiging: Kwartaaloverleg"]
    assert len(batch.messages[0].invitations) == 1
    assert len(batch.quarantined) == 1
    assert "boundary" in batch.quarantined[0].reason
    assert batch.quarantined[0].origin.item
    # Quarantined once, not again on every sync.
    assert h.source.fetch("INBOX", batch.state).unchanged


def check_drafts_and_move(h: MailHarness) -> None:
    draft = EmailMessage()
    draft["From"] = "va@example.org"
    draft["To"] = "client@example.org"
    draft["Subject"] = "Herinnering: factuur"
    draft.set_content("Beste klant,\n\nDit is een herinnering.\n")
    h.sink.save_draft(draft, "Drafts")
    drafts = h.source.fetch("Drafts", None).messages
    assert [m.subject for m in drafts] == ["Herinnering: factuur"]
    assert FLAG_DRAFT in drafts[0].flags

    h.deliver("INBOX", eml_file("invoice_pdf.eml"))
    inbox = h.source.fetch("INBOX", None)
    h.sink.create_folder("Archive")
    h.sink.move([inbox.messages[0].id], "INBOX", "Archive")
    assert not h.source.fetch("INBOX", None).messages
    archived = h.source.fetch("Archive", None).messages
    assert [m.subject for m in archived] == ["Factuur 2026-0042"]
    assert "Archive" in h.source.folders()


MAIL_CHECKS: tuple[Callable[[MailHarness], None], ...] = (
    check_mail_fetch_is_incremental,
    check_mail_quarantines_broken_messages,
    check_drafts_and_move,
)
