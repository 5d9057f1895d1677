"""Pure domain types of va-engine: no I/O, no clock, no settings.

Every datetime is timezone-aware; every zone is an IANA name checked against
the tz database. Durations are whole minutes, which is the planner's unit and
what people write in config files. Models are frozen so a plan can never be
changed behind the planner's back; use ``model_copy(update=...)`` to derive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

__all__ = [
    "CLIENT_FACING_KINDS",
    "Agreement",
    "Assistant",
    "BreakRule",
    "Busy",
    "Client",
    "DayWindow",
    "Habit",
    "LatePlacement",
    "LedgerEntry",
    "Location",
    "Mode",
    "Plan",
    "PlanStatus",
    "PlannedBlock",
    "PlanningProblem",
    "SupportLevel",
    "Task",
    "TimeWindow",
    "Unplanned",
    "check_timezone",
    "expand_windows",
    "total_minutes",
]


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA zone known to the tz database."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Amsterdam'"
        ) from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
Minutes = NonNegativeInt


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SupportLevel(StrEnum):
    """The situational support ladder; a good engagement moves tasks down it."""

    TAKE_OVER = "take_over"
    INSTRUCT = "instruct"
    GUIDE = "guide"
    COACH = "coach"
    LEAVE_TO_CLIENT = "leave_to_client"

    @property
    def rank(self) -> int:
        """0 for take_over … 4 for leave_to_client: higher means more independent."""
        return list(SupportLevel).index(self)


class Mode(StrEnum):
    """Whether work was done *for* the client or *taught to* the client."""

    FOR = "for"
    TAUGHT = "taught"


#: Task kinds that involve talking to the client, so they must respect the
#: client's reachability windows.
CLIENT_FACING_KINDS: frozenset[str] = frozenset({"call", "meeting", "appointments", "visit"})


class Location(_Frozen):
    """A place on the map; the planner measures travel between these."""

    name: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str = ""


class TimeWindow(_Frozen):
    """A concrete interval ``[start, end)`` in absolute time."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"time window ends ({self.end}) before it starts ({self.start})")
        return self

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


class DayWindow(_Frozen):
    """A recurring weekly window in local wall-clock time, e.g. Mon 09:00–17:00.

    ``weekday`` is 0 for Monday, as in :meth:`datetime.weekday`.
    """

    weekday: int = Field(ge=0, le=6)
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")
        return self

    def on(self, day: date, tz: ZoneInfo) -> TimeWindow | None:
        """This window on ``day`` as absolute time, or None if ``day`` is another weekday.

        Built from wall-clock times in ``tz`` so it stays 09:00–17:00 across DST.
        """
        if day.weekday() != self.weekday:
            return None
        return TimeWindow(
            start=datetime.combine(day, self.start, tzinfo=tz),
            end=datetime.combine(day, self.end, tzinfo=tz),
        )


def expand_windows(
    windows: Iterable[DayWindow], start: datetime, end: datetime, tz: ZoneInfo
) -> list[TimeWindow]:
    """All occurrences of weekly ``windows`` that intersect ``[start, end)``, clipped to it."""
    result: list[TimeWindow] = []
    windows = list(windows)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    while day <= last:
        for window in windows:
            occurrence = window.on(day, tz)
            if occurrence is None:
                continue
            lo, hi = max(occurrence.start, start), min(occurrence.end, end)
            if lo < hi:
                result.append(TimeWindow(start=lo, end=hi))
        day += timedelta(days=1)
    return sorted(result, key=lambda w: w.start)


class BreakRule(_Frozen):
    """A flexible break: ``minutes`` long, somewhere between ``earliest`` and ``latest``."""

    earliest: time = time(12, 0)
    latest: time = time(14, 0)
    minutes: PositiveInt = 30

    @model_validator(mode="after")
    def _fits(self) -> Self:
        span = (
            datetime.combine(date.min, self.latest) - datetime.combine(date.min, self.earliest)
        ).total_seconds() // 60
        if span < self.minutes:
            raise ValueError(
                f"break of {self.minutes} min does not fit between "
                f"{self.earliest} and {self.latest}"
            )
        return self


class Agreement(_Frozen):
    """What a client delegated, how much, at what rate, and when they may be contacted."""

    delegated_kinds: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()
    hours_per_period: float | None = Field(default=None, ge=0)
    period: Literal["week", "month"] = "month"
    hourly_rate: float = Field(default=0.0, ge=0)
    currency: str = "EUR"
    reachability: tuple[DayWindow, ...] = ()
    session_minutes: PositiveInt | None = None


class Client(_Frozen):
    """A person or business served by the assistant."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    timezone: TimeZoneName = "Europe/Amsterdam"
    address: Location | None = None
    agreement: Agreement = Agreement()
    support_levels: dict[str, SupportLevel] = Field(default_factory=dict)
    email: str | None = None
    language: str = "nl"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def level_for(self, kind: str) -> SupportLevel:
        return self.support_levels.get(kind, SupportLevel.TAKE_OVER)


class Assistant(_Frozen):
    """The VA or organizer doing the work (or a client's own staff member)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    timezone: TimeZoneName = "Europe/Amsterdam"
    working_hours: tuple[DayWindow, ...] = ()
    breaks: tuple[BreakRule, ...] = ()
    max_minutes_per_day: PositiveInt | None = None
    home: Location | None = None
    skills: frozenset[str] = frozenset()
    travel_mode: Literal["car", "bike", "walk", "transit"] = "car"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Task(_Frozen):
    """A unit of work to plan."""

    id: str = Field(min_length=1)
    title: str
    client_id: str | None = None
    kind: str = "admin"
    duration_minutes: PositiveInt
    release: AwareDatetime | None = None
    deadline: AwareDatetime | None = None
    hard_deadline: bool = False
    weight: PositiveInt = 1
    windows: tuple[TimeWindow, ...] = ()
    location: Location | None = None
    splittable: bool = False
    min_chunk_minutes: PositiveInt = 15
    predecessors: tuple[str, ...] = ()
    assistant_id: str | None = None
    skill: str | None = None
    source: str | None = None
    external_id: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.release and self.deadline and self.deadline < self.release:
            raise ValueError(
                f"task {self.id!r}: deadline {self.deadline.isoformat()} is before "
                f"release {self.release.isoformat()}"
            )
        if self.splittable and self.min_chunk_minutes > self.duration_minutes:
            raise ValueError(
                f"task {self.id!r}: min chunk {self.min_chunk_minutes} min is longer than "
                f"the task ({self.duration_minutes} min)"
            )
        if self.id in self.predecessors:
            raise ValueError(f"task {self.id!r} cannot be its own predecessor")
        return self

    @property
    def is_visit(self) -> bool:
        return self.location is not None

    @property
    def client_facing(self) -> bool:
        return self.kind in CLIENT_FACING_KINDS


class Habit(_Frozen):
    """A routine: ``times_per_week`` sessions of ``minutes`` in ``windows``, on different days."""

    id: str = Field(min_length=1)
    title: str
    client_id: str | None = None
    kind: str = "admin"
    times_per_week: PositiveInt
    minutes: PositiveInt
    windows: tuple[DayWindow, ...] = ()
    assistant_id: str | None = None
    weight: PositiveInt = 1


class Busy(_Frozen):
    """Fixed time from a calendar that nothing may overlap.

    Whose time it is decides what it blocks: with ``assistant_id`` it blocks
    that assistant's work; with only ``client_id`` the *client* is busy, which
    blocks that client's client-facing tasks (calls, meetings) but not the
    assistant's desk work. With neither it blocks every assistant.
    """

    start: AwareDatetime
    end: AwareDatetime
    assistant_id: str | None = None
    client_id: str | None = None
    title: str = "busy"
    location: Location | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"busy block {self.title!r} ends before it starts")
        return self


class PlannedBlock(_Frozen):
    """One contiguous piece of a task, assigned to an assistant."""

    task_id: str
    assistant_id: str
    start: AwareDatetime
    end: AwareDatetime
    travel_before_minutes: Minutes = 0
    location: Location | None = None

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


class Unplanned(_Frozen):
    """A task left out, with a reason a person understands."""

    task_id: str
    reason: str
    code: str = "other"


class LatePlacement(_Frozen):
    """A task planned after its (soft) deadline, and why it could not be earlier."""

    task_id: str
    minutes_late: PositiveInt
    reason: str


class PlanStatus(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    HEURISTIC = "heuristic"
    INFEASIBLE = "infeasible"


class Plan(_Frozen):
    """The result of planning: blocks, what was left out and why, and how good it is."""

    start: AwareDatetime
    end: AwareDatetime
    blocks: tuple[PlannedBlock, ...] = ()
    unplanned: tuple[Unplanned, ...] = ()
    late: tuple[LatePlacement, ...] = ()
    objective: float = 0.0
    bound: float | None = None
    status: PlanStatus = PlanStatus.HEURISTIC
    solver: str = "greedy"
    seconds: float = 0.0

    @property
    def gap(self) -> float | None:
        """Relative gap between objective and bound, or None when no bound is known."""
        if self.bound is None:
            return None
        if self.objective == 0:
            return 0.0
        return max(0.0, (self.objective - self.bound) / abs(self.objective))

    def blocks_for(self, assistant_id: str) -> list[PlannedBlock]:
        return sorted((b for b in self.blocks if b.assistant_id == assistant_id), key=_start)


def _start(block: PlannedBlock) -> datetime:
    return block.start


class PlanningProblem(_Frozen):
    """Everything the planner needs, as data. Built by the CLI or daemon, never by the planner."""

    start: AwareDatetime
    end: AwareDatetime
    assistants: tuple[Assistant, ...]
    tasks: tuple[Task, ...] = ()
    busy: tuple[Busy, ...] = ()
    clients: tuple[Client, ...] = ()
    habits: tuple[Habit, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end <= self.start:
            raise ValueError("planning horizon ends before it starts")
        if not self.assistants:
            raise ValueError("a planning problem needs at least one assistant")
        _unique("assistant", (a.id for a in self.assistants))
        _unique("task", (t.id for t in self.tasks))
        assistant_ids = {a.id for a in self.assistants}
        for task in self.tasks:
            if task.assistant_id and task.assistant_id not in assistant_ids:
                raise ValueError(
                    f"task {task.id!r} requires unknown assistant {task.assistant_id!r}"
                )
        return self

    def client(self, client_id: str | None) -> Client | None:
        return next((c for c in self.clients if c.id == client_id), None)

    def assistant(self, assistant_id: str) -> Assistant:
        return next(a for a in self.assistants if a.id == assistant_id)


def _unique(what: str, ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} id {item!r}")
        seen.add(item)


class LedgerEntry(_Frozen):
    """What happened: work done for, or taught to, a client."""

    client_id: str
    task: str
    day: date
    minutes: PositiveInt
    mode: Mode
    level: SupportLevel = SupportLevel.TAKE_OVER
    kind: str = "admin"
    billable: bool = True
    source: Literal["manual", "workflow", "plan", "assignment", "import"] = "manual"
    note: str = ""
    id: int | None = None


def total_minutes(blocks: Sequence[PlannedBlock]) -> int:
    return sum(b.minutes for b in blocks)
