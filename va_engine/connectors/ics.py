"""Sans-I/O iCalendar: bytes in, events/todos/quarantine out; plan events out as bytes.

Parsing goes through ``icalendar`` (never by hand) and recurrence through
``recurring-ical-events``. Each UID (master plus its RECURRENCE-ID overrides)
is checked and expanded on its own, so one broken item is quarantined with a
reason and the rest of the file still arrives. Windows zone names
("W. Europe Standard Time") are mapped to IANA by icalendar itself; a TZID
that neither the file's VTIMEZONE nor the tz database knows is quarantined
rather than guessed.

Bytes that are not UTF-8 (Latin-1 from old Outlook exports) are read per line
as Windows-1252 and reported in ``ParsedCalendar.warnings``: the items are
kept, because dropping someone's appointment over an accent loses real busy
time. Text that is not iCalendar at all is quarantined.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from va_engine.connectors.base import (
    PLAN_MARKER,
    PLAN_UID_PREFIX,
    CalendarEvent,
    Origin,
    ParsedCalendar,
    PlanEvent,
    Quarantined,
    TodoItem,
)
from va_engine.model import Plan

__all__ = [
    "PRODID",
    "build_plan_calendar",
    "decode_text",
    "item_fingerprints",
    "item_uid",
    "our_fingerprint",
    "parse_calendar",
    "plan_event_component",
    "plan_event_ics",
    "plan_to_events",
]

PRODID = "-//va-engine//plan//EN"

#: Properties whose parse errors make an item unusable (others, e.g. a bad
#: GEO or URL, are ignored: they do not change when the person is busy).
_VITAL = ("DTSTART", "DTEND", "DUE", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
_DATE_PROPS = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "COMPLETED")
# Occurrences are searched in a slightly wider range and clipped afterwards, so a
# floating event near the edge is judged in the client's zone, not in UTC.
_MARGIN = timedelta(hours=15)
_MAX_TEXT = 4000


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: read the bytes UTF-8 rejected as Windows-1252 (⊃ Latin-1)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bytes(bad).decode("cp1252", errors="replace"), exc.end


codecs.register_error("va_engine_cp1252", _cp1252_fallback)


def decode_text(data: bytes) -> tuple[str, bool]:
    """UTF-8 text of ``data`` and whether bytes had to be read as Windows-1252.

    Only the offending bytes are re-read, so a file mixing UTF-8 and Latin-1
    (an Outlook export edited elsewhere) keeps both right.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="va_engine_cp1252"), True


def parse_calendar(
    data: bytes,
    *,
    origin: Origin,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
) -> ParsedCalendar:
    """Events occurring in ``[start, end)`` (expanded) and all todos of one iCalendar blob.

    Never raises on bad input: an unreadable file is one quarantine entry, a
    broken item (bad RRULE, unknown TZID, no DTSTART …) is one entry per UID.
    Floating and all-day times are read as wall-clock time in ``tz``.
    """
    text, repaired = decode_text(data)
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # icalendar raises ValueError and friends on junk
        return ParsedCalendar(
            quarantined=(
                Quarantined(origin=origin, reason="not an iCalendar file", detail=_short(exc)),
            )
        )
    if not calendars:
        return ParsedCalendar(
            quarantined=(Quarantined(origin=origin, reason="no VCALENDAR in file"),)
        )
    result = ParsedCalendar()
    for cal in calendars:
        result = result + _parse_one(cal, origin, start, end, tz)
    if repaired:
        # Kept, but say so: the person may want to fix the exporting program.
        note = Quarantined(
            origin=origin,
            reason="bad encoding: not UTF-8, non-UTF-8 lines read as Windows-1252 (items kept)",
        )
        result = result.model_copy(update={"warnings": (*result.warnings, note)})
    return result


def _parse_one(
    cal: icalendar.Calendar, origin: Origin, start: datetime, end: datetime, tz: ZoneInfo
) -> ParsedCalendar:
    method = str(cal.get("METHOD")).upper() if cal.get("METHOD") else None
    timezones = list(cal.walk("VTIMEZONE"))
    groups: dict[str, list[icalendar.cal.Component]] = {}
    quarantined: list[Quarantined] = []
    todos: list[TodoItem] = []
    for component in cal.subcomponents:
        if component.name not in {"VEVENT", "VTODO"}:
            continue
        uid = item_uid(component)
        item_origin = origin if origin.item else origin.with_item(uid)
        try:
            problem = _problem(component)
        except Exception as exc:  # e.g. a property given twice that must be single
            problem = f"unusable {component.name}: {_short(exc)}"
        if problem is not None:
            quarantined.append(Quarantined(origin=item_origin, reason=problem, detail=uid))
            continue
        if component.name == "VTODO":
            try:
                todos.append(_todo(component, uid, item_origin, tz))
            except Exception as exc:
                quarantined.append(
                    Quarantined(origin=item_origin, reason="unusable VTODO", detail=_short(exc))
                )
            continue
        groups.setdefault(uid, []).append(component)

    events: list[CalendarEvent] = []
    for uid, components in groups.items():
        item_origin = origin if origin.item else origin.with_item(uid)
        try:
            events.extend(_expand(uid, components, timezones, item_origin, start, end, tz))
        except Exception as exc:  # recurring-ical-events raises many types on bad rules
            quarantined.append(
                Quarantined(
                    origin=item_origin,
                    reason="cannot expand recurrence",
                    detail=f"{uid}: {_short(exc)}",
                )
            )
    events.sort(key=lambda e: (e.start, e.uid))
    return ParsedCalendar(
        events=tuple(events),
        todos=tuple(todos),
        quarantined=tuple(quarantined),
        method=method,
    )


def item_uid(component: icalendar.cal.Component) -> str:
    """The UID, or a stable stand-in derived from the content when the item has none."""
    uid = str(component.get("UID") or "").strip()
    # vdir and CalDAV need a UID; a content hash keeps re-imports idempotent.
    return uid or "nouid-" + hashlib.sha256(component.to_ical()).hexdigest()[:16]


def item_fingerprints(data: bytes) -> dict[str, str] | None:
    """UID → content hash of every VEVENT/VTODO (overrides included), or None if unreadable.

    Lets a single-file calendar tell which items changed between two reads.
    """
    text, _ = decode_text(data)
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception:
        return None
    parts: dict[str, list[bytes]] = {}
    for cal in calendars:
        for component in cal.subcomponents:
            if component.name in {"VEVENT", "VTODO"}:
                parts.setdefault(item_uid(component), []).append(component.to_ical())
    return {
        uid: hashlib.sha256(b"\x00".join(sorted(chunks))).hexdigest()[:24]
        for uid, chunks in parts.items()
    }


def _problem(component: icalendar.cal.Component) -> str | None:
    """Why this VEVENT/VTODO cannot be used, or None."""
    for name, message in component.errors:
        if name in _VITAL:
            kind = "broken RRULE" if name in {"RRULE", "RDATE", "EXDATE"} else f"bad {name}"
            return f"{kind}: {message}"
    if component.name == "VEVENT" and component.get("DTSTART") is None:
        return "missing DTSTART"
    for name in _DATE_PROPS:
        prop = component.get(name)
        if prop is None:
            continue
        tzid = prop.params.get("TZID")
        value = prop.dt
        if tzid and isinstance(value, datetime) and value.tzinfo is None:
            return f"unknown TZID {tzid!r} in {name}"
    rrule = component.get("RRULE")
    if rrule is not None:
        for rule in rrule if isinstance(rrule, list) else [rrule]:
            freq = [str(f).upper() for f in rule.get("FREQ", [])]
            if not freq:
                return "broken RRULE: no FREQ"
            if freq[0] in {"SECONDLY", "MINUTELY"}:
                # No person's calendar needs these; expanding them could take minutes.
                return f"unsupported RRULE frequency {freq[0]}"
    return None


def _expand(
    uid: str,
    components: list[icalendar.cal.Component],
    timezones: list[icalendar.cal.Component],
    origin: Origin,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
) -> list[CalendarEvent]:
    recurring = len(components) > 1 or any(c.get("RRULE") or c.get("RDATE") for c in components)
    found: list[icalendar.cal.Component]
    if recurring:
        mini = icalendar.Calendar()
        for vtz in timezones:
            mini.add_component(vtz)
        for component in components:
            mini.add_component(component)
        found = recurring_ical_events.of(mini).between(start - _MARGIN, end + _MARGIN)
    else:
        # Most events happen once: no need for the expansion machinery (half the time).
        found = components
    events: list[CalendarEvent] = []
    for occurrence in found:
        event = _event(occurrence, uid, origin, tz, recurring)
        if (event.end > start and event.start < end) or (
            event.start == event.end and start <= event.start < end
        ):
            events.append(event)
    return events


def _event(
    occ: icalendar.cal.Component, uid: str, origin: Origin, tz: ZoneInfo, recurring: bool
) -> CalendarEvent:
    raw_start = occ.get("DTSTART").dt
    raw_end_prop = occ.get("DTEND")
    all_day = isinstance(raw_start, date) and not isinstance(raw_start, datetime)
    floating = isinstance(raw_start, datetime) and raw_start.tzinfo is None
    start = _aware(raw_start, tz)
    if raw_end_prop is not None:
        end = _aware(raw_end_prop.dt, tz)
    elif occ.get("DURATION") is not None:
        end = start + occ.get("DURATION").dt
    else:
        # RFC 5545: no DTEND/DURATION = one day for dates, zero length for date-times.
        end = start + timedelta(days=1) if all_day else start
    if end < start:
        end = start
    if all_day:
        # Wall-clock days: a day is 23 or 25 hours across DST, never "24 h after".
        end = datetime.combine(
            _as_date(raw_end_prop.dt) if raw_end_prop else _as_date(raw_start) + timedelta(days=1),
            time(0),
            tzinfo=tz,
        )
        if end <= start:
            end = datetime.combine(_as_date(raw_start) + timedelta(days=1), time(0), tzinfo=tz)
    rid_prop = occ.get("RECURRENCE-ID")
    recurrence_id = _aware(rid_prop.dt, tz) if (recurring and rid_prop is not None) else None
    transp = str(occ.get("TRANSP") or "").upper()
    status = str(occ.get("STATUS")).upper() if occ.get("STATUS") else None
    return CalendarEvent(
        uid=uid,
        recurrence_id=recurrence_id,
        summary=str(occ.get("SUMMARY") or ""),
        start=start,
        end=end,
        all_day=all_day,
        floating=floating,
        location=str(occ.get("LOCATION") or ""),
        attendees=tuple(_address(a) for a in _as_list(occ.get("ATTENDEE"))),
        organizer=_address(occ.get("ORGANIZER")) if occ.get("ORGANIZER") else None,
        status=status,
        transparent=transp == "TRANSPARENT",
        categories=_categories(occ),
        description=str(occ.get("DESCRIPTION") or "")[:_MAX_TEXT],
        ours=uid.startswith(PLAN_UID_PREFIX) and occ.get(PLAN_MARKER) is not None,
        origin=origin,
    )


def _todo(component: icalendar.cal.Component, uid: str, origin: Origin, tz: ZoneInfo) -> TodoItem:
    def when(name: str, *, end_of_day: bool = False) -> datetime | None:
        prop = component.get(name)
        if prop is None:
            return None
        value = prop.dt
        if end_of_day and not isinstance(value, datetime):
            return datetime.combine(value, time(23, 59), tzinfo=tz)
        return _aware(value, tz)

    duration = component.get("DURATION")
    minutes = int(duration.dt.total_seconds() // 60) if duration is not None else None
    priority = component.get("PRIORITY")
    try:
        prio = min(9, max(0, int(priority))) if priority is not None else 0
    except (TypeError, ValueError):
        prio = 0
    return TodoItem(
        uid=uid,
        summary=str(component.get("SUMMARY") or ""),
        start=when("DTSTART"),
        due=when("DUE", end_of_day=True),
        duration_minutes=max(0, minutes) if minutes is not None else None,
        priority=prio,
        status=str(component.get("STATUS")).upper() if component.get("STATUS") else None,
        completed=when("COMPLETED"),
        related_to=tuple(str(r) for r in _as_list(component.get("RELATED-TO"))),
        categories=_categories(component),
        description=str(component.get("DESCRIPTION") or "")[:_MAX_TEXT],
        origin=origin,
    )


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _aware(value: date, tz: ZoneInfo) -> datetime:
    """Dates become local midnight; floating times become wall-clock time in ``tz``."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=tz)
    if value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _address(value: Any) -> str:
    text = str(value)
    return text[7:] if text.lower().startswith("mailto:") else text


def _categories(component: icalendar.cal.Component) -> tuple[str, ...]:
    # Several CATEGORIES lines, each a comma list: icalendar gives a vCategory or a list.
    values: list[str] = []
    for prop in _as_list(component.get("CATEGORIES")):
        cats = getattr(prop, "cats", None)
        if cats is None:
            values.append(str(prop))
        else:
            values.extend(str(c) for c in cats)
    return tuple(values)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."


# --- plan out ---------------------------------------------------------------


def plan_event_component(event: PlanEvent, *, stamp: datetime) -> icalendar.Event:
    """A VEVENT for ``event``: stable UID, ``X-VA-ENGINE-PLAN`` = content fingerprint."""
    component = icalendar.Event()
    component.add("UID", event.uid)
    component.add("DTSTAMP", stamp.astimezone(UTC))
    component.add("DTSTART", event.start)
    component.add("DTEND", event.end)
    component.add("SUMMARY", event.summary)
    if event.description:
        component.add("DESCRIPTION", event.description)
    if event.location:
        component.add("LOCATION", event.location)
    if event.categories:
        component.add("CATEGORIES", list(event.categories))
    component.add("TRANSP", "OPAQUE")
    component.add(PLAN_MARKER, event.fingerprint)
    return component


def _calendar(components: Iterable[icalendar.Event], name: str | None) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    if name:
        cal.add("X-WR-CALNAME", name)
    for component in components:
        cal.add_component(component)
    cal.add_missing_timezones()
    return cal


def plan_event_ics(event: PlanEvent, *, stamp: datetime) -> bytes:
    """One VCALENDAR holding one plan VEVENT: a vdir item or a CalDAV resource."""
    return bytes(_calendar([plan_event_component(event, stamp=stamp)], None).to_ical())


def build_plan_calendar(
    events: Sequence[PlanEvent], *, stamp: datetime, name: str = "va-engine plan"
) -> bytes:
    """A whole plan as one .ics file (sorted by start, so diffs of the file stay readable)."""
    ordered = sorted(events, key=lambda e: (e.start, e.uid))
    return bytes(_calendar((plan_event_component(e, stamp=stamp) for e in ordered), name).to_ical())


def our_fingerprint(component: icalendar.cal.Component) -> str | None:
    """The plan fingerprint if va-engine created this VEVENT, else None (foreign: hands off)."""
    uid = str(component.get("UID") or "")
    marker = component.get(PLAN_MARKER)
    if component.name != "VEVENT" or not uid.startswith(PLAN_UID_PREFIX) or marker is None:
        return None
    return str(marker)


_KEY_CHARS = re.compile(r"[^A-Za-z0-9._@-]")


def plan_to_events(
    plan: Plan,
    *,
    scope: str,
    titles: Mapping[str, str] | None = None,
    assistant_id: str | None = None,
    tz: tzinfo | None = None,
) -> list[PlanEvent]:
    """The plan's blocks as events with keys stable across re-plans.

    Key = ``scope``-``task id``-``n`` where n numbers the task's blocks in time
    order, so re-planning the same tasks updates events instead of adding new ones.
    ``scope`` separates plans pushed into one calendar (e.g. the assistant id).
    """
    by_task: dict[str, list[Any]] = {}
    for block in sorted(plan.blocks, key=lambda b: (b.start, b.task_id)):
        if assistant_id is not None and block.assistant_id != assistant_id:
            continue
        by_task.setdefault(block.task_id, []).append(block)
    events: list[PlanEvent] = []
    for task_id, blocks in by_task.items():
        for n, block in enumerate(blocks):
            raw_key = f"{scope}-{task_id}-{n}"
            key = _KEY_CHARS.sub("_", raw_key)
            if key != raw_key:
                key += "-" + hashlib.sha256(raw_key.encode()).hexdigest()[:8]
            events.append(
                PlanEvent(
                    key=key,
                    summary=(titles or {}).get(task_id, task_id),
                    start=block.start.astimezone(tz) if tz else block.start,
                    end=block.end.astimezone(tz) if tz else block.end,
                    location=block.location.address or block.location.name
                    if block.location
                    else "",
                    description=f"task {task_id}",
                )
            )
    return events
