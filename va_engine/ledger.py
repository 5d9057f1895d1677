"""Ledger figures: work done *for* versus *taught to* a client, and what it says.

Pure: ledger entries, the client's agreement and ``now`` go in; figures come
out. No store, no clock. The CLI (``va-engine report ledger``), the session
report and the handover all read the same figures from here.

The figures and how they are computed (the tests work them out by hand):

hours per month
    minutes per calendar month split by mode (``for``/``taught``); the
    client's own work reported through assignments (source ``assignment``)
    is kept apart as ``client_own`` because nobody is paid for it.
support level per kind over time
    per task kind and month, the level of the *last* entry of that month;
    ``progress`` counts ladder steps moved down (take_over → leave_to_client).
independence index
    a task is *recurring* when it was logged on at least
    ``LedgerParams.recurring_min_days`` different days. At the end of a month
    each recurring task that has started is in the state of its latest entry
    so far (carried forward: a task the client now does alone is often no
    longer logged); the index is the share of those whose latest level is
    ``leave_to_client``.
hour budget
    billable minutes of the assistant (assignments excluded) in the period
    (month or ISO week) that contains ``now``. Forecast: the average burn per
    elapsed day (``now``'s day included) projected forward; the exhaustion
    day is the first day on which the projection reaches the budget, or the
    actual day it was reached. Warnings at 80 % and 100 % (of use, and of the
    forecast before the period ends).
boundary signals
    ``overrun``: a day whose manual/plan minutes exceed the agreed
    ``session_minutes``; ``unreachable``: a contact (kinds in
    :data:`CONTACT_KINDS`) on a day, or at a time, outside the agreed
    reachability windows; ``handback``: a task that was taught and then done
    *for* the client again at least ``handback_threshold`` times
    (attachment risk).

JSON schema (stable, ``schema_id = "va-engine/ledger/1"``): the field names of
:class:`ClientLedger` and the models it holds, minutes as integers, hours as
floats rounded to 2 decimals, dates as ISO strings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from va_engine.model import Client, LedgerEntry, Mode, SupportLevel, Task

__all__ = [
    "CONTACT_KINDS",
    "SCHEMA",
    "Budget",
    "ClientLedger",
    "IndependencePoint",
    "LedgerParams",
    "LevelTrack",
    "MonthHours",
    "Signal",
    "boundary_signals",
    "budget_status",
    "client_ledger",
    "entry_for_task",
    "hours_per_month",
    "independence",
    "level_tracks",
    "month_key",
    "parse_seed",
    "task_key",
]

SCHEMA = "va-engine/ledger/1"

#: Kinds of entries that mean the assistant was in contact with the client,
#: so they must fall inside the agreed reachability windows. ("appointments"
#: is not here: making appointments *for* a client is desk work.)
CONTACT_KINDS: frozenset[str] = frozenset({"call", "meeting", "visit", "session", "contact"})

#: Sources of work the assistant did (and may bill); the client's own work
#: arrives with source ``assignment``.
_ASSISTANT_SOURCES = frozenset({"manual", "workflow", "plan", "import"})
_SESSION_SOURCES = frozenset({"manual", "plan"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class LedgerParams:
    """Thresholds of the figures; defaults follow the issue (80 %/100 %, 2 hand-backs)."""

    warn_share: float = 0.8
    recurring_min_days: int = 2
    handback_threshold: int = 2


class MonthHours(_Frozen):
    month: str
    for_minutes: int = 0
    taught_minutes: int = 0
    client_own_minutes: int = 0
    billable_minutes: int = 0

    @property
    def total_minutes(self) -> int:
        return self.for_minutes + self.taught_minutes


class LevelTrack(_Frozen):
    """One task kind's support level per month; ``progress`` = steps moved down the ladder."""

    kind: str
    levels: dict[str, SupportLevel]
    first: SupportLevel
    last: SupportLevel
    progress: int


class IndependencePoint(_Frozen):
    month: str
    recurring: int
    alone: int
    index: float


class Budget(_Frozen):
    period: Literal["week", "month"]
    start: date
    end: date
    budget_minutes: int
    used_minutes: int
    remaining_minutes: int
    share: float
    minutes_per_day: float
    exhaustion: date | None
    warnings: tuple[str, ...] = ()


class Signal(_Frozen):
    """Something the data says about the agreed boundaries, with the evidence."""

    code: Literal["overrun", "unreachable", "handback"]
    day: date
    subject: str
    detail: str
    minutes: int = 0


class ClientLedger(_Frozen):
    """Every ledger figure of one client over ``[start, end]``."""

    schema_id: str = SCHEMA
    client_id: str
    name: str
    start: date | None
    end: date | None
    months: tuple[MonthHours, ...]
    levels: tuple[LevelTrack, ...]
    independence: tuple[IndependencePoint, ...]
    budget: Budget | None
    signals: tuple[Signal, ...]

    @property
    def for_minutes(self) -> int:
        return sum(m.for_minutes for m in self.months)

    @property
    def taught_minutes(self) -> int:
        return sum(m.taught_minutes for m in self.months)

    @property
    def current_index(self) -> float | None:
        return self.independence[-1].index if self.independence else None


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def task_key(title: str) -> str:
    """Entries name the same task with different case and spacing; compare them folded."""
    return " ".join(title.casefold().split())


def _ordered(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    # Same-day entries keep the order they were written in (id), which the
    # store hands out increasing.
    return sorted(entries, key=lambda e: (e.day, e.id if e.id is not None else 0))


def hours_per_month(entries: Iterable[LedgerEntry]) -> list[MonthHours]:
    """Minutes per calendar month, for vs taught; the client's own work apart."""
    acc: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in entries:
        bucket = acc[month_key(entry.day)]
        if entry.source == "assignment":
            bucket["client_own_minutes"] += entry.minutes
            continue
        if entry.mode is Mode.FOR:
            bucket["for_minutes"] += entry.minutes
        else:
            bucket["taught_minutes"] += entry.minutes
        if entry.billable:
            bucket["billable_minutes"] += entry.minutes
    return [MonthHours(month=m, **dict(acc[m])) for m in sorted(acc)]


def level_tracks(entries: Iterable[LedgerEntry]) -> list[LevelTrack]:
    """Per kind, the level of the last entry of each month (later entries win)."""
    per_kind: dict[str, dict[str, SupportLevel]] = defaultdict(dict)
    for entry in _ordered(entries):
        per_kind[entry.kind][month_key(entry.day)] = entry.level
    tracks: list[LevelTrack] = []
    for kind in sorted(per_kind):
        levels = dict(sorted(per_kind[kind].items()))
        values = list(levels.values())
        tracks.append(
            LevelTrack(
                kind=kind,
                levels=levels,
                first=values[0],
                last=values[-1],
                progress=values[-1].rank - values[0].rank,
            )
        )
    return tracks


def _month_end(month: str) -> date:
    year, mon = (int(part) for part in month.split("-"))
    first_next = date(year + mon // 12, mon % 12 + 1, 1)
    return first_next - timedelta(days=1)


def _months_between(first: date, last: date) -> list[str]:
    months: list[str] = []
    year, mon = first.year, first.month
    while (year, mon) <= (last.year, last.month):
        months.append(f"{year:04d}-{mon:02d}")
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return months


def independence(
    entries: Sequence[LedgerEntry], params: LedgerParams | None = None
) -> list[IndependencePoint]:
    """The independence index at the end of every month from the first entry to the last."""
    params = params or LedgerParams()
    ordered = _ordered(entries)
    if not ordered:
        return []
    days: dict[str, set[date]] = defaultdict(set)
    for entry in ordered:
        days[task_key(entry.task)].add(entry.day)
    recurring = {key for key, seen in days.items() if len(seen) >= params.recurring_min_days}
    points: list[IndependencePoint] = []
    latest: dict[str, SupportLevel] = {}
    position = 0
    for month in _months_between(ordered[0].day, ordered[-1].day):
        end = _month_end(month)
        while position < len(ordered) and ordered[position].day <= end:
            entry = ordered[position]
            key = task_key(entry.task)
            if key in recurring:
                latest[key] = entry.level
            position += 1
        alone = sum(1 for level in latest.values() if level is SupportLevel.LEAVE_TO_CLIENT)
        points.append(
            IndependencePoint(
                month=month,
                recurring=len(latest),
                alone=alone,
                index=round(alone / len(latest), 4) if latest else 0.0,
            )
        )
    return points


def _period_bounds(period: Literal["week", "month"], day: date) -> tuple[date, date]:
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    return day.replace(day=1), _month_end(month_key(day))


def budget_status(
    entries: Iterable[LedgerEntry],
    client: Client,
    *,
    now: datetime,
    params: LedgerParams | None = None,
) -> Budget | None:
    """Use of the agreed hours in the period containing ``now``, and when they run out."""
    params = params or LedgerParams()
    agreement = client.agreement
    if agreement.hours_per_period is None:
        return None
    today = now.astimezone(client.tz).date()
    start, end = _period_bounds(agreement.period, today)
    budget = round(agreement.hours_per_period * 60)
    per_day: dict[date, int] = defaultdict(int)
    for entry in entries:
        if start <= entry.day <= today and entry.billable and entry.source in _ASSISTANT_SOURCES:
            per_day[entry.day] += entry.minutes
    used = sum(per_day.values())
    elapsed = (today - start).days + 1
    rate = used / elapsed
    exhaustion: date | None = None
    if budget > 0 and used >= budget:
        running = 0
        for day in sorted(per_day):
            running += per_day[day]
            if running >= budget:
                exhaustion = day
                break
    elif rate > 0:
        # The day on which rate × days first reaches the budget.
        forecast = start + timedelta(days=math.ceil(budget / rate) - 1)
        exhaustion = forecast if forecast <= end else None
    share = used / budget if budget else (1.0 if used else 0.0)
    warnings: list[str] = []
    if share >= 1.0:
        warnings.append(f"budget used up ({share:.0%})")
    elif share >= params.warn_share:
        warnings.append(f"{share:.0%} of the budget used")
    if exhaustion is not None and share < 1.0:
        warnings.append(f"at this pace the budget runs out on {exhaustion.isoformat()}")
    return Budget(
        period=agreement.period,
        start=start,
        end=end,
        budget_minutes=budget,
        used_minutes=used,
        remaining_minutes=budget - used,
        share=round(share, 4),
        minutes_per_day=round(rate, 2),
        exhaustion=exhaustion,
        warnings=tuple(warnings),
    )


def boundary_signals(
    entries: Sequence[LedgerEntry],
    client: Client,
    *,
    starts: Mapping[int, datetime] | None = None,
    params: LedgerParams | None = None,
) -> list[Signal]:
    """Overran sessions, contacts outside reachability, taught tasks handed back.

    ``starts`` maps entry ids to when the contact began (when it was logged
    with a time); without a time only the day is checked.
    """
    params = params or LedgerParams()
    starts = starts or {}
    agreement = client.agreement
    signals: list[Signal] = []
    ordered = _ordered(entries)

    if agreement.session_minutes is not None:
        per_day: dict[date, int] = defaultdict(int)
        for entry in ordered:
            if entry.source in _SESSION_SOURCES:
                per_day[entry.day] += entry.minutes
        for day, minutes in sorted(per_day.items()):
            over = minutes - agreement.session_minutes
            if over > 0:
                signals.append(
                    Signal(
                        code="overrun",
                        day=day,
                        subject="session",
                        detail=f"{minutes} min against {agreement.session_minutes} agreed",
                        minutes=over,
                    )
                )

    if agreement.reachability:
        tz = client.tz
        for entry in ordered:
            if entry.kind not in CONTACT_KINDS or entry.source == "assignment":
                continue
            windows = [w for w in agreement.reachability if w.weekday == entry.day.weekday()]
            at = starts.get(entry.id) if entry.id is not None else None
            if not windows:
                signals.append(
                    Signal(
                        code="unreachable",
                        day=entry.day,
                        subject=entry.task,
                        detail=f"{entry.kind} on a {entry.day:%A}: no contact agreed that day",
                        minutes=entry.minutes,
                    )
                )
            elif at is not None:
                local = at.astimezone(tz)
                end = local + timedelta(minutes=entry.minutes)
                inside = any(
                    (window := w.on(local.date(), tz)) is not None
                    and window.start <= local
                    and end <= window.end
                    for w in windows
                )
                if not inside:
                    signals.append(
                        Signal(
                            code="unreachable",
                            day=entry.day,
                            subject=entry.task,
                            detail=(
                                f"{entry.kind} {local:%H:%M}–{end:%H:%M} is outside the "
                                "agreed reachability"
                            ),
                            minutes=entry.minutes,
                        )
                    )

    taught: set[str] = set()
    handbacks: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in ordered:
        key = task_key(entry.task)
        if entry.mode is Mode.TAUGHT:
            taught.add(key)
        elif key in taught:
            handbacks[key].append(entry)
    for back in handbacks.values():
        if len(back) >= params.handback_threshold:
            signals.append(
                Signal(
                    code="handback",
                    day=back[-1].day,
                    subject=back[-1].task,
                    detail=(
                        f"taught, then done for the client again {len(back)} times "
                        f"(last {back[-1].day.isoformat()})"
                    ),
                    minutes=sum(e.minutes for e in back),
                )
            )
    return sorted(signals, key=lambda s: (s.day, s.code, s.subject))


def client_ledger(
    client: Client,
    entries: Sequence[LedgerEntry],
    *,
    now: datetime,
    start: date | None = None,
    end: date | None = None,
    starts: Mapping[int, datetime] | None = None,
    params: LedgerParams | None = None,
) -> ClientLedger:
    """All figures for one client; entries of other clients are refused, not filtered."""
    stray = {e.client_id for e in entries if e.client_id != client.id}
    if stray:
        raise ValueError(f"entries of other clients {sorted(stray)} passed for {client.id!r}")
    window = [
        e for e in entries if (start is None or e.day >= start) and (end is None or e.day <= end)
    ]
    # The index needs each task's history before the window to know its state.
    history = [e for e in entries if end is None or e.day <= end]
    points = independence(history, params)
    if start is not None:
        points = [p for p in points if p.month >= month_key(start)]
    return ClientLedger(
        client_id=client.id,
        name=client.name,
        start=start,
        end=end,
        months=tuple(hours_per_month(window)),
        levels=tuple(level_tracks(window)),
        independence=tuple(points),
        budget=budget_status(entries, client, now=now, params=params),
        signals=tuple(boundary_signals(window, client, starts=starts, params=params)),
    )


def parse_seed(
    data: Mapping[str, Any],
    *,
    tz: ZoneInfo,
    client_id: str | None = None,
    shift: timedelta = timedelta(0),
) -> list[tuple[LedgerEntry, datetime | None]]:
    """Ledger entries from a parsed seed file (``[[entry]]`` tables), with contact start times.

    Used by the demo (example data dated in a reference period, moved by
    ``shift`` whole weeks) and by tests. ``client_id`` fills rows without
    ``client``; ``at = "HH:MM"`` is a local start time in ``tz``.
    """
    result: list[tuple[LedgerEntry, datetime | None]] = []
    for number, raw in enumerate(data.get("entry", []), start=1):
        row = dict(raw)
        at_text = row.pop("at", None)
        row.setdefault("client_id", row.pop("client", client_id))
        try:
            entry = LedgerEntry.model_validate(row)
        except ValueError as exc:
            raise ValueError(f"ledger seed entry {number}: {exc}") from None
        entry = entry.model_copy(update={"day": entry.day + shift})
        start = (
            datetime.combine(entry.day, time.fromisoformat(str(at_text)), tzinfo=tz)
            if at_text
            else None
        )
        result.append((entry, start))
    return result


def entry_for_task(
    client: Client,
    task: Task,
    *,
    day: date,
    minutes: int | None = None,
    source: Literal["plan", "workflow"] = "plan",
    note: str = "",
) -> LedgerEntry:
    """The ledger entry for a completed planned task or workflow step.

    The mode and level follow the client's current support level for the
    task's kind: at ``take_over`` the work was done *for* the client, lower
    on the ladder it was done with them (*taught*).
    """
    if task.client_id not in (None, client.id):
        raise ValueError(f"task {task.id!r} belongs to {task.client_id!r}, not {client.id!r}")
    level = client.level_for(task.kind)
    return LedgerEntry(
        client_id=client.id,
        task=task.title,
        day=day,
        minutes=minutes or task.duration_minutes,
        mode=Mode.FOR if level is SupportLevel.TAKE_OVER else Mode.TAUGHT,
        level=level,
        kind=task.kind,
        source=source,
        note=note,
    )
