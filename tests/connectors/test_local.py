"""Local backends beyond the shared contract: file handling, ownership, Maildir flags."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from va_engine.connectors.base import (
    FLAG_DRAFT,
    FLAG_FLAGGED,
    FLAG_SEEN,
    PLAN_MARKER,
    PlanEvent,
    Quarantined,
)
from va_engine.connectors.local import (
    IcsFileCalendar,
    MaildirMailbox,
    VdirCalendar,
    local_calendar,
    read_eml_file,
    read_ics_file,
)
from va_engine.errors import ConnectorError, NotFoundError

DATA = Path(__file__).resolve().parent.parent / "data"
AMS = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 1, 1, tzinfo=AMS)
END = datetime(2027, 1, 1, tzinfo=AMS)


def fixed_clock() -> datetime:
    """A constant clock, so DTSTAMPs are deterministic."""
    return datetime(2026, 11, 15, tzinfo=UTC)


def plan(n: int) -> list[PlanEvent]:
    t0 = datetime(2026, 11, 16, 9, tzinfo=AMS)
    return [
        PlanEvent(
            key=f"va-t{i}-0",
            summary=f"T{i}",
            start=t0 + timedelta(hours=i),
            end=t0 + timedelta(hours=i, minutes=30),
        )
        for i in range(n)
    ]


def test_corpus_folder_as_vdir_quarantines_by_file_and_keeps_the_rest() -> None:
    calendar = VdirCalendar(DATA / "ics", account="demo")
    parsed = calendar.events(START, END, tz=AMS)
    by_file = {e.origin.item for e in parsed.events}
    assert {"normal.ics", "dst_weekly.ics", "outlook_windows_tz.ics", "nasty_mixed.ics"} <= by_file
    bad = {(q.origin.item, q.reason.split(":")[0]) for q in parsed.quarantined}
    assert ("nasty_mixed.ics", "broken RRULE") in bad
    assert ("nasty_mixed.ics", "missing DTSTART") in bad
    assert ("not_a_calendar.ics", "not an iCalendar file") in bad
    assert [w.origin.item for w in parsed.warnings] == ["latin1_in_utf8.ics"]
    assert [t.uid for t in calendar.todos(tz=AMS).todos] == [
        "todo-tax@example.org",
        "todo-done@example.org",
    ]


def test_ics_file_push_creates_then_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "plan.ics"
    calendar = IcsFileCalendar(path, clock=fixed_clock)
    assert len(calendar.push_plan(plan(2)).created) == 2
    mtime = path.stat().st_mtime_ns
    content = path.read_bytes()
    assert calendar.push_plan(plan(2), calendar="plan.ics").writes == 0
    assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content


def test_ics_file_push_keeps_foreign_events_with_their_properties(tmp_path: Path) -> None:
    path = tmp_path / "shared.ics"
    path.write_bytes((DATA / "ics" / "normal.ics").read_bytes())
    calendar = IcsFileCalendar(path, clock=fixed_clock)
    calendar.push_plan(plan(1))
    calendar.push_plan([])
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    dentist = next(c for c in cal.walk("VEVENT") if c["UID"] == "dentist-1@example.org")
    assert str(dentist["LOCATION"]) == "Kerkstraat 1, Utrecht"
    assert dentist.decoded("DTSTART") == datetime(2026, 11, 10, 14, tzinfo=AMS)
    assert sorted(str(c["UID"]) for c in cal.subcomponents if "UID" in c) == [
        "dentist-1@example.org",
        "lunch-free@example.org",
        "todo-done@example.org",
        "todo-tax@example.org",
    ]


def test_ics_file_refuses_to_push_into_garbage_or_another_calendar(tmp_path: Path) -> None:
    path = tmp_path / "x.ics"
    path.write_bytes(b"not a calendar")
    with pytest.raises(ConnectorError, match="not a readable iCalendar"):
        IcsFileCalendar(path).push_plan(plan(1))
    assert path.read_bytes() == b"not a calendar"
    with pytest.raises(NotFoundError):
        IcsFileCalendar(path).push_plan(plan(1), calendar="other")


def test_missing_files_and_folders_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        IcsFileCalendar(tmp_path / "nope.ics").events(START, END, tz=AMS)
    with pytest.raises(NotFoundError):
        VdirCalendar(tmp_path / "nope").events(START, END, tz=AMS)
    with pytest.raises(NotFoundError):
        MaildirMailbox(tmp_path)


def test_vdir_push_writes_one_file_per_event_and_never_overwrites_foreign_files(
    tmp_path: Path,
) -> None:
    calendar = VdirCalendar(tmp_path / "plan", clock=fixed_clock)
    calendar.push_plan(plan(2))
    files = sorted(p.name for p in (tmp_path / "plan").iterdir())
    assert files == ["va-engine-plan-va-t0-0.ics", "va-engine-plan-va-t1-0.ics"]
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "plan").iterdir()}
    assert calendar.push_plan(plan(2)).writes == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "plan").iterdir()} == mtimes

    # A file that looks like ours by name but lacks the marker is someone else's.
    impostor = tmp_path / "plan" / "va-engine-plan-va-t0-0.ics"
    impostor.write_bytes(impostor.read_bytes().replace(PLAN_MARKER.encode(), b"X-SOMEONE-ELSE"))
    with pytest.raises(ConnectorError, match="not created by va-engine"):
        calendar.push_plan(plan(2))
    assert calendar.push_plan(plan(0)).deleted == ("va-engine-plan-va-t1-0",)
    assert impostor.exists()


def test_vdir_sync_with_an_unusable_state_starts_over(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.ics").write_bytes((DATA / "ics" / "normal.ics").read_bytes())
    calendar = VdirCalendar(tmp_path / "c")
    changes = calendar.sync("{not json", start=START, end=END, tz=AMS)
    assert changes.reset and changes.changed_items == ("a.ics",)
    assert len(changes.events) == 2 and len(changes.todos) == 2


def test_local_calendar_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(local_calendar(tmp_path), VdirCalendar)
    assert isinstance(local_calendar(tmp_path / "x.ics"), IcsFileCalendar)


def test_maildir_flags_map_to_imap_names(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path / "m", create=True, account="anna")
    raw = mailbox.Maildir(tmp_path / "m")
    message = mailbox.MaildirMessage((DATA / "mail" / "plain_rfc2047.eml").read_bytes())
    message.set_subdir("cur")
    message.set_flags("FS")
    key = raw.add(message)
    (msg,) = box.fetch("INBOX", None).messages
    assert msg.id == key and msg.flags == {FLAG_FLAGGED, FLAG_SEEN}
    box.flag([key], "INBOX", FLAG_FLAGGED, on=False)
    assert raw.get_message(key).get_flags() == "S"
    with pytest.raises(ValueError, match="cannot store flag"):
        box.flag([key], "INBOX", "$Junk")
    with pytest.raises(NotFoundError):
        box.move(["no-such-key"], "INBOX", "Archive")


def test_maildir_draft_is_in_cur_with_the_draft_flag(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path / "m", create=True)
    draft = EmailMessage()
    draft["Subject"] = "Concept"
    draft.set_content("tekst")
    key = box.save_draft(draft)
    drafts = mailbox.Maildir(tmp_path / "m").get_folder("Drafts")
    assert "D" in drafts.get_message(key).get_flags()
    assert drafts.get_message(key).get_subdir() == "cur"
    (msg,) = box.fetch("Drafts", None).messages
    assert FLAG_DRAFT in msg.flags and msg.subject == "Concept"
    with pytest.raises(NotFoundError):
        box.fetch("Nope", None)


def test_read_helpers_for_inspect() -> None:
    parsed = read_ics_file(DATA / "ics" / "nasty_mixed.ics", tz=AMS, start=START, end=END)
    assert len(parsed.events) == 2 and len(parsed.quarantined) == 3
    assert parsed.quarantined[0].origin.collection == "nasty_mixed.ics"
    message = read_eml_file(DATA / "mail" / "invoice_pdf.eml", tz=AMS)
    assert not isinstance(message, Quarantined) and message.subject == "Factuur 2026-0042"
    assert isinstance(read_eml_file(DATA / "mail" / "empty.eml"), Quarantined)
    with pytest.raises(NotFoundError):
        read_eml_file(DATA / "mail" / "nope.eml")


def test_ics_file_refuses_a_foreign_item_with_our_uid(tmp_path: Path) -> None:
    path = tmp_path / "x.ics"
    IcsFileCalendar(path, clock=fixed_clock).push_plan(plan(1))
    path.write_bytes(path.read_bytes().replace(PLAN_MARKER.encode(), b"X-SOMEONE-ELSE"))
    before = path.read_bytes()
    with pytest.raises(ConnectorError, match="not created by va-engine"):
        IcsFileCalendar(path, clock=fixed_clock).push_plan(plan(1))
    assert path.read_bytes() == before
