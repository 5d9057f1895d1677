"""The connector contract over the local backends: vdir, single .ics file, Maildir."""

from __future__ import annotations

import mailbox
from collections.abc import Callable
from pathlib import Path

import icalendar
import pytest

from tests.connectors.contract import (
    CALENDAR_CHECKS,
    MAIL_CHECKS,
    CalendarHarness,
    MailHarness,
)
from va_engine.connectors.base import CalendarSink, CalendarSource, MailSink, MailSource
from va_engine.connectors.local import IcsFileCalendar, MaildirMailbox, VdirCalendar


class VdirHarness:
    def __init__(self, root: Path) -> None:
        self.path = root / "work"
        self.path.mkdir()
        calendar = VdirCalendar(self.path, account="anna")
        self.source: CalendarSource = calendar
        self.sink: CalendarSink = calendar
        self.plan_calendar = "work"

    def put(self, name: str, data: bytes) -> None:
        (self.path / name).write_bytes(data)

    def delete(self, name: str) -> None:
        (self.path / name).unlink()


class IcsFileHarness:
    """Items live as VEVENT/VTODOs inside one file; ``name`` tags them for put/delete."""

    def __init__(self, root: Path) -> None:
        self.path = root / "calendar.ics"
        self.path.write_bytes(
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n"
        )
        calendar = IcsFileCalendar(self.path, account="anna")
        self.source: CalendarSource = calendar
        self.sink: CalendarSink = calendar
        self.plan_calendar = "calendar.ics"
        self.items: dict[str, list[str]] = {}

    def _write(self, mutate: Callable[[icalendar.Calendar], None]) -> None:
        cal = icalendar.Calendar.from_ical(self.path.read_bytes())
        mutate(cal)
        self.path.write_bytes(cal.to_ical())

    def put(self, name: str, data: bytes) -> None:
        incoming = icalendar.Calendar.from_ical(data)
        uids = [str(c["UID"]) for c in incoming.subcomponents if "UID" in c]

        def mutate(cal: icalendar.Calendar) -> None:
            old = set(self.items.get(name, ()))
            cal.subcomponents = [c for c in cal.subcomponents if str(c.get("UID")) not in old]
            for component in incoming.subcomponents:
                cal.add_component(component)

        self._write(mutate)
        self.items[name] = uids

    def delete(self, name: str) -> None:
        gone = set(self.items.pop(name))
        self._write(
            lambda cal: setattr(
                cal,
                "subcomponents",
                [c for c in cal.subcomponents if str(c.get("UID")) not in gone],
            )
        )


class MaildirHarness:
    def __init__(self, root: Path) -> None:
        self.path = root / "mail"
        box = MaildirMailbox(self.path, account="anna", create=True)
        self.source: MailSource = box
        self.sink: MailSink = box

    def _box(self, folder: str) -> mailbox.Maildir:
        root = mailbox.Maildir(self.path, create=False)
        return root if folder == "INBOX" else root.get_folder(folder)

    def deliver(self, folder: str, data: bytes) -> None:
        self._box(folder).add(mailbox.MaildirMessage(data))

    def expunge(self, folder: str, message_id: str) -> None:
        self._box(folder).remove(message_id)


CALENDAR_HARNESSES: dict[str, Callable[[Path], CalendarHarness]] = {
    "vdir": VdirHarness,
    "ics-file": IcsFileHarness,
}


@pytest.mark.parametrize("kind", sorted(CALENDAR_HARNESSES))
@pytest.mark.parametrize("check", CALENDAR_CHECKS, ids=lambda c: c.__name__)
def test_calendar_contract(
    check: Callable[[CalendarHarness], None], kind: str, tmp_path: Path
) -> None:
    check(CALENDAR_HARNESSES[kind](tmp_path))


@pytest.mark.parametrize("check", MAIL_CHECKS, ids=lambda c: c.__name__)
def test_mail_contract(check: Callable[[MailHarness], None], tmp_path: Path) -> None:
    check(MaildirHarness(tmp_path))


def test_local_backends_satisfy_the_protocols(tmp_path: Path) -> None:
    (tmp_path / "cal").mkdir()
    vdir = VdirCalendar(tmp_path / "cal")
    ics_file = IcsFileCalendar(tmp_path / "x.ics")
    maildir = MaildirMailbox(tmp_path / "mail", create=True)
    for calendar in (vdir, ics_file):
        assert isinstance(calendar, CalendarSource) and isinstance(calendar, CalendarSink)
    assert isinstance(maildir, MailSource) and isinstance(maildir, MailSink)
