"""The example configuration and data that ship with va-engine (used by ``demo``).

The calendars and mailboxes in ``config/data`` are dated in a fixed reference
week. :func:`materialise` copies them to a working directory and moves every
date by whole weeks into the week of ``today``, so the demo always shows
"this week". Moving by whole weeks keeps weekdays, and adding a timedelta to
an aware datetime keeps its wall-clock time, so 09:00 stays 09:00 across DST.
"""

from __future__ import annotations

import email
import email.policy
import shutil
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from icalendar import Calendar

__all__ = ["REFERENCE_MONDAY", "example_config_dir", "materialise", "week_shift"]

#: Monday of the week the example files are dated in.
REFERENCE_MONDAY = date(2026, 1, 5)

_SHIFTED_PROPERTIES = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "COMPLETED")
_DATE_LISTS = ("EXDATE", "RDATE")
_DATED_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")


def example_config_dir() -> Path:
    """The shipped example config directory (read-only; copy before use)."""
    # A plain path (not importlib.resources): the demo copies whole trees, and
    # va-engine is never imported from a zip file.
    return Path(__file__).resolve().parent / "config"


def week_shift(today: date) -> timedelta:
    """Whole weeks from the reference week to the week containing ``today``."""
    monday = today - timedelta(days=today.weekday())
    return timedelta(weeks=(monday - REFERENCE_MONDAY).days // 7)


def materialise(destination: Path, *, today: date) -> Path:
    """Copy the example config to ``destination`` with its dates moved to ``today``'s week."""
    shutil.copytree(example_config_dir(), destination, dirs_exist_ok=True)
    delta = week_shift(today)
    data = destination / "data"
    for path in sorted(data.rglob("*.ics")):
        path.write_bytes(_shift_calendar(path.read_bytes(), delta))
    for maildir in sorted(p.parent for p in data.rglob("cur")):
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(exist_ok=True)
        for folder in ("Drafts", "Archive"):
            for sub in ("cur", "new", "tmp"):
                (maildir / f".{folder}" / sub).mkdir(parents=True, exist_ok=True)
        for message in (maildir / "cur").iterdir():
            message.write_bytes(_shift_mail(message.read_bytes(), delta))
    return destination


def _shift_calendar(data: bytes, delta: timedelta) -> bytes:
    calendar = Calendar.from_ical(data)
    # Only dated items move; VTIMEZONE rules describe the zone and must not.
    for component in (c for c in calendar.walk() if c.name in _DATED_COMPONENTS):
        for name in _SHIFTED_PROPERTIES:
            if name in component:
                value = component.decoded(name)
                component.pop(name)
                component.add(name, value + delta)
        for name in _DATE_LISTS:
            if name in component:
                values = component.get(name)
                groups = values if isinstance(values, list) else [values]
                moved = [item.dt + delta for group in groups for item in group.dts]
                component.pop(name)
                component.add(name, moved)
        rule: Any = component.get("RRULE")
        if rule is not None and "UNTIL" in rule:
            rule["UNTIL"] = [until + delta for until in rule["UNTIL"]]
    return bytes(calendar.to_ical())


def _shift_mail(data: bytes, delta: timedelta) -> bytes:
    message = email.message_from_bytes(data, policy=email.policy.default)
    header = message.get("Date")
    if header:
        sent: datetime = parsedate_to_datetime(str(header))
        del message["Date"]
        message["Date"] = format_datetime(sent + delta)
    # Invitations travel inside the mail: move their dates too.
    for part in message.walk():
        if part.get_content_type() == "text/calendar" and isinstance(part, EmailMessage):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                params = {k: v for k, v in part.get_params() or [] if k == "method"}
                part.set_content(
                    _shift_calendar(payload, delta),
                    maintype="text",
                    subtype="calendar",
                    disposition=part.get_content_disposition(),
                    filename=part.get_filename(),
                    params=params,
                )
    return message.as_bytes()
