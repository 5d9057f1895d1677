"""Client assignments: concrete homework that shows whether the client can carry on alone.

The assistant gives the client an assignment with a due date ("file this
week's post every Friday"); when the client reports it done, it lands in the
ledger as the client's own work (mode ``taught``, source ``assignment``),
which feeds the independence index. Pure: dates in, dates and entries out.
Repeats are RFC 5545 RRULE text expanded by :mod:`dateutil.rrule`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Literal

from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from va_engine.model import LedgerEntry, Mode, SupportLevel

__all__ = [
    "Assignment",
    "AssignmentStatus",
    "check_rrule",
    "due_assignments",
    "next_due",
    "outcome_entry",
]

AssignmentStatus = Literal["open", "done", "missed", "cancelled"]


def check_rrule(text: str) -> str:
    """``text`` if it is an RRULE dateutil can expand (``FREQ=WEEKLY;BYDAY=FR``)."""
    rule = text.strip().removeprefix("RRULE:")
    try:
        rrulestr(rule, dtstart=datetime(2000, 1, 3))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid repeat rule {text!r}: {exc}") from None
    return rule


class Assignment(BaseModel):
    """Homework for the client, due on ``due``; with ``every`` it comes back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int | None = None
    client_id: str
    task: str = Field(min_length=1)
    kind: str = "admin"
    due: date
    every: str | None = None
    #: The first due date: the repeat rule counts (COUNT, INTERVAL) from here.
    first_due: date | None = None
    minutes: PositiveInt = 15
    level: SupportLevel = SupportLevel.LEAVE_TO_CLIENT
    status: AssignmentStatus = "open"
    created: date | None = None
    done_count: int = 0
    missed_count: int = 0

    @field_validator("every")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        return check_rrule(value) if value else None


def next_due(assignment: Assignment) -> date | None:
    """The occurrence after the current due date, or None when it does not repeat (or ended)."""
    if not assignment.every:
        return None
    anchor = datetime.combine(assignment.first_due or assignment.due, time())
    rule = rrulestr(assignment.every, dtstart=anchor)
    following = rule.after(datetime.combine(assignment.due, time()), inc=False)
    return following.date() if isinstance(following, datetime) else None


def outcome_entry(
    assignment: Assignment, *, day: date, minutes: int | None = None, note: str = ""
) -> LedgerEntry:
    """The ledger entry for an assignment the client did: their own work, not billable."""
    return LedgerEntry(
        client_id=assignment.client_id,
        task=assignment.task,
        day=day,
        minutes=minutes or assignment.minutes,
        mode=Mode.TAUGHT,
        level=assignment.level,
        kind=assignment.kind,
        billable=False,
        source="assignment",
        note=note or f"assignment due {assignment.due.isoformat()}",
    )


def due_assignments(assignments: Iterable[Assignment], today: date) -> list[Assignment]:
    """Open assignments due on or before ``today``: the ones to ask the client about."""
    return sorted(
        (a for a in assignments if a.status == "open" and a.due <= today),
        key=lambda a: (a.due, a.id or 0),
    )
