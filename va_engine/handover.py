"""The finished schedule, handed over so the client can run it alone.

:func:`build_handover` is pure (data and ``now`` in, a :class:`Handover` out):
it plans the client's routine (their habits) into one reference week with the
real planner, lists the year's obligations with due dates, what was taught at
which level (from the ledger), procedures, contacts, and the aftercare
check-ins at +2 weeks, +6 weeks and +3 months (as planner tasks for the
assistant). :func:`write_handover` is the edge that writes the files:

``schedule.ics``
    the week routine as weekly recurring VEVENTs (``COUNT`` = weeks) and the
    obligations as VTODOs with DUE; built with icalendar, stable UIDs so a
    second import replaces instead of duplicating.
``handover.md``, ``handover.html``, ``handover.pdf``
    the printable binder, rendered from Jinja2 templates in
    ``va_engine/templates/handover``; the PDF with WeasyPrint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import icalendar
from dateutil.relativedelta import relativedelta
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from va_engine.errors import ConfigError, VaEngineError
from va_engine.ledger import task_key
from va_engine.model import (
    Assistant,
    Client,
    DayWindow,
    Habit,
    LedgerEntry,
    Mode,
    PlanningProblem,
    SupportLevel,
    Task,
)
from va_engine.obligations import Obligation, ObligationOccurrence, expand

__all__ = [
    "AFTERCARE",
    "Contact",
    "Handover",
    "HandoverContent",
    "Procedure",
    "RoutineItem",
    "TaughtItem",
    "aftercare_tasks",
    "build_handover",
    "handover_ics",
    "render_html",
    "render_markdown",
    "write_handover",
    "write_pdf",
]

PRODID = "-//va-engine//handover//EN"
TEMPLATES = Path(__file__).resolve().parent / "templates" / "handover"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: Aftercare check-ins after the handover: (label, offset).
AFTERCARE: tuple[tuple[str, relativedelta], ...] = (
    ("2 weeks", relativedelta(weeks=2)),
    ("6 weeks", relativedelta(weeks=6)),
    ("3 months", relativedelta(months=3)),
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Procedure(_Frozen):
    """How something is done, step by step (e.g. how the post is handled)."""

    title: str
    steps: tuple[str, ...] = ()


class Contact(_Frozen):
    name: str
    role: str = ""
    phone: str = ""
    email: str = ""
    note: str = ""


class HandoverContent(_Frozen):
    """What the organizer writes for the binder (``data/<client>/handover.toml``)."""

    intro: str = ""
    procedures: tuple[Procedure, ...] = Field(default=(), alias="procedure")
    contacts: tuple[Contact, ...] = Field(default=(), alias="contact")
    catalogue: tuple[str, ...] = ()
    obligations: tuple[dict[str, Any], ...] = Field(default=(), alias="obligation")
    habits: tuple[dict[str, Any], ...] = Field(default=(), alias="habit")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


@dataclass(frozen=True)
class RoutineItem:
    """One weekly slot of the routine, in the client's wall-clock time."""

    habit_id: str
    title: str
    kind: str
    weekday: int
    start: time
    end: time
    first: date

    @property
    def day_name(self) -> str:
        return WEEKDAYS[self.weekday]

    @property
    def minutes(self) -> int:
        return (
            datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        ).seconds // 60


@dataclass(frozen=True)
class TaughtItem:
    task: str
    kind: str
    level: SupportLevel
    last_day: date
    taught_minutes: int


@dataclass(frozen=True)
class Handover:
    client: Client
    generated: datetime
    start: date
    weeks: int
    routine: tuple[RoutineItem, ...]
    unplanned: tuple[str, ...]
    obligations: tuple[ObligationOccurrence, ...]
    taught: tuple[TaughtItem, ...]
    content: HandoverContent
    aftercare: tuple[Task, ...]
    assistant_name: str = ""

    @property
    def months(self) -> dict[str, list[ObligationOccurrence]]:
        """Obligations grouped by the month of their due date (year overview)."""
        result: dict[str, list[ObligationOccurrence]] = {}
        for occ in self.obligations:
            result.setdefault(f"{occ.deadline:%Y-%m}", []).append(occ)
        return result

    @property
    def routine_by_day(self) -> list[tuple[str, list[RoutineItem]]]:
        return [
            (name, [r for r in self.routine if r.weekday == number])
            for number, name in enumerate(WEEKDAYS)
            if any(r.weekday == number for r in self.routine)
        ]


def aftercare_tasks(
    client: Client, handed_over: date, *, assistant_id: str | None = None
) -> list[Task]:
    """Check-in calls for the assistant's plan, each due within a week of its date."""
    tz = client.tz
    tasks: list[Task] = []
    for label, offset in AFTERCARE:
        day = handed_over + offset
        release = datetime.combine(day, time(8), tzinfo=tz)
        key = "aftercare-" + label.replace(" ", "")
        tasks.append(
            Task(
                id=f"{client.id}:{key}",
                title=f"Aftercare {client.name}: check-in after {label}",
                client_id=client.id,
                kind="call",
                duration_minutes=30,
                release=release,
                deadline=release + timedelta(days=7),
                weight=2,
                assistant_id=assistant_id,
                source="handover",
                external_id=key,
            )
        )
    return tasks


def _routine_windows(habits: Sequence[Habit]) -> tuple[DayWindow, ...]:
    windows = {(w.weekday, w.start, w.end) for h in habits for w in h.windows}
    if not windows:
        return tuple(DayWindow(weekday=d, start=time(9), end=time(17)) for d in range(5))
    return tuple(DayWindow(weekday=d, start=s, end=e) for d, s, e in sorted(windows))


def _plan_routine(
    client: Client, habits: Sequence[Habit], monday: date, time_limit_s: float
) -> tuple[list[RoutineItem], list[str]]:
    """Place the habits in one week, as the client alone would do them."""
    if not habits:
        return [], []
    from va_engine.planner import PlanLimits, plan

    tz = client.tz
    start = datetime.combine(monday, time(), tzinfo=tz)
    end = datetime.combine(monday + timedelta(days=7), time(), tzinfo=tz)
    person = Assistant(
        id=client.id,
        name=client.name,
        timezone=client.timezone,
        working_hours=_routine_windows(habits),
    )
    own = tuple(h.model_copy(update={"assistant_id": None, "client_id": None}) for h in habits)
    problem = PlanningProblem(start=start, end=end, assistants=(person,), habits=own)
    result = plan(problem, PlanLimits(time_limit_s=time_limit_s, workers=1), now=start)
    titles = {h.id: h for h in habits}
    items: list[RoutineItem] = []
    for block in sorted(result.blocks, key=lambda b: b.start):
        habit = titles.get(block.task_id)
        if habit is None:
            continue
        local_start, local_end = block.start.astimezone(tz), block.end.astimezone(tz)
        items.append(
            RoutineItem(
                habit_id=habit.id,
                title=habit.title,
                kind=habit.kind,
                weekday=local_start.weekday(),
                start=local_start.time(),
                end=local_end.time(),
                first=local_start.date(),
            )
        )
    return items, [f"{u.task_id}: {u.reason}" for u in result.unplanned]


def _taught(entries: Iterable[LedgerEntry]) -> list[TaughtItem]:
    latest: dict[str, LedgerEntry] = {}
    minutes: dict[str, int] = {}
    for entry in sorted(entries, key=lambda e: (e.day, e.id or 0)):
        key = task_key(entry.task)
        latest[key] = entry
        if entry.mode is Mode.TAUGHT:
            minutes[key] = minutes.get(key, 0) + entry.minutes
    items = [
        TaughtItem(
            task=latest[key].task,
            kind=latest[key].kind,
            level=latest[key].level,
            last_day=latest[key].day,
            taught_minutes=total,
        )
        for key, total in minutes.items()
    ]
    return sorted(items, key=lambda t: (-t.level.rank, t.task.casefold()))


def build_handover(
    client: Client,
    *,
    habits: Sequence[Habit],
    obligations: Sequence[Obligation],
    entries: Sequence[LedgerEntry],
    content: HandoverContent | None = None,
    now: datetime,
    weeks: int = 12,
    assistant: Assistant | None = None,
    time_limit_s: float = 3.0,
) -> Handover:
    """Everything the binder and the calendar file hold; pure apart from the planner's search.

    The routine starts on the Monday after ``now`` and repeats ``weeks`` times;
    obligations due in the coming 12 months are listed.
    """
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    today = now.astimezone(client.tz).date()
    monday = today + timedelta(days=7 - today.weekday())
    routine, unplanned = _plan_routine(client, habits, monday, time_limit_s)
    horizon = today + relativedelta(months=12)
    occurrences = [
        occ
        for year in (today.year, today.year + 1)
        for occ in expand(obligations, year, client.tz, client=client)
        if today <= occ.deadline <= horizon
    ]
    occurrences.sort(key=lambda o: (o.deadline, o.id))
    stray = {e.client_id for e in entries if e.client_id != client.id}
    if stray:
        raise ValueError(f"entries of other clients {sorted(stray)} passed for {client.id!r}")
    return Handover(
        client=client,
        generated=now,
        start=monday,
        weeks=weeks,
        routine=tuple(routine),
        unplanned=tuple(unplanned),
        obligations=tuple(occurrences),
        taught=tuple(_taught(entries)),
        content=content or HandoverContent(),
        aftercare=tuple(
            aftercare_tasks(client, today, assistant_id=assistant.id if assistant else None)
        ),
        assistant_name=assistant.name if assistant else "",
    )


_UID_CHARS = re.compile(r"[^A-Za-z0-9._/-]+")


def _uid(key: str) -> str:
    return _UID_CHARS.sub("_", key) + "@va-engine-handover"


def handover_ics(handover: Handover, *, now: datetime) -> bytes:
    """The routine as weekly VEVENTs and the obligations as VTODOs, one VCALENDAR."""
    tz = handover.client.tz
    stamp = now.astimezone(UTC)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{handover.client.name}: schedule")
    seen: dict[str, int] = {}
    for item in handover.routine:
        n = seen[item.habit_id] = seen.get(item.habit_id, 0) + 1
        event = icalendar.Event()
        event.add("uid", _uid(f"{handover.client.id}/routine/{item.habit_id}/{n}"))
        event.add("dtstamp", stamp)
        event.add("dtstart", datetime.combine(item.first, item.start, tzinfo=tz))
        event.add("dtend", datetime.combine(item.first, item.end, tzinfo=tz))
        event.add("summary", item.title)
        event.add("categories", [item.kind])
        event.add("rrule", {"freq": "weekly", "count": handover.weeks})
        cal.add_component(event)
    for occ in handover.obligations:
        todo = icalendar.Todo()
        todo.add("uid", _uid(occ.id))
        todo.add("dtstamp", stamp)
        todo.add("summary", occ.title)
        todo.add("dtstart", datetime.combine(occ.earliest, time(9), tzinfo=tz))
        todo.add("due", occ.due.astimezone(tz))
        todo.add("categories", [occ.kind])
        todo.add("status", "NEEDS-ACTION")
        todo.add("description", f"{occ.hours:g} h; {'you' if occ.who == 'client' else 'assistant'}")
        cal.add_component(todo)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2.html"], default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hm"] = lambda value: f"{value:%H:%M}"
    env.filters["level"] = lambda level: str(getattr(level, "value", level)).replace("_", " ")
    return env


def _context(handover: Handover) -> dict[str, Any]:
    return {"h": handover, "client": handover.client, "content": handover.content}


def render_markdown(handover: Handover) -> str:
    return _environment().get_template("handover.md.j2").render(_context(handover))


def render_html(handover: Handover) -> str:
    env = _environment()
    env.autoescape = True
    return env.get_template("handover.html.j2").render(_context(handover))


def write_pdf(html: str, target: Path, *, base: Path | None = None) -> None:
    """Render ``html`` to ``target`` with WeasyPrint (needs Pango on the system)."""
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:  # OSError: Pango missing
        raise VaEngineError(
            f"cannot make the PDF: WeasyPrint is not usable ({exc})",
            hint="pip install weasyprint and install Pango (apt-get install libpango-1.0-0 "
            "libpangoft2-1.0-0), or use --no-pdf",
        ) from None
    HTML(string=html, base_url=str(base or target.parent)).write_pdf(target)


def write_handover(
    handover: Handover, out: Path, *, now: datetime, pdf: bool = True
) -> Mapping[str, Path]:
    """Write schedule.ics, handover.md, handover.html (and handover.pdf) into ``out``."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out}: {exc.strerror}") from None
    files = {
        "ics": out / "schedule.ics",
        "md": out / "handover.md",
        "html": out / "handover.html",
    }
    files["ics"].write_bytes(handover_ics(handover, now=now))
    files["md"].write_text(render_markdown(handover), encoding="utf-8")
    html = render_html(handover)
    files["html"].write_text(html, encoding="utf-8")
    if pdf:
        files["pdf"] = out / "handover.pdf"
        write_pdf(html, files["pdf"])
    return files
