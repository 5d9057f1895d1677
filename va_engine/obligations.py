"""Recurring obligations (tax returns, renewals, birthdays) and their expansion into a year.

Pure domain types: no I/O, no clock. An :class:`Obligation` says *what* recurs
and *when it is due*; :func:`expand` turns a list of them into the concrete
:class:`ObligationOccurrence` items of one year, one item per step, which the
year planner (:mod:`va_engine.planner.year`) spreads over weeks.

Recurrence is an iCalendar RRULE string or a friendly form (``yearly``,
``quarterly``, ``monthly``, ``weeks``). Friendly forms are compiled to RRULE
text and every rule is expanded by :mod:`dateutil.rrule`, so leap days, month
ends and DST follow RFC 5545 rather than hand-written date arithmetic.

Which year an occurrence belongs to is decided by its **deadline**: the plan
for 2027 holds everything due in 2027, and an item due in early January may be
planned in December 2026 (its lead time reaches back over the year boundary).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from va_engine.model import Client, SupportLevel

__all__ = [
    "DEFAULT_RESOURCE",
    "EveryNWeeks",
    "Monthly",
    "Obligation",
    "ObligationOccurrence",
    "Quarterly",
    "Recurrence",
    "Step",
    "Who",
    "Yearly",
    "compile_rule",
    "deadlines_in_year",
    "expand",
    "occurrences_by_group",
    "resolve_who",
]

#: Capacity key for work done by the assistant when an obligation names none.
DEFAULT_RESOURCE = "assistant"

Who = Literal["assistant", "client"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Yearly(_Frozen):
    """Due every year on ``month``/``day``; 29 February falls back to the 28th in common years."""

    every: Literal["year"] = "year"
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)

    @model_validator(mode="after")
    def _real_day(self) -> Self:
        # 2024 is a leap year, so this accepts 29 February and rejects 31 April.
        try:
            date(2024, self.month, self.day)
        except ValueError as exc:
            raise ValueError(f"no such day: month {self.month}, day {self.day}") from exc
        return self

    def rrule(self) -> str:
        if self.day >= 29:
            # "The last of the 28th…day": the day itself when the month has it, else
            # the month's last day (a 29 February birthday is 28 February in 2026).
            days = ",".join(str(d) for d in range(28, self.day + 1))
            return f"FREQ=YEARLY;BYMONTH={self.month};BYMONTHDAY={days};BYSETPOS=-1"
        return f"FREQ=YEARLY;BYMONTH={self.month};BYMONTHDAY={self.day}"


class Quarterly(_Frozen):
    """Due once per quarter: ``months_after`` the quarter's end, on ``day`` (-1 = last day).

    The Dutch VAT return (due by the end of the month after the quarter) is
    ``months_after=1, day=-1``: 30 April, 31 July, 31 October, 31 January.
    """

    every: Literal["quarter"] = "quarter"
    months_after: int = Field(default=1, ge=0, le=2)
    day: int = Field(default=-1, ge=-1, le=28)

    @model_validator(mode="after")
    def _nonzero(self) -> Self:
        if self.day == 0:
            raise ValueError("day must be 1..28, or -1 for the last day of the month")
        return self

    def rrule(self) -> str:
        # Quarters end in months 3, 6, 9, 12; a month index past 12 wraps into January.
        months = sorted((q + self.months_after - 1) % 12 + 1 for q in (3, 6, 9, 12))
        return f"FREQ=YEARLY;BYMONTH={','.join(map(str, months))};BYMONTHDAY={self.day}"


class Monthly(_Frozen):
    """Due every month on ``day`` (-1 = last day; 29–31 clamp to the month's last day)."""

    every: Literal["month"] = "month"
    day: int = Field(default=-1, ge=-1, le=31)

    @model_validator(mode="after")
    def _nonzero(self) -> Self:
        if self.day == 0:
            raise ValueError("day must be 1..31, or -1 for the last day of the month")
        return self

    def rrule(self) -> str:
        if self.day >= 29:
            days = ",".join(str(d) for d in range(28, self.day + 1))
            return f"FREQ=MONTHLY;BYMONTHDAY={days};BYSETPOS=-1"
        return f"FREQ=MONTHLY;BYMONTHDAY={self.day}"


class EveryNWeeks(_Frozen):
    """Due every ``weeks`` weeks on ``weekday``, counted from the week of ``anchor``."""

    every: Literal["weeks"] = "weeks"
    weeks: int = Field(default=1, ge=1, le=52)
    weekday: Literal["mo", "tu", "we", "th", "fr", "sa", "su"] = "fr"
    anchor: date = date(2024, 1, 1)

    def rrule(self) -> str:
        return f"FREQ=WEEKLY;INTERVAL={self.weeks};BYDAY={self.weekday.upper()}"


Friendly = Annotated[Yearly | Quarterly | Monthly | EveryNWeeks, Field(discriminator="every")]
#: An RRULE string (``"FREQ=YEARLY;BYMONTH=5;BYMONTHDAY=1"``, optionally with a
#: ``DTSTART`` line) or one of the friendly forms.
Recurrence = str | Friendly


class Step(_Frozen):
    """One part of an obligation's work, done in one week.

    ``weeks_before_next`` is the lead time to what follows: the next step may
    start no earlier than that many weeks later (documents requested in week
    10 with a 3-week lead can be filed from week 13). For the last step it is
    the margin before the deadline.
    """

    name: str = Field(min_length=1)
    hours: float = Field(gt=0, le=200)
    weeks_before_next: NonNegativeInt = 0


class Obligation(_Frozen):
    """Something that recurs and is due: a tax return, a renewal, a birthday gift.

    The recurrence gives the dates; ``offset_days`` moves the deadline relative
    to them (a gift is due 7 days before the birthday: ``offset_days = -7``).
    Work may start ``start_weeks_before`` weeks before the deadline. Effort is
    either ``effort_hours`` (one step) or a list of ``steps``.
    """

    name: str = Field(min_length=1)
    kind: str = "admin"
    effort_hours: float | None = Field(default=None, gt=0, le=200)
    steps: tuple[Step, ...] = ()
    recurrence: Recurrence
    anchor: date | None = None
    offset_days: int = Field(default=0, ge=-366, le=366)
    start_weeks_before: NonNegativeInt = Field(default=4, le=52)
    who: Who = "assistant"
    assistant_id: str | None = None
    needs_client: bool = False
    priority: int = Field(default=1, ge=1, le=10)
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.steps and self.effort_hours is not None:
            raise ValueError(
                f"obligation {self.name!r}: give either effort_hours or steps, not both"
            )
        if not self.steps and self.effort_hours is None:
            raise ValueError(f"obligation {self.name!r}: give effort_hours or a list of steps")
        span = sum(s.weeks_before_next for s in self.work_steps)
        if span > self.start_weeks_before:
            raise ValueError(
                f"obligation {self.name!r}: the steps' lead times add up to {span} weeks, "
                f"more than start_weeks_before ({self.start_weeks_before}); "
                f"raise start_weeks_before to at least {span}"
            )
        compile_rule(self)  # raises ValueError naming the obligation
        return self

    @property
    def work_steps(self) -> tuple[Step, ...]:
        """The steps, or one step named after the obligation when only hours are given."""
        if self.steps:
            return self.steps
        assert self.effort_hours is not None  # guaranteed by the validator
        return (Step(name=self.name, hours=self.effort_hours),)

    @property
    def total_hours(self) -> float:
        return sum(s.hours for s in self.work_steps)

    @property
    def rrule_text(self) -> str:
        """The recurrence as RRULE text (friendly forms compiled)."""
        if isinstance(self.recurrence, str):
            return self.recurrence.strip()
        return self.recurrence.rrule()


class ObligationOccurrence(_Frozen):
    """One step of one occurrence of an obligation: what the year planner places in a week.

    ``earliest`` and ``deadline`` already include the lead times of the
    surrounding steps; ``group`` ties the steps of one occurrence together and
    ``index`` orders them.
    """

    id: str
    group: str
    obligation: str
    step: str
    index: NonNegativeInt = 0
    steps: int = Field(default=1, ge=1)
    client_id: str | None = None
    kind: str = "admin"
    hours: float = Field(gt=0)
    earliest: date
    deadline: date
    due: datetime
    occurrence_deadline: date
    weeks_before_next: NonNegativeInt = 0
    who: Who = "assistant"
    resource: str = DEFAULT_RESOURCE
    needs_client: bool = False
    priority: int = Field(default=1, ge=1, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.due.tzinfo is None:
            raise ValueError(f"occurrence {self.id!r}: due must be timezone-aware")
        if self.deadline < self.earliest:
            raise ValueError(
                f"occurrence {self.id!r}: deadline {self.deadline} is before "
                f"earliest start {self.earliest}"
            )
        return self

    @property
    def involves_client(self) -> bool:
        """True when the client must be reachable (or does it): no-contact periods block it."""
        return self.needs_client or self.who == "client"

    @property
    def title(self) -> str:
        return self.obligation if self.steps == 1 else f"{self.obligation}: {self.step}"


_RANGES = {
    "BYMONTH": (1, 12),
    "BYMONTHDAY": (1, 31),
    "BYYEARDAY": (1, 366),
    "BYWEEKNO": (1, 53),
    "BYSETPOS": (1, 366),
    "BYHOUR": (0, 23),
    "BYMINUTE": (0, 59),
    "BYSECOND": (0, 60),
}
_SIGNED = {"BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS"}
_TOO_FINE = {"HOURLY", "MINUTELY", "SECONDLY"}


def _check_parts(text: str) -> None:
    """Range-check BYxxx parts: dateutil accepts BYMONTH=13 and then never yields a date."""
    rules = 0
    for line in text.splitlines():
        head = line.strip().upper()
        if not head or head.startswith(("DTSTART", "EXDATE", "RDATE", "EXRULE")):
            continue  # dateutil checks these
        body = line.split(":", 1)[1] if head.startswith("RRULE:") else line
        rules += 1
        for part in body.split(";"):
            key, sep, value = part.partition("=")
            key = key.strip().upper()
            if not sep:
                raise ValueError(
                    f"{part.strip()!r} is not a KEY=VALUE part (write e.g. FREQ=YEARLY;BYMONTH=5)"
                )
            if key == "FREQ" and value.strip().upper() in _TOO_FINE:
                raise ValueError(f"FREQ={value} is finer than a day; use DAILY or coarser")
            if key not in _RANGES:
                continue
            lo, hi = _RANGES[key]
            for item in value.split(","):
                try:
                    number = int(item)
                except ValueError:
                    raise ValueError(f"{key}={value}: {item!r} is not a number") from None
                if key in _SIGNED and number < 0:
                    number = -number
                if not lo <= number <= hi:
                    raise ValueError(f"{key}={value}: {item} is outside {lo}..{hi}")
    if rules != 1:
        raise ValueError("give exactly one RRULE")
    if not re.search(r"(^|[\s:;])FREQ=", text, re.IGNORECASE):
        raise ValueError("the rule has no FREQ (e.g. FREQ=YEARLY)")


def compile_rule(obligation: Obligation) -> rrule:
    """The obligation's recurrence as a dateutil rule; ValueError naming the obligation if bad.

    Without a DTSTART line the rule is anchored at ``anchor`` (default
    2000-01-01), which matters only for INTERVAL>1 and for yearly rules that
    name no month or day.
    """
    text = obligation.rrule_text
    if isinstance(obligation.recurrence, EveryNWeeks):
        anchor = obligation.recurrence.anchor
    else:
        anchor = obligation.anchor or date(2000, 1, 1)
    try:
        if not text:
            raise ValueError("the recurrence is empty")
        _check_parts(text)
        has_dtstart = re.search(r"(^|\n)\s*DTSTART", text, re.IGNORECASE) is not None
        kwargs: dict[str, Any] = (
            {} if has_dtstart else {"dtstart": datetime.combine(anchor, time())}
        )
        rule = rrulestr(text, forceset=False, **kwargs)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(
            f"obligation {obligation.name!r}: invalid recurrence {text!r}: {exc}"
        ) from exc
    if not isinstance(rule, rrule):
        raise ValueError(
            f"obligation {obligation.name!r}: recurrence {text!r} must be a single RRULE"
        )
    return rule


def _local_date(value: datetime, tz: ZoneInfo) -> date:
    if value.tzinfo is None:
        return value.date()
    return value.astimezone(tz).date()


def deadlines_in_year(obligation: Obligation, year: int, tz: ZoneInfo) -> list[date]:
    """The obligation's deadlines (recurrence dates + ``offset_days``) that fall in ``year``.

    Rule dates are read as local dates in ``tz``: a DTSTART in UTC late in the
    evening lands on the next local day in Amsterdam.
    """
    rule = compile_rule(obligation)
    margin = timedelta(days=abs(obligation.offset_days) + 2)
    lo = datetime(year, 1, 1) - margin
    hi = datetime(year + 1, 1, 1) + margin
    dtstart = rule._dtstart  # dateutil has no public accessor
    if dtstart is not None and dtstart.tzinfo is not None:
        lo, hi = lo.replace(tzinfo=tz), hi.replace(tzinfo=tz)
    found: set[date] = set()
    for when in rule.between(lo, hi, inc=True):
        deadline = _local_date(when, tz) + timedelta(days=obligation.offset_days)
        if deadline.year == year:
            found.add(deadline)
    return sorted(found)


def resolve_who(obligation: Obligation, client: Client | None) -> Who:
    """Who does the work: the client when their support level for the kind is leave_to_client."""
    if client is not None and client.level_for(obligation.kind) is SupportLevel.LEAVE_TO_CLIENT:
        return "client"
    return obligation.who


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "item"


def _end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """Midnight ending ``day`` in ``tz``: built from wall time, so a 23- or 25-hour day is right."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)


def expand(
    obligations: Iterable[Obligation],
    year: int,
    tz: ZoneInfo | str = "Europe/Amsterdam",
    *,
    client: Client | None = None,
) -> list[ObligationOccurrence]:
    """Every step of every occurrence due in ``year``, sorted by deadline.

    A step's window is derived from its occurrence: the occurrence may start
    ``start_weeks_before`` weeks before its deadline; each step's deadline is
    pushed earlier by the lead times of the steps after it and its earliest
    start later by the lead times before it. Ids are stable
    (``client/obligation/deadline#step``) so re-planning and ICS export keep them.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    client_id = client.id if client is not None else None
    prefix = f"{client_id}/" if client_id else ""
    result: list[ObligationOccurrence] = []
    seen: set[str] = set()
    for obligation in obligations:
        who = resolve_who(obligation, client)
        if who == "client":
            resource = f"client:{client_id}" if client_id else "client"
        else:
            resource = obligation.assistant_id or DEFAULT_RESOURCE
        steps = obligation.work_steps
        leads = [s.weeks_before_next for s in steps]
        for deadline in deadlines_in_year(obligation, year, zone):
            group = f"{prefix}{_slug(obligation.name)}/{deadline.isoformat()}"
            if group in seen:
                raise ValueError(
                    f"obligation {obligation.name!r} appears twice"
                    f"{f' for client {client_id!r}' if client_id else ''}: names must be unique"
                )
            seen.add(group)
            start = deadline - timedelta(weeks=obligation.start_weeks_before)
            for index, step in enumerate(steps):
                after = sum(leads[index:])
                before = sum(leads[:index])
                step_deadline = deadline - timedelta(weeks=after)
                step_earliest = min(start + timedelta(weeks=before), step_deadline)
                result.append(
                    ObligationOccurrence(
                        id=f"{group}#{index + 1}",
                        group=group,
                        obligation=obligation.name,
                        step=step.name,
                        index=index,
                        steps=len(steps),
                        client_id=client_id,
                        kind=obligation.kind,
                        hours=step.hours,
                        earliest=step_earliest,
                        deadline=step_deadline,
                        due=_end_of_day(step_deadline, zone),
                        occurrence_deadline=deadline,
                        weeks_before_next=step.weeks_before_next,
                        who=who,
                        resource=resource,
                        needs_client=obligation.needs_client,
                        priority=obligation.priority,
                    )
                )
    result.sort(key=lambda o: (o.occurrence_deadline, o.group, o.index))
    return result


def occurrences_by_group(
    occurrences: Sequence[ObligationOccurrence],
) -> dict[str, list[ObligationOccurrence]]:
    """Steps grouped per occurrence, in step order."""
    groups: dict[str, list[ObligationOccurrence]] = {}
    for occ in occurrences:
        groups.setdefault(occ.group, []).append(occ)
    for steps in groups.values():
        steps.sort(key=lambda o: o.index)
    return groups
