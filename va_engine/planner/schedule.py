"""Day/week planning with CP-SAT: the problem compiled to minutes, the model, and its solve.

The problem is first *compiled*: every datetime becomes whole minutes from
``problem.start`` (computed in UTC, so DST days are 23 or 25 hours long), every
assistant gets her free segments (working hours minus busy time, cut at local
midnight) and every task gets, per eligible assistant, the *regions* where it may
run (its windows ∩ client reachability − the client's own busy time ∩
release/hard deadline ∩ free segments, narrowed for a visit by the least drive
from and back home; see :func:`placeable_regions`). A job left without regions
is provably unplaceable: it stays out of the CP-SAT model as a constant.
The greedy baseline and the explanations read the same compiled form, so all
three agree on what "possible" means; the validator deliberately does not.

The CP-SAT model then has, per piece of a task (one piece, or up to
``max_chunks`` for a splittable task), a shared start/size/end and one optional
interval per eligible assistant; a region literal pins the piece inside one
region (and so one day). Per assistant one NoOverlap holds blocked time, breaks
(flexible intervals), pieces and travel intervals. Visits are routed inside the
model: per assistant-day an ``AddCircuit`` over the candidate visits with the
home base as depot; an arc i→j forces ``end_i + travel ≤ start_j`` and the
travel before each visit is an interval in the NoOverlap, so desk work can fill
the rest of a gap between visits but never the drive.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time as _time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from ortools.sat.python import cp_model

from va_engine.model import (
    CLIENT_FACING_KINDS,
    Assistant,
    Busy,
    Location,
    Plan,
    PlanningProblem,
    PlanStatus,
    expand_windows,
)
from va_engine.planner.params import ObjectiveWeights, PlanLimits
from va_engine.planner.travel import HaversineTravel, TravelModel

__all__ = [
    "AssistantCalendar",
    "Blocker",
    "BreakSlot",
    "Compiled",
    "Job",
    "LocKey",
    "Piece",
    "Placement",
    "Region",
    "SolveOutcome",
    "TravelFloor",
    "blocks_assistant",
    "client_busy",
    "compile_problem",
    "day_travel",
    "evaluate",
    "location_key",
    "placeable_regions",
    "solve_cpsat",
]

Interval = tuple[int, int]
#: CP-SAT variables and linear expressions. The OR-Tools stubs type arithmetic on
#: literals too narrowly for mypy, so the model code treats them as opaque.
Var = Any
Expr = Any


class Region(NamedTuple):
    """Where a piece may lie: ``[start, end)`` inside one free segment of one day."""

    start: int
    end: int
    day: int


class BreakSlot(NamedTuple):
    """A flexible break: it starts somewhere in ``[lo, hi]`` and lasts ``minutes``."""

    lo: int
    hi: int
    minutes: int
    day: int


class Blocker(NamedTuple):
    """Why a job can never be placed: the filter after which no stretch of ``need`` min is left.

    The filters run in this order (see :func:`placeable_regions`): ``deadline``
    (release, now, hard deadline), ``window`` (its own time windows),
    ``reachability`` (the client's), ``client_busy`` (the client's own busy time),
    ``hours`` (working hours minus busy time), ``travel`` (the drive from and back
    to the home base), ``room`` (a split task's stretches add up to too little).
    ``spans`` is what was still open *before* the failing filter, ``longest`` the
    longest stretch left *after* it, ``travel`` the least drive from home it needed.
    """

    stage: str
    need: int
    longest: int
    spans: tuple[Interval, ...] = ()
    travel: int = 0


class Piece(NamedTuple):
    """One placed piece of a job: assistant index, start minute, size in minutes."""

    assistant: int
    start: int
    size: int


@dataclass
class AssistantCalendar:
    """One assistant in minutes: free segments, blocked time, days, breaks."""

    assistant: Assistant
    days: list[Interval]
    segments: list[Region]
    blocked: list[Interval]
    breaks: list[BreakSlot]
    max_per_day: int | None
    has_days: bool

    def break_minutes(self, day: int) -> int:
        return sum(b.minutes for b in self.breaks if b.day == day)

    def day_of(self, minute: int) -> int:
        """Index of the (local) day holding ``minute``; the last day for the horizon end."""
        starts = [d[0] for d in self.days]
        return max(0, bisect.bisect_right(starts, minute) - 1)


@dataclass
class Job:
    """Something to place: a task, the rest of a partly frozen task, a habit day, a frozen block."""

    key: str
    task_id: str
    duration: int
    weight: int
    split: bool
    min_chunk: int
    max_chunks: int
    deadline: int | None
    hard: bool
    location: Location | None
    client_id: str | None
    kind: str
    preds: tuple[str, ...]
    regions: dict[int, list[Region]]
    group: str | None = None
    fixed: bool = False
    prev: list[Piece] = field(default_factory=list)
    allowed: list[Interval] = field(default_factory=list)
    eligible: list[int] = field(default_factory=list)
    blocker: Blocker | None = None
    unknown_preds: tuple[str, ...] = ()

    @property
    def chunks(self) -> int:
        if not self.split:
            return 1
        return max(1, min(self.max_chunks, self.duration // self.min_chunk))


#: job key → placed pieces in time order (absent or empty: not planned).
Placement = dict[str, list[Piece]]


@dataclass
class Compiled:
    """The planning problem in minutes; shared by CP-SAT, greedy and explanations."""

    problem: PlanningProblem
    origin: datetime
    horizon: int
    earliest: int
    calendars: list[AssistantCalendar]
    jobs: list[Job]
    groups: dict[str, int]
    group_weight: dict[str, int]
    weights: ObjectiveWeights
    travel: TravelModel
    _travel_cache: dict[tuple[int, float, float, float, float], int] = field(default_factory=dict)
    floors: dict[int, TravelFloor] = field(default_factory=dict)

    def minutes_of(self, moment: datetime) -> int:
        return minutes_between(self.origin, moment)

    def moment(self, minute: int) -> datetime:
        return self.origin + timedelta(minutes=minute)

    def job(self, key: str) -> Job:
        return self._by_key[key]

    def __post_init__(self) -> None:
        self._by_key = {j.key: j for j in self.jobs}
        self.by_task: dict[str, list[Job]] = defaultdict(list)
        #: task id → the jobs that must wait for it
        self.successors: dict[str, list[Job]] = defaultdict(list)
        for j in self.jobs:
            self.by_task[j.task_id].append(j)
            for pred in j.preds:
                self.successors[pred].append(j)
        #: tasks tied by predecessors, on either side
        self.linked_tasks: set[str] = set(self.successors) | {
            j.task_id for j in self.jobs if j.preds
        }

    def travel_minutes(self, a: int, src: Location | None, dst: Location | None) -> int:
        """Minutes for assistant ``a`` from ``src`` to ``dst``; 0 when either is unknown."""
        if src is None or dst is None:
            return 0
        key = (a, src.lat, src.lon, dst.lat, dst.lon)
        cached = self._travel_cache.get(key)
        if cached is None:
            mode = self.calendars[a].assistant.travel_mode
            cached = int(self.travel.minutes(src, dst, mode))
            self._travel_cache[key] = cached
        return cached


def minutes_between(a: datetime, b: datetime) -> int:
    """Whole minutes from ``a`` to ``b`` in absolute time (UTC), never wall-clock time."""
    return int((b.astimezone(UTC) - a.astimezone(UTC)).total_seconds() // 60)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """``intervals`` as sorted disjoint intervals (overlapping or touching ones joined)."""
    out: list[Interval] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """``a`` (sorted, disjoint) less every interval of ``b``."""
    out: list[Interval] = []
    b = merge(b)
    for s, e in a:
        cur = s
        for bs, be in b:
            if be <= cur or bs >= e:
                continue
            if bs > cur:
                out.append((cur, bs))
            cur = max(cur, be)
        if cur < e:
            out.append((cur, e))
    return out


def _local_days(problem: PlanningProblem, tz: ZoneInfo) -> list[date]:
    first = problem.start.astimezone(tz).date()
    last = problem.end.astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _calendar(
    problem: PlanningProblem, assistant: Assistant, origin: datetime, horizon: int, earliest: int
) -> AssistantCalendar:
    tz = assistant.tz

    def m(moment: datetime) -> int:
        return max(0, min(horizon, minutes_between(origin, moment)))

    busy = [(m(b.start), m(b.end)) for b in problem.busy if blocks_assistant(b, assistant.id)]
    if assistant.working_hours:
        days: list[Interval] = []
        for d in _local_days(problem, tz):
            lo = m(datetime.combine(d, time(0), tzinfo=tz))
            hi = m(datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz))
            if lo < hi:
                days.append((lo, hi))
        work = merge(
            (m(w.start), m(w.end))
            for w in expand_windows(assistant.working_hours, problem.start, problem.end, tz)
        )
    else:
        days = [(0, horizon)]
        work = [(0, horizon)]
    free = subtract(work, busy)
    segments: list[Region] = []
    for di, (dlo, dhi) in enumerate(days):
        for s, e in _intersect(free, [(dlo, dhi)]):
            segments.append(Region(s, e, di))
    blocked = subtract([(0, horizon)], [(r.start, r.end) for r in segments])
    breaks: list[BreakSlot] = []
    if assistant.working_hours:
        for di, d in enumerate(_local_days(problem, tz)):
            for rule in assistant.breaks:
                lo = minutes_between(origin, datetime.combine(d, rule.earliest, tzinfo=tz))
                hi = minutes_between(origin, datetime.combine(d, rule.latest, tzinfo=tz))
                if not any(s <= lo and hi <= e for s, e in work):
                    continue  # no work around this break window that day
                lo = max(lo, earliest, 0)
                hi = min(hi, horizon)
                room = _intersect(free, [(lo, hi)])
                if not any(e - s >= rule.minutes for s, e in room):
                    continue  # busy all through the break window: nothing to protect
                day = next((i for i, (a, b) in enumerate(days) if a <= lo < b), di)
                breaks.append(BreakSlot(lo, hi - rule.minutes, rule.minutes, day))
    return AssistantCalendar(
        assistant=assistant,
        days=days,
        segments=segments,
        blocked=blocked,
        breaks=breaks,
        max_per_day=assistant.max_minutes_per_day,
        has_days=bool(assistant.working_hours),
    )


def _regions(allowed: Sequence[Interval], cal: AssistantCalendar, need: int) -> list[Region]:
    out: list[Region] = []
    for seg in cal.segments:
        for s, e in _intersect(allowed, [(seg.start, seg.end)]):
            if e - s >= need:
                out.append(Region(s, e, seg.day))
    return out


def blocks_assistant(busy: Busy, assistant_id: str) -> bool:
    """Does ``busy`` block the assistant's own time? A client's own busy time does not."""
    if busy.assistant_id is not None:
        return busy.assistant_id == assistant_id
    return busy.client_id is None


def client_busy(problem: PlanningProblem, client_id: str | None) -> list[Busy]:
    """The client's own busy time (no assistant): it blocks only their client-facing tasks."""
    if client_id is None:
        return []
    return [b for b in problem.busy if b.client_id == client_id and b.assistant_id is None]


LocKey = tuple[float, float]


def location_key(loc: Location) -> LocKey:
    """Visits at equal coordinates share a place: no drive between them."""
    return (loc.lat, loc.lon)


@dataclass
class TravelFloor:
    """Least driving a visit of one assistant needs: lower bounds, valid in every plan.

    The first drive of a day leaves home inside free time and every later stop
    is reached through a chain of drives, so a visit starts no earlier than the
    day's first free minute plus the shortest drive from home, and ends no later
    than the day's last free minute minus the shortest drive home. The drive
    right before a visit lies in the same free stretch, so the visit also starts
    no earlier than that stretch's start plus the shortest drive into it.
    """

    stretches: list[Interval]
    day_span: dict[int, Interval]
    from_home: dict[LocKey, int]
    to_home: dict[LocKey, int]
    into: dict[LocKey, int]

    def day_free(self, day: int) -> int:
        """Free minutes of the stretches that hold ``day``'s free time (drives stay inside)."""
        lo, hi = self.day_span.get(day, (0, 0))
        return sum(e - s for s, e in self.stretches if lo <= s and e <= hi)

    def narrow(self, regions: Sequence[Region], loc: Location, need: int) -> list[Region]:
        """``regions`` cut to where a visit at ``loc`` of ``need`` min can lie given the drives."""
        k = location_key(loc)
        out: list[Region] = []
        starts = [s for s, _ in self.stretches]
        for r in regions:
            i = max(0, bisect.bisect_right(starts, r.start) - 1)
            stretch_lo = self.stretches[i][0] if self.stretches else r.start
            first, last = self.day_span.get(r.day, (r.start, r.end))
            lo = max(r.start, stretch_lo + self.into[k], first + self.from_home[k])
            hi = min(r.end, last - self.to_home[k])
            if hi - lo >= need:
                out.append(Region(lo, hi, r.day))
        return out


def _travel_floor(
    tt: Callable[[Location | None, Location | None], int],
    cal: AssistantCalendar,
    stops: dict[LocKey, tuple[Location, int]],
) -> TravelFloor:
    """Shortest drives from/to home over every stop (Dijkstra, O(n²)) and into each stop."""
    home = cal.assistant.home
    locs = [loc for loc, _ in stops.values()]
    n = len(locs)

    def shortest(first: Callable[[int], int], leg: Callable[[int, int], int]) -> list[int]:
        dist = [first(i) for i in range(n)]
        done = [False] * n
        for _ in range(n):
            u = min((i for i in range(n) if not done[i]), key=lambda i: dist[i])
            done[u] = True
            for v in range(n):
                if not done[v]:
                    dist[v] = min(dist[v], dist[u] + leg(u, v))
        return dist

    fwd = shortest(lambda i: tt(home, locs[i]), lambda u, v: tt(locs[u], locs[v]))
    back = shortest(lambda i: tt(locs[i], home), lambda u, v: tt(locs[v], locs[u]))
    into: dict[LocKey, int] = {}
    for v, (loc, count) in enumerate(stops.values()):
        legs = [tt(home, loc)]
        legs += [tt(locs[u], loc) for u in range(n) if u != v]
        into[location_key(loc)] = 0 if count > 1 else min(legs)
    stretches = merge((r.start, r.end) for r in cal.segments)
    day_span: dict[int, Interval] = {}
    for seg in cal.segments:
        i = max(0, bisect.bisect_right([s for s, _ in stretches], seg.start) - 1)
        lo, hi = stretches[i]
        cur = day_span.get(seg.day)
        day_span[seg.day] = (min(cur[0], lo), max(cur[1], hi)) if cur else (lo, hi)
    keys = [location_key(loc) for loc in locs]
    return TravelFloor(
        stretches=stretches,
        day_span=day_span,
        from_home=dict(zip(keys, fwd, strict=True)),
        to_home=dict(zip(keys, back, strict=True)),
        into=into,
    )


def _longest(spans: Iterable[Interval]) -> int:
    return max((e - s for s, e in spans), default=0)


def placeable_regions(
    base: Sequence[Interval],
    filters: Sequence[tuple[str, Sequence[Interval] | None]],
    blocked: Sequence[Interval],
    calendars: Sequence[AssistantCalendar],
    eligible: Sequence[int],
    *,
    need: int,
    total: int,
    location: Location | None = None,
    floors: dict[int, TravelFloor] | None = None,
) -> tuple[list[Interval], dict[int, list[Region]], Blocker | None]:
    """Where a job may run, per assistant, and — when nowhere — the filter that proves it.

    ``base`` is the time between release/now and a hard deadline; each of
    ``filters`` (``None``: does not apply) is intersected in turn, then the
    client's ``blocked`` time is cut out, then each assistant's free segments,
    then (for a visit) the drives from and back home. A stretch shorter than
    ``need`` counts as nothing; a split job also needs ``total`` minutes on one
    assistant. The compiler keeps such jobs out of the model (a constant in
    objective and bound alike) and the explanations word the :class:`Blocker`,
    so both read this one function. Returns (allowed, regions, blocker).
    """
    allowed = list(base)
    if _longest(allowed) < need:
        return allowed, {}, Blocker("deadline", need, _longest(allowed))
    for stage, spans in filters:
        if spans is None:
            continue
        before = tuple(allowed)
        allowed = _intersect(allowed, merge(spans))
        if _longest(allowed) < need:
            return allowed, {}, Blocker(stage, need, _longest(allowed), before)
    if blocked:
        before = tuple(allowed)
        allowed = subtract(allowed, blocked)
        if _longest(allowed) < need:
            return allowed, {}, Blocker("client_busy", need, _longest(allowed), before)
    regions = {a: _regions(allowed, calendars[a], need) for a in eligible}
    regions = {a: r for a, r in regions.items() if r}
    if not regions:
        longest = 0
        for a in eligible:
            segs = [(r.start, r.end) for r in calendars[a].segments]
            longest = max(longest, _longest(_intersect(allowed, segs)))
        return allowed, {}, Blocker("hours", need, longest, tuple(allowed))
    if location is not None and floors:
        drive = min(floors[a].from_home[location_key(location)] for a in regions)
        before = tuple((r.start, r.end) for rs in regions.values() for r in rs)
        regions = {a: floors[a].narrow(r, location, need) for a, r in regions.items()}
        regions = {a: r for a, r in regions.items() if r}
        if not regions:
            return allowed, {}, Blocker("travel", need, 0, before, drive)
    if total > need:
        before = tuple((r.start, r.end) for rs in regions.values() for r in rs)
        regions = {a: r for a, r in regions.items() if sum(x.end - x.start for x in r) >= total}
        if not regions:
            return allowed, {}, Blocker("room", total, _longest(before), before)
    return allowed, regions, None


def _eligible(problem: PlanningProblem, assistant_id: str | None, skill: str | None) -> list[int]:
    return [
        i
        for i, a in enumerate(problem.assistants)
        if (assistant_id is None or a.id == assistant_id) and (skill is None or skill in a.skills)
    ]


def compile_problem(
    problem: PlanningProblem,
    *,
    now: datetime,
    weights: ObjectiveWeights | None = None,
    max_chunks: int = 4,
    travel: TravelModel | None = None,
    previous: Plan | None = None,
    frozen_until: datetime | None = None,
) -> Compiled:
    """Turn ``problem`` into minutes, regions and jobs (pure; raises nothing for bad tasks)."""
    origin = problem.start.astimezone(UTC)
    horizon = minutes_between(origin, problem.end)
    earliest = max(0, minutes_between(origin, now))
    if frozen_until is not None:
        earliest = max(earliest, minutes_between(origin, frozen_until))
    earliest = min(earliest, horizon)
    calendars = [_calendar(problem, a, origin, horizon, earliest) for a in problem.assistants]
    index = {a.id: i for i, a in enumerate(problem.assistants)}

    def m(moment: datetime) -> int:
        return minutes_between(origin, moment)

    jobs: list[Job] = []
    frozen_done: dict[str, int] = defaultdict(int)
    frozen_starts: dict[str, list[int]] = defaultdict(list)
    prev_pieces: dict[str, list[Piece]] = defaultdict(list)
    task_ids = {t.id for t in problem.tasks}
    habit_ids = {h.id for h in problem.habits}
    if previous is not None:
        for n, block in enumerate(sorted(previous.blocks, key=lambda b: b.start.astimezone(UTC))):
            if block.assistant_id not in index:
                continue
            if block.task_id not in task_ids and block.task_id not in habit_ids:
                continue
            a = index[block.assistant_id]
            s, e = m(block.start), m(block.end)
            if frozen_until is not None and block.start < frozen_until:
                cal = calendars[a]
                day = cal.day_of(s)
                frozen_done[block.task_id] += e - s
                frozen_starts[block.task_id].append(s)
                jobs.append(
                    Job(
                        key=f"frozen:{n}",
                        task_id=block.task_id,
                        duration=e - s,
                        weight=1,
                        split=False,
                        min_chunk=e - s,
                        max_chunks=1,
                        deadline=None,
                        hard=False,
                        location=block.location,
                        client_id=None,
                        kind="frozen",
                        preds=(),
                        regions={a: [Region(s, e, day)]},
                        fixed=True,
                        eligible=[a],
                    )
                )
            else:
                prev_pieces[block.task_id].append(Piece(a, s, e - s))

    scratch = Compiled(
        problem=problem,
        origin=origin,
        horizon=horizon,
        earliest=earliest,
        calendars=calendars,
        jobs=[],
        groups={},
        group_weight={},
        weights=weights or ObjectiveWeights(),
        travel=travel or HaversineTravel(),
    )
    stops: dict[LocKey, tuple[Location, int]] = {}
    for loc in [t.location for t in problem.tasks] + [j.location for j in jobs]:
        if loc is not None:
            known = stops.get(location_key(loc))
            stops[location_key(loc)] = (loc, known[1] + 1 if known else 1)
    floors = {
        a: _travel_floor(partial(scratch.travel_minutes, a), cal, stops)
        for a, cal in enumerate(calendars)
    }

    def reach_of(client_id: str | None, kind: str) -> tuple[list[Interval] | None, list[Interval]]:
        """The client's reachable time and own busy time, for client-facing kinds only."""
        if kind not in CLIENT_FACING_KINDS:
            return None, []
        client = problem.client(client_id)
        blocked = merge((m(b.start), m(b.end)) for b in client_busy(problem, client_id))
        if client is None or not client.agreement.reachability:
            return None, blocked
        windows = expand_windows(
            client.agreement.reachability, problem.start, problem.end, client.tz
        )
        return merge((m(w.start), m(w.end)) for w in windows), blocked

    for task in problem.tasks:
        done = frozen_done.get(task.id, 0)
        duration = task.duration_minutes - done
        if duration <= 0 or (done and not task.splittable):
            continue
        lo = max(earliest, m(task.release) if task.release else 0)
        hi = horizon
        deadline = m(task.deadline) if task.deadline else None
        if task.hard_deadline and deadline is not None:
            hi = min(hi, deadline)
        min_chunk = min(task.min_chunk_minutes, duration)
        split = (
            task.splittable
            and task.location is None
            and max_chunks >= 2
            and duration >= 2 * min_chunk
        )
        if not split:
            min_chunk = duration
        eligible = _eligible(problem, task.assistant_id, task.skill)
        unknown = tuple(p for p in task.predecessors if p not in task_ids)
        reach, blocked = reach_of(task.client_id, task.kind)
        windows = [(m(w.start), m(w.end)) for w in task.windows] if task.windows else None
        allowed, regions, blocker = placeable_regions(
            [(lo, hi)] if lo < hi else [],
            [("window", windows), ("reachability", reach)],
            blocked,
            calendars,
            eligible,
            need=min_chunk,
            total=duration,
            location=task.location,
            floors=floors,
        )
        jobs.append(
            Job(
                key=task.id,
                task_id=task.id,
                duration=duration,
                weight=task.weight,
                split=split,
                min_chunk=min_chunk,
                max_chunks=max_chunks,
                deadline=None if task.hard_deadline else deadline,
                hard=task.hard_deadline,
                location=task.location,
                client_id=task.client_id,
                kind=task.kind,
                preds=tuple(p for p in task.predecessors if p in task_ids),
                # waiting for a task nobody knows: never planned, and explained as such
                regions={} if unknown else regions,
                prev=prev_pieces.get(task.id, []),
                allowed=allowed,
                eligible=eligible,
                blocker=blocker,
                unknown_preds=unknown,
            )
        )

    groups: dict[str, int] = {}
    group_weight: dict[str, int] = {}
    for habit in problem.habits:
        eligible = _eligible(problem, habit.assistant_id, None)
        tz = problem.assistants[eligible[0]].tz
        frozen = frozen_starts.get(habit.id, [])
        need = habit.times_per_week - len(frozen)
        groups[habit.id] = max(0, need)
        group_weight[habit.id] = habit.weight
        if need <= 0:
            continue
        habit_reach, blocked = reach_of(habit.client_id, habit.kind)
        for d in _local_days(problem, tz):
            dlo = m(datetime.combine(d, time(0), tzinfo=tz))
            dhi = m(datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz))
            if habit.windows:
                occ = [
                    (m(w.start), m(w.end))
                    for w in (hw.on(d, tz) for hw in habit.windows)
                    if w is not None
                ]
            else:
                occ = [(dlo, dhi)]
            allowed, regions, blocker = placeable_regions(
                _intersect(merge(occ), [(max(earliest, 0), horizon)]),
                [("reachability", habit_reach)],
                blocked,
                calendars,
                eligible,
                need=habit.minutes,
                total=habit.minutes,
            )
            if not allowed:
                continue
            if any(dlo <= f < dhi for f in frozen):
                continue  # a session that day is already frozen
            key = f"habit:{habit.id}:{d.isoformat()}"
            prev = [p for p in prev_pieces.get(habit.id, []) if dlo <= p.start < dhi][:1]
            jobs.append(
                Job(
                    key=key,
                    task_id=habit.id,
                    duration=habit.minutes,
                    weight=habit.weight,
                    split=False,
                    min_chunk=habit.minutes,
                    max_chunks=1,
                    deadline=None,
                    hard=False,
                    location=None,
                    client_id=habit.client_id,
                    kind=habit.kind,
                    preds=(),
                    regions=regions,
                    group=habit.id,
                    prev=prev,
                    allowed=allowed,
                    eligible=eligible,
                    blocker=blocker,
                )
            )
    return replace(scratch, jobs=jobs, groups=groups, group_weight=group_weight, floors=floors)


# --------------------------------------------------------------------------- evaluation


def day_travel(
    comp: Compiled, a: int, visits: Sequence[tuple[int, int, Location]]
) -> tuple[list[int], int]:
    """Travel before each visit (sorted by start) and the drive home after the last one."""
    home = comp.calendars[a].assistant.home
    before: list[int] = []
    here = home
    for _, _, loc in visits:
        before.append(comp.travel_minutes(a, here, loc))
        here = loc
    back = comp.travel_minutes(a, here, home) if visits else 0
    return before, back


def visits_by_day(
    comp: Compiled, placement: Placement
) -> dict[tuple[int, int], list[tuple[int, int, Location]]]:
    """Placed visits grouped by (assistant, day), each sorted by start."""
    out: dict[tuple[int, int], list[tuple[int, int, Location]]] = defaultdict(list)
    for key, pieces in placement.items():
        job = comp.job(key)
        if job.location is None:
            continue
        for p in pieces:
            day = comp.calendars[p.assistant].day_of(p.start)
            out[(p.assistant, day)].append((p.start, p.start + p.size, job.location))
    for lst in out.values():
        lst.sort(key=lambda v: v[0])
    return out


def evaluate(comp: Compiled, placement: Placement) -> int:
    """The objective of ``placement`` in the model's integer units (the CP-SAT objective)."""
    w = comp.weights
    total = 0
    planned_in_group: dict[str, int] = defaultdict(int)
    client_days: set[tuple[int, int, str]] = set()
    for job in comp.jobs:
        pieces = placement.get(job.key) or []
        if job.fixed:
            continue
        if job.group is not None:
            planned_in_group[job.group] += 1 if pieces else 0
        elif not pieces:
            total += w.unplanned * job.weight
            continue
        if not pieces:
            continue
        end = max(p.start + p.size for p in pieces)
        if job.deadline is not None and end > job.deadline:
            total += w.tardiness * job.weight * (end - job.deadline)
        total += w.chunk * (len(pieces) - 1)
        if job.client_id is not None:
            for p in pieces:
                client_days.add(
                    (p.assistant, comp.calendars[p.assistant].day_of(p.start), job.client_id)
                )
        for k, prev in enumerate(job.prev):
            if k >= len(pieces) or pieces[k] != prev:
                total += w.moved
    for group, need in comp.groups.items():
        total += w.unplanned * comp.group_weight[group] * max(0, need - planned_in_group[group])
    total += w.client_day * len(client_days)
    for (a, _day), visits in visits_by_day(comp, placement).items():
        before, back = day_travel(comp, a, visits)
        total += w.travel * (sum(before) + back)
    return total


# --------------------------------------------------------------------------- CP-SAT


@dataclass
class SolveOutcome:
    """What CP-SAT found: a placement (None if none), its status, objective and bound."""

    placement: Placement | None
    status: PlanStatus
    objective: float | None
    bound: float | None
    seconds: float
    breaks: dict[tuple[int, int], int]


class _Progress(cp_model.CpSolverSolutionCallback):
    def __init__(self, report: Callable[[float, float | None], None], offset: int) -> None:
        super().__init__()
        self._report = report
        self._offset = offset

    def on_solution_callback(self) -> None:
        bound = max(0.0, float(self.best_objective_bound)) + self._offset
        self._report(float(self.objective_value) + self._offset, bound)


@dataclass
class _PieceVars:
    start: Var
    size: Expr
    end: Var
    present: Expr
    on: dict[int, Var]
    region: dict[tuple[int, int], Var]
    day: dict[tuple[int, int], Var]


def solve_cpsat(
    comp: Compiled,
    limits: PlanLimits,
    *,
    hint: Placement | None = None,
    hint_breaks: dict[tuple[int, int], int] | None = None,
    progress: Callable[[float, float | None], None] | None = None,
    known_bound: float | None = None,
) -> SolveOutcome:
    """Build and solve the CP-SAT model; the result is None-placement if nothing was found.

    ``known_bound`` is a bound proven elsewhere (the relaxation of :mod:`~va_engine.planner.bound`):
    held as a row on the objective, it lets CP-SAT stop as soon as a plan meets it
    instead of searching out the whole time limit for a proof it cannot find alone.
    """
    started = _time.perf_counter()
    model = cp_model.CpModel()
    w = comp.weights
    horizon = comp.horizon
    objective: list[Expr] = []
    constant = 0
    overlap: dict[int, list[Var]] = defaultdict(list)
    for a, cal in enumerate(comp.calendars):
        for s, e in cal.blocked:
            overlap[a].append(model.new_interval_var(s, e - s, e, f"blocked{a}_{s}"))
    break_vars: dict[tuple[int, int], Var] = {}
    for a, cal in enumerate(comp.calendars):
        for n, br in enumerate(cal.breaks):
            start = model.new_int_var(br.lo, br.hi, f"break{a}_{n}")
            overlap[a].append(model.new_fixed_size_interval_var(start, br.minutes, f"brk{a}_{n}"))
            break_vars[(a, n)] = start

    pieces: dict[str, list[_PieceVars]] = {}
    presence: dict[str, Expr] = {}
    day_lits: dict[tuple[int, int], list[tuple[Job, _PieceVars]]] = defaultdict(list)
    tardiness: dict[str, Var] = {}
    keep_vars: list[tuple[Var, Piece, str, int]] = []
    on_job: dict[tuple[str, int], Var] = {}

    for job in comp.jobs:
        if not job.regions:
            if not job.fixed:
                constant += w.unplanned * job.weight if job.group is None else 0
            presence[job.key] = 0
            pieces[job.key] = []
            continue
        lo = min(r.start for rs in job.regions.values() for r in rs)
        hi = max(r.end for rs in job.regions.values() for r in rs)
        plist: list[_PieceVars] = []
        for k in range(job.chunks):
            if job.chunks == 1:
                dom = cp_model.Domain.from_intervals(
                    [[r.start, r.end - job.duration] for rs in job.regions.values() for r in rs]
                )
                start = model.new_int_var_from_domain(dom, f"s_{job.key}_{k}")
                size: Expr = job.duration
            else:
                start = model.new_int_var(lo, hi, f"s_{job.key}_{k}")
                size_var = model.new_int_var(0, job.duration, f"d_{job.key}_{k}")
                size = size_var
            end = model.new_int_var(lo, hi, f"e_{job.key}_{k}")
            model.add(end == start + size)
            on: dict[int, Var] = {}
            region: dict[tuple[int, int], Var] = {}
            day: dict[tuple[int, int], Var] = {}
            for a, regs in job.regions.items():
                lits = []
                by_day: dict[int, list[Var]] = defaultdict(list)
                if job.chunks == 1:
                    # the start domain already keeps the piece inside some region and
                    # the NoOverlap with blocked time inside this assistant's: one
                    # literal per day suffices (≈ 3× fewer literals than per region)
                    for d in sorted({r.day for r in regs}):
                        span = [r for r in regs if r.day == d]
                        lit = model.new_bool_var(f"r_{job.key}_{k}_{a}_d{d}")
                        model.add(start >= min(r.start for r in span)).only_enforce_if(lit)
                        model.add(end <= max(r.end for r in span)).only_enforce_if(lit)
                        lits.append(lit)
                        by_day[d].append(lit)
                    regs = []
                for n, r in enumerate(regs):
                    lit = model.new_bool_var(f"r_{job.key}_{k}_{a}_{n}")
                    model.add(start >= r.start).only_enforce_if(lit)
                    model.add(end <= r.end).only_enforce_if(lit)
                    region[(a, n)] = lit
                    lits.append(lit)
                    by_day[r.day].append(lit)
                if len(lits) == 1:
                    x = lits[0]
                else:
                    x = model.new_bool_var(f"x_{job.key}_{k}_{a}")
                    model.add(sum(lits) == x)
                on[a] = x
                for d, dl in by_day.items():
                    if len(dl) == 1:
                        day[(a, d)] = dl[0]
                    else:
                        y = model.new_bool_var(f"y_{job.key}_{k}_{a}_{d}")
                        model.add(sum(dl) == y)
                        day[(a, d)] = y
                overlap[a].append(
                    model.new_optional_interval_var(start, size, end, x, f"i_{job.key}_{k}_{a}")
                )
            if len(on) == 1:
                present: Expr = next(iter(on.values()))
            else:
                any_on = model.new_bool_var(f"c_{job.key}_{k}")
                model.add(sum(on.values()) == any_on)
                present = any_on
            pvars = _PieceVars(start, size, end, present, on, region, day)
            plist.append(pvars)
            for a, d in day:
                day_lits[(a, d)].append((job, pvars))
        pieces[job.key] = plist
        presence[job.key] = plist[0].present
        if job.fixed:
            model.add(plist[0].present == 1)
        if len(plist) > 1:
            for k in range(1, len(plist)):
                model.add(plist[k].present <= plist[k - 1].present)
                model.add(plist[k].start >= plist[k - 1].end).only_enforce_if(
                    _lit(plist[k].present)
                )
            model.add(sum(p.size for p in plist) == job.duration * plist[0].present)
            for p in plist:
                model.add(p.size >= job.min_chunk * p.present)
                model.add(p.size <= job.duration * p.present)
            objective.append(w.chunk * sum(p.present for p in plist[1:]))
            if len(job.regions) > 1:
                for a in job.regions:
                    y = model.new_bool_var(f"on_{job.key}_{a}")
                    on_job[(job.key, a)] = y
                    for p in plist:
                        model.add_implication(p.on[a], y)
                model.add(sum(on_job[(job.key, a)] for a in job.regions) <= 1)
        if not job.fixed and job.group is None:
            # penalise the negated literal: a positive term keeps CP-SAT's bound meaningful
            left_out = model.new_bool_var(f"out_{job.key}")
            model.add(left_out + plist[0].present == 1)
            objective.append(w.unplanned * job.weight * left_out)
        if job.deadline is not None and hi > job.deadline:
            late = model.new_int_var(0, hi - job.deadline, f"t_{job.key}")
            for p in plist:
                model.add(late >= p.end - job.deadline).only_enforce_if(_lit(p.present))
            tardiness[job.key] = late
            objective.append(w.tardiness * job.weight * late)
        for k, prev in enumerate(job.prev):
            if k >= len(plist) or prev.assistant not in plist[k].on:
                constant += w.moved
                continue
            keep = model.new_bool_var(f"keep_{job.key}_{k}")
            pv = plist[k]
            model.add_implication(keep, pv.on[prev.assistant])
            model.add(pv.start == prev.start).only_enforce_if(keep)
            model.add(pv.size == prev.size).only_enforce_if(keep)
            objective.append(w.moved * (1 - keep))
            keep_vars.append((keep, prev, job.key, k))

    for group, need in comp.groups.items():
        members = [presence[j.key] for j in comp.jobs if j.group == group]
        missing = model.new_int_var(0, need, f"missing_{group}")
        model.add(missing + sum(members) == need)
        objective.append(w.unplanned * comp.group_weight[group] * missing)

    # predecessors: every piece of a job after every piece of each predecessor
    for job in comp.jobs:
        for pred_id in job.preds:
            for pred in comp.by_task.get(pred_id, []):
                if not pred.fixed:
                    model.add(presence[job.key] <= presence[pred.key])
                for pj in pieces[job.key]:
                    for pp in pieces[pred.key]:
                        model.add(pj.start >= pp.end).only_enforce_if(
                            [_lit(pj.present), _lit(pp.present)]
                        )

    # per (assistant, day): max minutes, client-days, visit circuits
    travel_before: dict[tuple[str, int], list[tuple[Var, int]]] = defaultdict(list)
    travel_back: dict[tuple[str, int], list[tuple[Var, int]]] = defaultdict(list)
    arcs_all: dict[tuple[int, int], dict[tuple[int, int], Var]] = {}
    client_day_vars: dict[tuple[int, int, str], Var] = {}
    for (a, d), members in day_lits.items():
        cal = comp.calendars[a]
        terms: list[Expr] = []
        drives: list[Expr] = []
        floor = comp.floors.get(a)
        for job, pv in members:
            lit = pv.day[(a, d)]
            if isinstance(pv.size, int):
                terms.append(pv.size * lit)
            else:
                z = model.new_int_var(0, job.duration, f"z_{job.key}_{a}_{d}")
                model.add(z == pv.size).only_enforce_if(lit)
                model.add(z == 0).only_enforce_if(lit.negated())
                terms.append(z)
            if floor is not None and job.location is not None and not job.fixed:
                drives.append(floor.into[location_key(job.location)] * lit)
        if cal.max_per_day is not None:
            model.add(sum(terms) <= cal.max_per_day)
        if floor is not None and limits.energy_cuts:
            # redundant with the NoOverlap, but the LP relaxation sees it: work, the
            # least drive into each visit and the breaks fit in the day's free time
            model.add(sum(terms) + sum(drives) <= floor.day_free(d) - cal.break_minutes(d))
        for job, pv in members:
            if job.client_id is None or job.fixed:
                continue
            ck = (a, d, job.client_id)
            if ck not in client_day_vars:
                client_day_vars[ck] = model.new_bool_var(f"cd_{a}_{d}_{job.client_id}")
                objective.append(w.client_day * client_day_vars[ck])
            model.add_implication(pv.day[(a, d)], client_day_vars[ck])
        visits = [(job, pv) for job, pv in members if job.location is not None]
        if not visits:
            continue
        home = cal.assistant.home
        used = model.new_bool_var(f"used_{a}_{d}")
        arcs: list[tuple[int, int, Var]] = [(0, 0, used.negated())]
        arc_vars: dict[tuple[int, int], Var] = {}
        for i, (job, pv) in enumerate(visits, start=1):
            lit = pv.day[(a, d)]
            model.add_implication(lit, used)
            arcs.append((i, i, lit.negated()))
            t_out = comp.travel_minutes(a, home, job.location)
            t_in = comp.travel_minutes(a, job.location, home)
            go = model.new_bool_var(f"go_{a}_{d}_{i}")
            back = model.new_bool_var(f"back_{a}_{d}_{i}")
            arcs += [(0, i, go), (i, 0, back)]
            arc_vars[(0, i)] = go
            arc_vars[(i, 0)] = back
            travel_before[(job.key, a)].append((go, t_out))
            travel_back[(job.key, a)].append((back, t_in))
            objective.append(w.travel * (t_out * go + t_in * back))
        for i, (ji, pi) in enumerate(visits, start=1):
            for j, (jj, pj) in enumerate(visits, start=1):
                if i == j:
                    continue
                t = comp.travel_minutes(a, ji.location, jj.location)
                lit = model.new_bool_var(f"arc_{a}_{d}_{i}_{j}")
                arcs.append((i, j, lit))
                arc_vars[(i, j)] = lit
                model.add(pi.end + t <= pj.start).only_enforce_if(lit)
                travel_before[(jj.key, a)].append((lit, t))
                if t:
                    objective.append(w.travel * t * lit)
        model.add_circuit(arcs)
        model.add(used <= sum(pv.day[(a, d)] for _, pv in visits))
        arcs_all[(a, d)] = arc_vars
    travel_vars: dict[tuple[str, int], tuple[Var, Var]] = {}
    for (key, a), terms in travel_before.items():
        pv = pieces[key][0]
        top = max(t for _, t in terms)
        tb = model.new_int_var(0, top, f"tb_{key}_{a}")
        model.add(tb == sum(t * lit for lit, t in terms))
        ts = model.new_int_var(0, horizon, f"ts_{key}_{a}")
        overlap[a].append(
            model.new_optional_interval_var(ts, tb, pv.start, pv.on[a], f"tbi_{key}_{a}")
        )
        back_terms = travel_back[(key, a)]
        top_b = max(t for _, t in back_terms)
        tr = model.new_int_var(0, top_b, f"tr_{key}_{a}")
        model.add(tr == sum(t * lit for lit, t in back_terms))
        te = model.new_int_var(0, horizon, f"te_{key}_{a}")
        overlap[a].append(
            model.new_optional_interval_var(pv.end, tr, te, pv.on[a], f"tri_{key}_{a}")
        )
        travel_vars[(key, a)] = (tb, tr)

    for ivs in overlap.values():
        if len(ivs) > 1:
            model.add_no_overlap(ivs)
    # jobs that can never be planned are a constant, kept out of the model and added back
    cost = sum(objective)
    model.minimize(cost)
    if known_bound is not None:
        model.add(cost >= math.ceil(known_bound - 1e-6) - constant)

    if hint is not None:
        _add_hint(
            model,
            comp,
            hint,
            hint_breaks or {},
            pieces,
            break_vars,
            arcs_all,
            day_lits,
            tardiness,
            keep_vars,
            on_job,
            client_day_vars,
            travel_vars,
        )

    total = max(0.1, limits.time_limit_s)
    best: list[int] | None = None
    best_obj = math.inf
    if hint is not None and limits.lns_share > 0:
        report = None
        if progress is not None:
            report = lambda value, bound: progress(value + constant, bound)  # noqa: E731
        found = _lns(model, comp, pieces, limits, total * limits.lns_share, report)
        if found is not None:
            best, best_obj = found
            model.clear_hints()  # type: ignore[no-untyped-call]
            proto = model.proto
            proto.solution_hint.vars.extend(range(len(best)))
            proto.solution_hint.values.extend(best)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, total - (_time.perf_counter() - started))
    solver.parameters.num_workers = max(1, limits.workers)
    solver.parameters.random_seed = limits.seed
    solver.parameters.log_search_progress = limits.log_search
    # presolve probing costs seconds on week-sized models and gains little here
    solver.parameters.cp_model_probing_level = 0
    # a fuller LP (interval/no-overlap cuts) guides the final search: on the
    # 100-task week 3 of 5 runs reached 0.3–4.6 % gap (all 3 without it: 8 %)
    solver.parameters.linearization_level = 2
    callback = _Progress(progress, constant) if progress else None
    status = solver.solve(model, callback)
    seconds = _time.perf_counter() - started
    solved = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    # every term is non-negative, so 0 bounds the model part even when CP-SAT's
    # presolved objective reports a negative bound
    proven = math.isfinite(solver.best_objective_bound) and status != cp_model.INFEASIBLE
    bound = max(0.0, float(solver.best_objective_bound)) + constant if proven else None
    if best is not None and (not solved or solver.objective_value > best_obj + 0.5):
        # the final solve did not get back to the LNS incumbent: keep that one
        values = best
        return SolveOutcome(
            placement=_placement(
                comp, pieces, lambda v: v if isinstance(v, int) else values[v.index]
            ),
            status=PlanStatus.FEASIBLE,
            objective=float(best_obj) + constant,
            bound=bound,
            seconds=seconds,
            breaks={k: values[v.index] for k, v in break_vars.items()},
        )
    if not solved:
        return SolveOutcome(
            None,
            PlanStatus.INFEASIBLE if status == cp_model.INFEASIBLE else PlanStatus.HEURISTIC,
            None,
            None,
            seconds,
            {},
        )
    return SolveOutcome(
        placement=_placement(comp, pieces, lambda v: int(solver.value(v))),
        status=PlanStatus.OPTIMAL if status == cp_model.OPTIMAL else PlanStatus.FEASIBLE,
        objective=float(solver.objective_value) + constant,
        bound=bound,
        seconds=seconds,
        breaks={k: int(solver.value(v)) for k, v in break_vars.items()},
    )


def _placement(
    comp: Compiled, pieces: dict[str, list[_PieceVars]], value: Callable[[Expr], int]
) -> Placement:
    """The placement a solution (read through ``value``) describes."""
    placement: Placement = {}
    for job in comp.jobs:
        placed: list[Piece] = []
        for pv in pieces[job.key]:
            if not value(pv.present):
                continue
            a = next(a for a, x in pv.on.items() if value(x))
            placed.append(Piece(a, int(value(pv.start)), int(value(pv.size))))
        if placed:
            placement[job.key] = placed
    return placement


def _piece_vars(pv: _PieceVars) -> list[Var]:
    out = [pv.start, *pv.on.values(), *pv.region.values(), *pv.day.values()]
    if not isinstance(pv.size, int):
        out.append(pv.size)
    return out


def _lns(
    model: cp_model.CpModel,
    comp: Compiled,
    pieces: dict[str, list[_PieceVars]],
    limits: PlanLimits,
    budget: float,
    progress: Callable[[float, float | None], None] | None,
) -> tuple[list[int], float] | None:
    """Large-neighbourhood search around the hint: re-optimise a few consecutive pieces at a time.

    Each step frees the pieces one assistant (sometimes two) has in a stretch of
    time, plus a few unplanned jobs, fixes everything else at the incumbent and
    lets CP-SAT solve that small problem exactly. CP-SAT's own LNS does the same
    but gets little time with two workers; this gives sequencing-heavy weeks a
    much better start for the final solve. Returns the best full assignment and
    its objective (without the constant).
    """
    deadline = _time.perf_counter() + budget
    rng = random.Random(limits.seed)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = limits.seed
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.max_time_in_seconds = max(0.1, min(5.0, budget / 2))
    solver.parameters.stop_after_first_solution = True
    # complete the hint: fix every hinted placement variable, let propagation fill
    # in travel, days and penalties, so the search starts from a full solution
    hint_proto = model.proto.solution_hint
    hinted = dict(zip(hint_proto.vars, hint_proto.values, strict=True))
    fixed = model.clone()
    for plist in pieces.values():
        for pv in plist:
            for var in _piece_vars(pv):
                if var.index in hinted:
                    fixed.add(fixed.get_int_var_from_proto_index(var.index) == hinted[var.index])
    status = solver.solve(fixed)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        status = solver.solve(model)
    solver.parameters.stop_after_first_solution = False
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    # sub-problems are tiny once most pieces are fixed; presolve removes the fixed
    # part (measured: ~0.4 s a step with it, ~0.8 s and rarely optimal without)
    step = 0.1
    best = list(solver.response_proto.solution)
    best_obj = solver.objective_value
    if progress is not None:
        progress(float(best_obj), None)
    jobs = [j for j in comp.jobs if not j.fixed and pieces[j.key]]
    if len(jobs) <= 8:
        return best, best_obj  # small enough for the full solve alone
    size = 5
    while _time.perf_counter() < deadline - 0.05:
        placed: dict[int, list[tuple[int, str]]] = defaultdict(list)
        absent: list[str] = []
        for job in jobs:
            first = pieces[job.key][0]
            if best[_lit(first.present).index]:
                for pv in pieces[job.key]:
                    for a, x in pv.on.items():
                        if best[x.index]:
                            placed[a].append((best[pv.start.index], job.key))
            else:
                absent.append(job.key)
        if not placed:
            break
        if absent and rng.random() < 0.5:
            free = _insertion_neighbourhood(comp, rng, absent, placed, 2 * size)
        else:
            a = rng.choice(sorted(placed))
            seq = sorted(placed[a])
            i = rng.randrange(max(1, len(seq) - size + 1))
            window = seq[i : i + size]
            free = {key for _, key in window}
            lo, hi = window[0][0], window[-1][0]
            if len(placed) > 1 and rng.random() < 0.3:
                other = rng.choice([b for b in sorted(placed) if b != a])
                free |= {key for start, key in placed[other] if lo <= start <= hi}
            free |= set(rng.sample(absent, min(3, len(absent))))
        sub = model.clone()
        sub.clear_hints()  # type: ignore[no-untyped-call]
        proto = sub.proto
        proto.solution_hint.vars.extend(range(len(best)))
        proto.solution_hint.values.extend(best)
        for job in jobs:
            if job.key in free:
                continue
            for pv in pieces[job.key]:
                for var in _piece_vars(pv):
                    sub.add(sub.get_int_var_from_proto_index(var.index) == best[var.index])
        left = deadline - _time.perf_counter()
        solver.parameters.max_time_in_seconds = max(0.05, min(step, left))
        status = solver.solve(sub)
        if (
            status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
            and solver.objective_value < best_obj - 0.5
        ):
            best = list(solver.response_proto.solution)
            best_obj = solver.objective_value
            if progress is not None:
                progress(float(best_obj), None)
        elif status == cp_model.OPTIMAL:
            size = min(size + 1, 12)
        elif status == cp_model.UNKNOWN:
            step = min(2.0, step * 2)  # not even the incumbent was reloaded in time
        else:
            size = max(3, size - 1)
    return best, best_obj


def _insertion_neighbourhood(
    comp: Compiled,
    rng: random.Random,
    absent: list[str],
    placed: dict[int, list[tuple[int, str]]],
    size: int,
) -> set[str]:
    """A left-out job (heavier ones more often) plus the jobs nearest one of its regions.

    Random windows rarely meet the one day and hour a visit may take; this frees
    exactly the work that stands in its way, so CP-SAT can push it aside.
    """
    key = rng.choices(absent, weights=[comp.job(k).weight for k in absent])[0]
    job = comp.job(key)
    a = rng.choice(sorted(job.regions))
    region = rng.choice(job.regions[a])
    lo, hi = comp.calendars[a].days[region.day]
    near = sorted(
        (abs(start - region.start), k) for start, k in placed.get(a, []) if lo <= start < hi
    )
    return {key} | {k for _, k in near[:size]}


def _lit(expr: Expr) -> Var:
    assert not isinstance(expr, int), "presence of a piece with regions is a literal"
    return expr


def _add_hint(
    model: cp_model.CpModel,
    comp: Compiled,
    hint: Placement,
    hint_breaks: dict[tuple[int, int], int],
    pieces: dict[str, list[_PieceVars]],
    break_vars: dict[tuple[int, int], Var],
    arcs_all: dict[tuple[int, int], dict[tuple[int, int], Var]],
    day_lits: dict[tuple[int, int], list[tuple[Job, _PieceVars]]],
    tardiness: dict[str, Var],
    keep_vars: list[tuple[Var, Piece, str, int]],
    on_job: dict[tuple[str, int], Var],
    client_day_vars: dict[tuple[int, int, str], Var],
    travel_vars: dict[tuple[str, int], tuple[Var, Var]],
) -> None:
    """Hint every variable from a complete placement so CP-SAT starts from it."""
    hinted: set[int] = set()

    def h(var: Expr, value: int) -> None:
        if isinstance(var, int) or not isinstance(var, cp_model.IntVar):
            return
        if var.index in hinted:
            return
        hinted.add(var.index)
        model.add_hint(var, value)

    for slot, bstart in hint_breaks.items():
        if slot in break_vars:
            h(break_vars[slot], bstart)
    chosen: dict[int, tuple[int, int]] = {}  # id(pv) -> (assistant, day)
    for job in comp.jobs:
        placed = hint.get(job.key) or []
        plist = pieces[job.key]
        end_max = 0
        for k, pv in enumerate(plist):
            if k < len(placed):
                p = placed[k]
                h(pv.start, p.start)
                h(pv.size, p.size)
                h(pv.end, p.start + p.size)
                h(pv.present, 1)
                end_max = max(end_max, p.start + p.size)
                for a, x in pv.on.items():
                    h(x, int(a == p.assistant))
                regs = job.regions.get(p.assistant, [])
                idx = next(
                    (
                        n
                        for n, r in enumerate(regs)
                        if r.start <= p.start and p.start + p.size <= r.end
                    ),
                    None,
                )
                for (a, n), lit in pv.region.items():
                    h(lit, int(a == p.assistant and n == idx))
                day = regs[idx].day if idx is not None else -1
                for (a, d), lit in pv.day.items():
                    h(lit, int(a == p.assistant and d == day))
                chosen[id(pv)] = (p.assistant, day)
            else:
                h(pv.present, 0)
                h(pv.size, 0)
                for x in pv.on.values():
                    h(x, 0)
                for lit in pv.region.values():
                    h(lit, 0)
                for lit in pv.day.values():
                    h(lit, 0)
        if job.key in tardiness and job.deadline is not None:
            h(tardiness[job.key], max(0, end_max - job.deadline) if placed else 0)
        for a in job.regions:
            if (job.key, a) in on_job:
                h(on_job[(job.key, a)], int(bool(placed) and placed[0].assistant == a))
    for keep, prev, job_key, k in keep_vars:
        placed = hint.get(job_key) or []
        h(keep, int(k < len(placed) and placed[k] == prev))
    for (a, d, client), var in client_day_vars.items():
        members = day_lits[(a, d)]
        h(
            var,
            int(any(j.client_id == client and chosen.get(id(pv)) == (a, d) for j, pv in members)),
        )
    for (a, d), arc_vars in arcs_all.items():
        visits = [(job, pv) for job, pv in day_lits[(a, d)] if job.location is not None]
        order = sorted(
            (i for i, (_, pv) in enumerate(visits, start=1) if chosen.get(id(pv)) == (a, d)),
            key=lambda i: hint[visits[i - 1][0].key][0].start,
        )
        used_arcs: set[tuple[int, int]] = set()
        if order:
            seq = [0, *order, 0]
            used_arcs = set(itertools.pairwise(seq))
        for arc, lit in arc_vars.items():
            h(lit, int(arc in used_arcs))
    for (key, a), (tb, tr) in travel_vars.items():
        placed = hint.get(key) or []
        if not placed or placed[0].assistant != a:
            h(tb, 0)
            h(tr, 0)
