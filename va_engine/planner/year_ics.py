"""Year plan as iCalendar: a VTODO per planned step, a VEVENT per deadline.

Other calendar apps (Thunderbird, khal, todoman, phones via CalDAV) read it,
so the client can carry on with the plan alone. Steps of one occurrence hang
under a parent VTODO (``RELATED-TO;RELTYPE=PARENT``), later steps also point
at the step before them (``RELTYPE=DEPENDS-ON``, RFC 9253). UIDs come from the
occurrence ids, so exporting the same plan again replaces rather than duplicates.
Pure: ``now`` (for DTSTAMP) is passed in.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Todo

from va_engine.obligations import ObligationOccurrence
from va_engine.planner.year import YearPlan, iso_week

__all__ = ["split_calendar", "year_plan_to_ics"]

PRODID = "-//va-engine//year plan//EN"
_DOMAIN = "va-engine"


def _uid(key: str) -> str:
    return f"{key}@{_DOMAIN}"


def _ical_priority(priority: int) -> int:
    """Our 1 (low)…10 (high) to iCalendar's 9 (low)…1 (high)."""
    return max(1, min(9, 10 - priority))


def year_plan_to_ics(
    plan: YearPlan,
    tz: ZoneInfo | str,
    *,
    now: datetime,
    name: str | None = None,
) -> bytes:
    """The plan as one VCALENDAR (with the VTIMEZONE it needs), UTF-8 bytes."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name or f"Year plan {plan.year}")
    stamp = now.astimezone(ZoneInfo("UTC"))

    planned: dict[str, date] = {p.occurrence.id: p.week for p in plan.placements}
    reasons = {u.occurrence.id: u.reason for u in plan.unplanned}
    steps = [p.occurrence for p in plan.placements] + [u.occurrence for u in plan.unplanned]
    groups: dict[str, list[ObligationOccurrence]] = {}
    for occ in steps:
        groups.setdefault(occ.group, []).append(occ)

    for group in sorted(groups):
        members = sorted(groups[group], key=lambda o: o.index)
        last = members[-1]
        occurrence_due = datetime.combine(
            last.occurrence_deadline + timedelta(days=1), time(), tzinfo=zone
        )
        parent_uid = _uid(group)
        if last.steps > 1:
            parent = Todo()
            parent.add("uid", parent_uid)
            parent.add("dtstamp", stamp)
            parent.add("summary", last.obligation)
            parent.add("due", occurrence_due)
            parent.add("categories", [last.kind])
            parent.add("priority", _ical_priority(last.priority))
            parent.add("status", "NEEDS-ACTION")
            cal.add_component(parent)
        previous: str | None = None
        for occ in members:
            todo = Todo()
            uid = _uid(occ.id) if occ.steps > 1 else parent_uid
            todo.add("uid", uid)
            todo.add("dtstamp", stamp)
            todo.add("summary", occ.title)
            week = planned.get(occ.id)
            if week is not None:
                todo.add("dtstart", datetime.combine(week, time(), tzinfo=zone))
                text = f"Planned in week {iso_week(week)}; deadline {occ.deadline.isoformat()}."
            else:
                text = f"Not planned: {reasons.get(occ.id, 'unknown reason')}"
            todo.add("due", occ.due)
            todo.add("description", f"{text} {occ.hours:g} h ({occ.who}).")
            todo.add("categories", [occ.kind])
            todo.add("priority", _ical_priority(occ.priority))
            todo.add("status", "NEEDS-ACTION")
            if occ.steps > 1:
                todo.add("related-to", parent_uid, parameters={"RELTYPE": "PARENT"})
                if previous is not None:
                    todo.add("related-to", previous, parameters={"RELTYPE": "DEPENDS-ON"})
            previous = uid
            cal.add_component(todo)

        event = Event()
        event.add("uid", _uid(f"deadline/{group}"))
        event.add("dtstamp", stamp)
        event.add("summary", f"Deadline: {last.obligation}")
        event.add("dtstart", last.occurrence_deadline)
        event.add("dtend", last.occurrence_deadline + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
        event.add("categories", [last.kind])
        event.add("related-to", parent_uid)
        cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def split_calendar(ics: bytes) -> dict[str, bytes]:
    """One calendar per VTODO/VEVENT (with its VTIMEZONEs), keyed by a safe ``<uid>.ics`` name.

    That is the vdir layout khal, todoman and vdirsyncer read; writing the
    files is the caller's job.
    """
    source = Calendar.from_ical(ics)
    zones = list(source.walk("VTIMEZONE"))
    result: dict[str, bytes] = {}
    for component in source.subcomponents:
        if component.name not in ("VTODO", "VEVENT"):
            continue
        cal = Calendar()
        cal.add("prodid", PRODID)
        cal.add("version", "2.0")
        for zone in zones:
            cal.add_component(zone)
        cal.add_component(component)
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", str(component["UID"])) + ".ics"
        result[filename] = bytes(cal.to_ical())
    return result
