"""Year plan: spread recurring obligations over weeks so no deadline is missed and no week piles up.

``plan_year(occurrences, capacity, year=…)`` is pure: data in, :class:`YearPlan` out.
Each step of each occurrence (see :func:`va_engine.obligations.expand`) goes
to one ISO week (keyed by its Monday) inside its window [earliest, deadline],
steps of one occurrence in order and apart by their lead times, each week's
load within the resource's capacity. Capacity is hours per full working week;
public holidays and vacation days scale it by the working days left (a week
with two public holidays has 3/5 of it). Client no-contact periods block the
weeks in which the client cannot be reached for work that needs them.

CP-SAT solves it lexicographically, in phases that share one model:

0. only when the greedy warm start cannot place everything: keep the most
   (priority-weighted) work; what cannot fit is reported with a reason,
1. minimise the peak weekly load of every resource,
2. with the peaks fixed: minimise the load above the average, then prefer
   earlier weeks.

The reported lower bound on the peak is the largest of the average load, the
largest single step, and every deadline-forced load: for each window of weeks
[a, b], the work whose whole window lies inside it divided by the usable weeks
in it. Steps are not split across weeks: the week planner splits them into
days (:func:`week_tasks` hands a week's items over as :class:`~va_engine.model.Task`).
"""

from __future__ import annotations

import itertools
import math
import random
import time as time_module
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal, Self
from zoneinfo import ZoneInfo

from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict, Field, model_validator

from va_engine.model import PlanStatus, Task
from va_engine.obligations import ObligationOccurrence

__all__ = [
    "Period",
    "Placement",
    "ResourceLoad",
    "Unplaced",
    "WeekLoad",
    "YearPlan",
    "baseline_year",
    "monday",
    "plan_year",
    "public_holidays",
    "week_tasks",
]

UnplacedCode = Literal[
    "overdue", "no_capacity", "too_big", "no_contact", "lead_times", "capacity", "time_limit"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def monday(day: date | datetime) -> date:
    """The Monday of the ISO week holding ``day`` (the key of a week everywhere in this module)."""
    if isinstance(day, datetime):
        day = day.date()
    return day - timedelta(days=day.weekday())


def iso_week(week: date) -> str:
    iso = week.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


class Period(_Frozen):
    """An inclusive range of dates: a vacation or a client's no-contact period."""

    start: date
    end: date
    label: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"period {self.label!r} ends ({self.end}) before it starts")
        return self

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


class Placement(_Frozen):
    """One step placed in the week starting ``week`` (a Monday)."""

    occurrence: ObligationOccurrence
    week: date

    @property
    def iso_week(self) -> str:
        return iso_week(self.week)


class Unplaced(_Frozen):
    """A step left out of the plan, with a reason a person understands."""

    occurrence: ObligationOccurrence
    reason: str
    code: UnplacedCode


class WeekLoad(_Frozen):
    """One resource's week: planned hours against capacity, and the deadlines falling in it."""

    week: date
    hours: float
    capacity: float | None
    workdays: int
    holidays: tuple[str, ...] = ()
    deadlines: tuple[str, ...] = ()

    @property
    def over_capacity(self) -> bool:
        return self.capacity is not None and self.hours > self.capacity + 1e-9

    @property
    def iso_week(self) -> str:
        return iso_week(self.week)


class ResourceLoad(_Frozen):
    """The heat-map row of one resource (an assistant, or a client doing their own work)."""

    resource: str
    weeks: tuple[WeekLoad, ...]
    peak_hours: float
    bound_hours: float
    total_hours: float
    average_hours: float


class YearPlan(_Frozen):
    """The year plan: where each step goes, what was left out and why, and how level it is."""

    year: int
    weeks: tuple[date, ...]
    placements: tuple[Placement, ...] = ()
    unplanned: tuple[Unplaced, ...] = ()
    resources: tuple[ResourceLoad, ...] = ()
    peak_hours: float = 0.0
    bound_hours: float = 0.0
    status: PlanStatus = PlanStatus.HEURISTIC
    solver: str = "cp-sat"
    seconds: float = Field(default=0.0, ge=0)

    @property
    def weeks_over_capacity(self) -> int:
        return sum(1 for r in self.resources for w in r.weeks if w.over_capacity)

    @property
    def gap(self) -> float:
        """Relative distance of the achieved peak above the lower bound."""
        if self.peak_hours <= 0:
            return 0.0
        return max(0.0, (self.peak_hours - self.bound_hours) / self.peak_hours)

    def summary(self) -> dict[str, object]:
        """The headline figures, for a JSON report next to ``model_dump``."""
        return {
            "year": self.year,
            "peak_hours": self.peak_hours,
            "bound_hours": self.bound_hours,
            "gap": round(self.gap, 4),
            "planned": len(self.placements),
            "unplanned": len(self.unplanned),
            "weeks_over_capacity": self.weeks_over_capacity,
            "status": self.status.value,
            "solver": self.solver,
            "seconds": round(self.seconds, 3),
        }

    def week_of(self, occurrence_id: str) -> date | None:
        return next((p.week for p in self.placements if p.occurrence.id == occurrence_id), None)

    def in_week(self, week: date) -> list[Placement]:
        start = monday(week)
        return [p for p in self.placements if p.week == start]


def public_holidays(
    country: str, years: Iterable[int], subdiv: str | None = None
) -> dict[date, str]:
    """Public holidays from the ``holidays`` package (pure data, no network): date -> name."""
    import holidays as holidays_pkg  # imported here: only callers that need it pay for it

    table = holidays_pkg.country_holidays(country, subdiv=subdiv, years=list(years))
    return {day: str(name) for day, name in sorted(table.items())}


# --- preparation shared by the solver and the baselines ------------------------------------


@dataclass
class _Step:
    occ: ObligationOccurrence
    minutes: int
    domain: list[int]  # week indexes, ascending


@dataclass
class _Prepared:
    weeks: list[date]
    workdays: list[int]
    holiday_names: list[tuple[str, ...]]
    cap: dict[str, list[int | None]]  # minutes per week; None = unlimited
    steps: dict[str, _Step] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    unplaced: list[Unplaced] = field(default_factory=list)


def _minutes(hours: float) -> int:
    return max(1, round(hours * 60))


def _periods(items: Iterable[Period | tuple[date, date]]) -> list[Period]:
    return [p if isinstance(p, Period) else Period(start=p[0], end=p[1]) for p in items]


def _prepare(
    occurrences: Sequence[ObligationOccurrence],
    capacity: Mapping[str, float | Mapping[date, float]],
    year: int,
    holidays: Mapping[date, str] | Iterable[date],
    vacations: Mapping[str, Iterable[Period | tuple[date, date]]],
    no_contact: Mapping[str, Iterable[Period | tuple[date, date]]],
    now: date | datetime | None,
    respect_capacity: bool,
) -> _Prepared:
    holiday_map = (
        dict(holidays) if isinstance(holidays, Mapping) else dict.fromkeys(holidays, "holiday")
    )
    first = monday(date(year, 1, 1))
    last = monday(date(year, 12, 31))
    if occurrences:
        first = min(first, min(monday(o.earliest) for o in occurrences))
        last = max(last, max(monday(o.deadline) for o in occurrences))
    weeks = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    index = {w: i for i, w in enumerate(weeks)}
    now_index = 0
    if now is not None:
        now_week = monday(now)
        now_index = len(weeks) if now_week > weeks[-1] else max(0, index.get(now_week, 0))

    def workdays_of(week: date, off: Sequence[Period]) -> list[date]:
        days = [week + timedelta(days=d) for d in range(5)]
        return [d for d in days if d not in holiday_map and not any(d in p for p in off)]

    workdays = [len(workdays_of(w, ())) for w in weeks]
    names = [
        tuple(
            holiday_map[w + timedelta(days=d)]
            for d in range(7)
            if w + timedelta(days=d) in holiday_map
        )
        for w in weeks
    ]
    resources = sorted({o.resource for o in occurrences} | set(capacity))
    cap: dict[str, list[int | None]] = {}
    for resource in resources:
        if resource not in capacity:
            cap[resource] = [None] * len(weeks)
            continue
        base = capacity[resource]
        off = _periods(vacations.get(resource, ()))
        row: list[int | None] = []
        for week in weeks:
            hours = base if isinstance(base, (int, float)) else base.get(week, 0.0)
            days = len(workdays_of(week, off))
            row.append(max(0, math.floor(hours * 60 * days / 5 + 1e-6)))
        cap[resource] = row
    blocked: dict[str, list[bool]] = {}
    for client_id, periods in no_contact.items():
        off = _periods(periods)
        blocked[client_id] = [not workdays_of(w, off) for w in weeks]

    prepared = _Prepared(weeks=weeks, workdays=workdays, holiday_names=names, cap=cap)
    by_group: dict[str, list[ObligationOccurrence]] = {}
    for occ in occurrences:
        by_group.setdefault(occ.group, []).append(occ)
    for group, members in by_group.items():
        members.sort(key=lambda o: o.index)
        steps: list[_Step] = []
        reason: tuple[str, UnplacedCode] | None = None
        for occ in members:
            minutes = _minutes(occ.hours)
            lo, hi = index[monday(occ.earliest)], index[monday(occ.deadline)]
            row_cap = cap[occ.resource]
            client_blocked = blocked.get(occ.client_id or "") if occ.involves_client else None
            domain = []
            for w in range(max(lo, now_index), hi + 1):
                c = row_cap[w]
                if respect_capacity and c is not None and c < minutes:
                    continue
                if respect_capacity and client_blocked is not None and client_blocked[w]:
                    continue
                domain.append(w)
            if not domain and reason is None:
                reason = _why_empty(occ, minutes, lo, hi, now_index, row_cap, client_blocked, weeks)
            steps.append(_Step(occ=occ, minutes=minutes, domain=domain))
        if reason is None and not _propagate(steps):
            span = sum(s.occ.weeks_before_next for s in steps[:-1])
            reason = (
                f"the steps need {span} weeks of lead time between them, which does not fit "
                f"in the usable weeks between {members[0].earliest} and {members[-1].deadline}",
                "lead_times",
            )
        if reason is not None:
            prepared.unplaced.extend(
                Unplaced(occurrence=s.occ, reason=reason[0], code=reason[1]) for s in steps
            )
            continue
        prepared.groups[group] = [s.occ.id for s in steps]
        for s in steps:
            prepared.steps[s.occ.id] = s
    return prepared


def _why_empty(
    occ: ObligationOccurrence,
    minutes: int,
    lo: int,
    hi: int,
    now_index: int,
    row_cap: list[int | None],
    client_blocked: list[bool] | None,
    weeks: list[date],
) -> tuple[str, UnplacedCode]:
    what = f"{occ.title!r} (due {occ.deadline})"
    if now_index > hi:
        return f"{what}: its deadline has passed", "overdue"
    open_weeks = range(max(lo, now_index), hi + 1)
    caps = [row_cap[w] for w in open_weeks]
    if all(c is not None and c == 0 for c in caps):
        return (
            f"{what}: no working time between {weeks[open_weeks[0]]} and "
            f"{weeks[open_weeks[-1]] + timedelta(days=6)} (holidays or vacation)",
            "no_capacity",
        )
    if client_blocked is not None and all(
        client_blocked[w] for w in open_weeks if row_cap[w] is None or row_cap[w] != 0
    ):
        return f"{what}: the client cannot be contacted in any week before the deadline", (
            "no_contact"
        )
    best = max((c for c in caps if c is not None), default=0)
    return (
        f"{what}: needs {minutes / 60:.1f} h in one week but the most any week "
        f"before the deadline offers is {best / 60:.1f} h",
        "too_big",
    )


def _propagate(steps: list[_Step]) -> bool:
    """Tighten step domains by their order and lead times; False when they cannot fit."""
    for _ in range(2):
        for a, b in itertools.pairwise(steps):
            if not a.domain:
                return False
            floor = a.domain[0] + a.occ.weeks_before_next
            b.domain = [w for w in b.domain if w >= floor]
        for a, b in zip(reversed(steps[:-1]), reversed(steps[1:]), strict=False):
            if not b.domain:
                return False
            ceiling = b.domain[-1] - a.occ.weeks_before_next
            a.domain = [w for w in a.domain if w <= ceiling]
    return all(s.domain for s in steps)


# --- bound, greedy, solver ------------------------------------------------------------------


def _lower_bound(prep: _Prepared, resource: str, step_ids: Iterable[str]) -> int:
    """Lower bound on the resource's peak weekly minutes (see the module docstring)."""
    n = len(prep.weeks)
    usable = [c is None or c > 0 for c in prep.cap[resource]]
    by_lo: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    best = 0
    for sid in step_ids:
        s = prep.steps[sid]
        by_lo[s.domain[0]].append((s.domain[-1], s.minutes))
        best = max(best, s.minutes)
    by_hi = [0] * n
    for a in range(n - 1, -1, -1):
        for hi, minutes in by_lo[a]:
            by_hi[hi] += minutes
        load = 0
        count = 0
        for b in range(a, n):
            load += by_hi[b]
            count += usable[b]
            if count and load:
                best = max(best, -(-load // count))
    return best


GreedyMode = Literal["level", "fit", "tight"]


def _greedy(
    prep: _Prepared,
    groups: Sequence[str],
    mode: GreedyMode = "level",
    limits: Mapping[str, int] | None = None,
    rng: random.Random | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Earliest deadline first; each step into the least-loaded week ("level"), the first
    week with room ("fit") or the fullest week it still fits in ("tight", best fit).
    ``limits`` caps each resource's weekly load below its capacity (a target peak);
    ``rng`` jitters the deadline order by up to two weeks, for restarts."""
    load = {r: [0] * len(prep.weeks) for r in prep.cap}
    assign: dict[str, int] = {}
    failed: list[str] = []
    jitter = {g: (rng.random() * 2 if rng else 0.0) for g in groups}
    order = sorted(
        groups,
        key=lambda g: (
            prep.steps[prep.groups[g][-1]].domain[-1] + jitter[g],
            -sum(prep.steps[s].minutes for s in prep.groups[g]),
            g,
        ),
    )
    for group in order:
        placed: list[tuple[str, int]] = []
        floor = -1
        for sid in prep.groups[group]:
            s = prep.steps[sid]
            row = load[s.occ.resource]
            caps = prep.cap[s.occ.resource]
            limit = limits.get(s.occ.resource) if limits else None
            choice: int | None = None
            for w in s.domain:
                c = caps[w]
                if limit is not None:
                    c = limit if c is None else min(c, limit)
                if w < floor or (c is not None and row[w] + s.minutes > c):
                    continue
                if mode == "fit":
                    choice = w
                    break
                if (
                    choice is None
                    or (mode == "level" and row[w] < row[choice])
                    or (mode == "tight" and row[w] > row[choice])
                ):
                    choice = w
            if choice is None:
                break
            row[choice] += s.minutes
            placed.append((sid, choice))
            floor = choice + s.occ.weeks_before_next
        if len(placed) == len(prep.groups[group]):
            assign.update(placed)
        else:
            for sid, w in placed:
                load[prep.steps[sid].occ.resource][w] -= prep.steps[sid].minutes
            failed.append(group)
    return assign, failed


def _best_greedy(prep: _Prepared, groups: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """The levelling greedy, or the fitting one when that leaves less work out."""
    assign, failed = _greedy(prep, groups, "level")
    if not failed:
        return assign, failed

    def left_out(names: Sequence[str]) -> int:
        return sum(prep.steps[s].minutes for g in names for s in prep.groups[g])

    fit_assign, fit_failed = _greedy(prep, groups, "fit")
    if left_out(fit_failed) < left_out(failed):
        return fit_assign, fit_failed
    return assign, failed


def _peaks(prep: _Prepared, assign: Mapping[str, int]) -> dict[str, int]:
    load = {r: [0] * len(prep.weeks) for r in prep.cap}
    for sid, w in assign.items():
        load[prep.steps[sid].occ.resource][w] += prep.steps[sid].minutes
    return {r: max(row) for r, row in load.items()}


def _squeeze(
    prep: _Prepared,
    groups: Sequence[str],
    assign: dict[str, int],
    bounds: Mapping[str, int],
    seconds: float,
    seed: int,
) -> dict[str, int]:
    """Bisect a target peak (a common ratio over each resource's bound) that some greedy
    still meets under that cap: earliest-deadline-first under a tight cap keeps deadlines
    feasible, and cheap restarts (other rules, jittered orders) find a low peak fast."""
    started = time_module.perf_counter()
    peaks = _peaks(prep, assign)
    ratio = {r: peaks[r] / bounds[r] for r in peaks if bounds.get(r)}
    if not ratio:
        return assign
    rng = random.Random(seed)
    lo, hi = 1.0, max(ratio.values())
    best = assign
    while hi - lo > 0.002 and time_module.perf_counter() - started < seconds:
        mid = (lo + hi) / 2
        limits = {r: math.floor(bounds[r] * mid) for r in ratio}
        found = None
        attempt = 0
        while found is None and time_module.perf_counter() - started < seconds:
            mode: GreedyMode = ("tight", "fit", "level")[attempt % 3]
            trial, failed = _greedy(prep, groups, mode, limits, rng if attempt >= 3 else None)
            if not failed:
                found = trial
            attempt += 1
            if attempt >= 24:
                break
        if found is not None:
            best, hi = found, mid
        else:
            lo = mid
    return dict(best)


def _level(
    prep: _Prepared, groups: Sequence[str], assign: dict[str, int], rounds: int = 20000
) -> None:
    """Local search on ``assign`` (in place): move steps out of each resource's peak week.

    A move must land below the current peak and stay within the step's domain,
    the order and lead times of its occurrence, and capacity; it stops when a
    peak week has no such move. Cheap, and a far better CP-SAT hint than the greedy alone.
    """
    by_group = {g: prep.groups[g] for g in groups}
    load = {r: [0] * len(prep.weeks) for r in prep.cap}
    in_week: dict[str, list[set[str]]] = {r: [set() for _ in prep.weeks] for r in prep.cap}
    for g in groups:
        for sid in by_group[g]:
            s = prep.steps[sid]
            load[s.occ.resource][assign[sid]] += s.minutes
            in_week[s.occ.resource][assign[sid]].add(sid)
    for resource, row in load.items():
        caps = prep.cap[resource]
        for _ in range(rounds):
            peak = max(row)
            if peak == 0:
                break
            moved = False
            for week in (w for w, v in enumerate(row) if v == peak):
                for sid in sorted(in_week[resource][week], key=lambda x: -prep.steps[x].minutes):
                    s = prep.steps[sid]
                    ids = prep.groups[s.occ.group]
                    i = s.occ.index
                    lo = (
                        assign[ids[i - 1]] + prep.steps[ids[i - 1]].occ.weeks_before_next
                        if i
                        else -1
                    )
                    hi = (
                        assign[ids[i + 1]] - s.occ.weeks_before_next
                        if i + 1 < len(ids)
                        else len(prep.weeks)
                    )
                    best: int | None = None
                    for w in s.domain:
                        if w == week or w < lo or w > hi:
                            continue
                        c = caps[w]
                        if row[w] + s.minutes >= peak or (c is not None and row[w] + s.minutes > c):
                            continue
                        if best is None or row[w] < row[best]:
                            best = w
                    if best is not None:
                        row[week] -= s.minutes
                        row[best] += s.minutes
                        in_week[resource][week].discard(sid)
                        in_week[resource][best].add(sid)
                        assign[sid] = best
                        moved = True
                        break
                if not moved:
                    break
            if not moved:
                break


@dataclass
class _Model:
    model: cp_model.CpModel
    x: dict[tuple[str, int], cp_model.IntVar]
    present: dict[str, cp_model.IntVar]
    loads: dict[str, dict[int, cp_model.LinearExpr]]
    peaks: dict[str, cp_model.IntVar]
    pos: dict[str, cp_model.LinearExpr]
    last: dict[str, int] | None = None


def _build(prep: _Prepared, groups: Sequence[str], optional: bool) -> _Model:
    model = cp_model.CpModel()
    x: dict[tuple[str, int], cp_model.IntVar] = {}
    present: dict[str, cp_model.IntVar] = {}
    terms: dict[str, dict[int, list[tuple[int, cp_model.IntVar]]]] = {r: {} for r in prep.cap}
    pos: dict[str, cp_model.LinearExpr] = {}
    for group in groups:
        flag = model.new_bool_var(f"present[{group}]") if optional else model.new_constant(1)
        present[group] = flag
        ids = prep.groups[group]
        for sid in ids:
            s = prep.steps[sid]
            row = []
            for w in s.domain:
                var = model.new_bool_var(f"x[{sid},{w}]")
                x[sid, w] = var
                row.append(var)
                terms[s.occ.resource].setdefault(w, []).append((s.minutes, var))
            model.add(sum(row) == flag)
            pos[sid] = cp_model.LinearExpr.weighted_sum(row, s.domain)
        for a, b in itertools.pairwise(ids):
            gap = prep.steps[a].occ.weeks_before_next
            constraint = model.add(pos[b] >= pos[a] + gap)
            if optional:
                constraint.only_enforce_if(flag)
    loads: dict[str, dict[int, cp_model.LinearExpr]] = {}
    peaks: dict[str, cp_model.IntVar] = {}
    for resource, by_week in terms.items():
        if not by_week:
            continue
        top = max(
            (c for c in prep.cap[resource] if c is not None),
            default=sum(m for items in by_week.values() for m, _ in items),
        )
        top = max(top, max(sum(m for m, _ in items) for items in by_week.values()))
        peak = model.new_int_var(0, top, f"peak[{resource}]")
        peaks[resource] = peak
        loads[resource] = {}
        for w, items in by_week.items():
            expr = cp_model.LinearExpr.weighted_sum([v for _, v in items], [m for m, _ in items])
            loads[resource][w] = expr
            c = prep.cap[resource][w]
            if c is not None:
                model.add(expr <= c)
            model.add(expr <= peak)
    return _Model(model=model, x=x, present=present, loads=loads, peaks=peaks, pos=pos)


def _hint(m: _Model, assign: Mapping[str, int], present: Mapping[str, bool] | None = None) -> None:
    """Hint every decision (a complete hint lets CP-SAT start from it at once)."""
    m.model.clear_hints()  # type: ignore[no-untyped-call]
    for (sid, w), var in m.x.items():
        m.model.add_hint(var, assign.get(sid) == w)
    if present is not None:
        for group, flag in present.items():
            m.model.add_hint(m.present[group], flag)


def _hint_peaks(prep: _Prepared, m: _Model, assign: Mapping[str, int]) -> None:
    """Hint the peak variables too, so the hinted solution is complete."""
    load = {r: [0] * len(prep.weeks) for r in prep.cap}
    for sid, w in assign.items():
        load[prep.steps[sid].occ.resource][w] += prep.steps[sid].minutes
    for resource, peak in m.peaks.items():
        m.model.add_hint(peak, max(load[resource]))


def _solve(
    m: _Model, seconds: float, workers: int, seed: int, gap: float = 0.0
) -> tuple[cp_model.CpSolver, cp_model.CpSolverStatus]:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, seconds)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.relative_gap_limit = gap
    status = solver.solve(m.model)
    return solver, status


def _read(m: _Model, solver: cp_model.CpSolver) -> dict[str, int]:
    return {sid: w for (sid, w), var in m.x.items() if solver.boolean_value(var)}


def _capacity_reason(prep: _Prepared, group: str) -> str:
    first = prep.steps[prep.groups[group][0]]
    last = prep.steps[prep.groups[group][-1]]
    start, end = prep.weeks[first.domain[0]], prep.weeks[last.domain[-1]] + timedelta(days=6)
    hours = sum(prep.steps[s].minutes for s in prep.groups[group]) / 60
    return (
        f"{last.occ.obligation!r} (due {last.occ.occurrence_deadline}, {hours:.1f} h): the "
        f"capacity between {start} and {end} is taken by other obligations with earlier "
        f"deadlines or higher priority"
    )


def plan_year(
    occurrences: Sequence[ObligationOccurrence],
    capacity: Mapping[str, float | Mapping[date, float]],
    *,
    year: int,
    holidays: Mapping[date, str] | Iterable[date] = (),
    vacations: Mapping[str, Iterable[Period | tuple[date, date]]] | None = None,
    no_contact: Mapping[str, Iterable[Period | tuple[date, date]]] | None = None,
    time_limit_s: float = 5.0,
    now: date | datetime | None = None,
    workers: int = 2,
    seed: int = 0,
    gap_limit: float = 0.0,
) -> YearPlan:
    """Level ``occurrences`` over the weeks of ``year``; never raises for unplaceable work.

    ``capacity`` maps a resource (``occurrence.resource``: an assistant id, or
    ``client:<id>``) to hours per full working week, either one number or a
    mapping Monday -> hours (weeks missing from it have none). Resources not
    in it are unlimited but still levelled. ``holidays`` and ``vacations``
    (per resource) remove working days; ``no_contact`` (per client id) blocks
    weeks for work that involves the client. Weeks before ``now`` are not used.
    Work that cannot be placed is in :attr:`YearPlan.unplanned` with a reason;
    the rest is still planned. ``time_limit_s`` bounds the whole call;
    ``gap_limit`` (a fraction) ends the peak phase once the peak is that close
    to the proven bound, leaving more time for the rest.
    """
    started = time_module.perf_counter()

    def remaining() -> float:
        return max(0.05, time_limit_s - (time_module.perf_counter() - started))

    prep = _prepare(
        occurrences,
        capacity,
        year,
        holidays,
        vacations or {},
        no_contact or {},
        now,
        respect_capacity=True,
    )
    groups = sorted(prep.groups)
    assign, failed = _best_greedy(prep, groups)
    status = PlanStatus.HEURISTIC
    solver_name = "greedy"

    if failed:
        # Phase 0: keep as much (priority-weighted) work as fits.
        m = _build(prep, groups, optional=True)
        weights = {
            g: sum(prep.steps[s].minutes for s in prep.groups[g])
            * prep.steps[prep.groups[g][0]].occ.priority
            for g in groups
        }
        m.model.maximize(sum(weights[g] * m.present[g] for g in groups))
        _hint(m, assign, {g: g not in failed for g in groups})
        solver, code = _solve(m, remaining() * 0.3, workers, seed)
        dropped = failed
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            dropped = [g for g in groups if not solver.boolean_value(m.present[g])]
            assign = _read(m, solver)
        for g in dropped:
            reason = _capacity_reason(prep, g)
            prep.unplaced.extend(
                Unplaced(occurrence=prep.steps[s].occ, reason=reason, code="capacity")
                for s in prep.groups[g]
            )
        gone = set(dropped)
        groups = [g for g in groups if g not in gone]
        assign = {s: w for s, w in assign.items() if prep.steps[s].occ.group not in gone}

    members = {
        r: [s for g in groups for s in prep.groups[g] if prep.steps[s].occ.resource == r]
        for r in prep.cap
    }
    bounds = {r: _lower_bound(prep, r, members[r]) for r in prep.cap}
    if groups:
        assign = _squeeze(prep, groups, assign, bounds, remaining() * 0.25, seed)
        _level(prep, groups, assign)
        # Phase 1: minimise every resource's peak.
        m = _build(prep, groups, optional=False)
        for resource, peak in m.peaks.items():
            m.model.add(peak >= bounds[resource])
        m.model.minimize(sum(m.peaks.values()))
        _hint(m, assign)
        _hint_peaks(prep, m, assign)
        solver, code = _solve(m, remaining() * 0.7, workers, seed, gap_limit)
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            assign = _read(m, solver)
            proven = code == cp_model.OPTIMAL and gap_limit == 0
            status = PlanStatus.OPTIMAL if proven else PlanStatus.FEASIBLE
            solver_name = "cp-sat"
            budget = remaining() - 0.2  # leave time to assemble the result
            _polish(prep, m, solver, groups, members, assign, budget, workers, seed)
            assign = m.last or assign
        # else: time ran out before CP-SAT found a plan; the greedy plan stands.
    elif prep.unplaced:
        status = PlanStatus.INFEASIBLE
    seconds = time_module.perf_counter() - started
    return _result(prep, assign, bounds, year, status, solver_name, seconds)


def _polish(
    prep: _Prepared,
    m: _Model,
    solver: cp_model.CpSolver,
    groups: Sequence[str],
    members: Mapping[str, Sequence[str]],
    assign: Mapping[str, int],
    budget: float,
    workers: int,
    seed: int,
) -> None:
    """Phase 2: peaks fixed; least load above the average, then earliest weeks.

    Stores the polished assignment (or the given one, if none is found) in ``m.last``.
    """
    peaks = {r: solver.value(p) for r, p in m.peaks.items()}
    for resource, peak in m.peaks.items():
        m.model.add(peak <= peaks[resource])
    excess: list[cp_model.IntVar] = []
    extra: dict[cp_model.IntVar, int] = {}
    for resource, by_week in m.loads.items():
        usable = sum(1 for c in prep.cap[resource] if c is None or c > 0)
        total = sum(prep.steps[s].minutes for s in members[resource])
        average = -(-total // max(1, usable))
        load = [0] * len(prep.weeks)
        for sid in members[resource]:
            load[assign[sid]] += prep.steps[sid].minutes
        for w, expr in by_week.items():
            over = m.model.new_int_var(
                0, max(0, peaks[resource] - average), f"over[{resource},{w}]"
            )
            m.model.add(over >= expr - average)
            excess.append(over)
            extra[over] = max(0, load[w] - average)
    early = sum(prep.steps[s].occ.priority * m.pos[s] for g in groups for s in prep.groups[g])
    m.model.minimize(10 * sum(excess) + early)
    _hint(m, assign)
    for var, value in extra.items():
        m.model.add_hint(var, value)
    for resource, peak in m.peaks.items():
        m.model.add_hint(peak, peaks[resource])
    polish, code = _solve(m, budget, workers, seed)
    m.last = _read(m, polish) if code in (cp_model.OPTIMAL, cp_model.FEASIBLE) else dict(assign)


def baseline_year(
    occurrences: Sequence[ObligationOccurrence],
    capacity: Mapping[str, float | Mapping[date, float]],
    *,
    year: int,
    rule: Literal["at_deadline", "asap"],
    holidays: Mapping[date, str] | Iterable[date] = (),
    vacations: Mapping[str, Iterable[Period | tuple[date, date]]] | None = None,
    now: date | datetime | None = None,
) -> YearPlan:
    """The naive references: every step in its deadline week, or as early as allowed.

    They ignore capacity and holidays when choosing (which is what makes them
    naive), so their plans can overload weeks; loads and bounds are measured
    the same way as for :func:`plan_year`.
    """
    prep = _prepare(
        occurrences, capacity, year, holidays, vacations or {}, {}, now, respect_capacity=False
    )
    last = rule == "at_deadline"
    assign = {sid: s.domain[-1] if last else s.domain[0] for sid, s in prep.steps.items()}
    bounds = {
        r: _lower_bound(prep, r, [s for s in prep.steps if prep.steps[s].occ.resource == r])
        for r in prep.cap
    }
    return _result(prep, assign, bounds, year, PlanStatus.HEURISTIC, rule, 0.0)


def _result(
    prep: _Prepared,
    assign: Mapping[str, int],
    bounds: Mapping[str, int],
    year: int,
    status: PlanStatus,
    solver: str,
    seconds: float,
) -> YearPlan:
    n = len(prep.weeks)
    placements = sorted(
        (
            Placement(occurrence=prep.steps[sid].occ, week=prep.weeks[w])
            for sid, w in assign.items()
        ),
        key=lambda p: (p.week, p.occurrence.occurrence_deadline, p.occurrence.id),
    )
    deadlines: dict[str, list[list[str]]] = {r: [[] for _ in range(n)] for r in prep.cap}
    index = {w: i for i, w in enumerate(prep.weeks)}
    seen: set[str] = set()
    all_steps = [s.occ for s in prep.steps.values()] + [u.occurrence for u in prep.unplaced]
    for occ in all_steps:
        if occ.group in seen or occ.index != occ.steps - 1:
            continue
        seen.add(occ.group)
        w = index.get(monday(occ.occurrence_deadline))
        if w is not None:
            deadlines[occ.resource][w].append(occ.obligation)
    resources: list[ResourceLoad] = []
    for resource, caps in prep.cap.items():
        minutes = [0] * n
        for sid, w in assign.items():
            if prep.steps[sid].occ.resource == resource:
                minutes[w] += prep.steps[sid].minutes
        if not any(minutes) and not any(deadlines[resource]) and resource not in bounds:
            continue
        usable = sum(1 for c in caps if c is None or c > 0) or 1
        total = sum(minutes)
        weeks = tuple(
            WeekLoad(
                week=prep.weeks[w],
                hours=minutes[w] / 60,
                capacity=None if caps[w] is None else caps[w] / 60,  # type: ignore[operator]
                workdays=prep.workdays[w],
                holidays=prep.holiday_names[w],
                deadlines=tuple(sorted(deadlines[resource][w])),
            )
            for w in range(n)
        )
        bound = max(bounds.get(resource, 0), -(-total // usable))
        resources.append(
            ResourceLoad(
                resource=resource,
                weeks=weeks,
                peak_hours=max(minutes) / 60,
                bound_hours=bound / 60,
                total_hours=total / 60,
                average_hours=total / usable / 60,
            )
        )
    return YearPlan(
        year=year,
        weeks=tuple(prep.weeks),
        placements=tuple(placements),
        unplanned=tuple(sorted(prep.unplaced, key=lambda u: u.occurrence.id)),
        resources=tuple(resources),
        peak_hours=max((r.peak_hours for r in resources), default=0.0),
        bound_hours=max((r.bound_hours for r in resources), default=0.0),
        status=status,
        solver=solver,
        seconds=seconds,
    )


def week_tasks(
    plan: YearPlan,
    week_start: date | datetime,
    tz: ZoneInfo | str,
    *,
    include_client_work: bool = False,
) -> list[Task]:
    """The year plan's items for one week, as tasks for the week planner.

    Each task may start on the week's Monday (or its earliest date, if later)
    and is due at the week's end, or at the obligation's own deadline when
    that falls inside the week (then the deadline is hard). Steps of one
    occurrence planned in the same week keep their order as predecessors.
    Work the client does themselves is left out unless asked for.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    start = monday(week_start)
    week_begin = datetime.combine(start, time(), tzinfo=zone)
    week_end = datetime.combine(start + timedelta(days=7), time(), tzinfo=zone)
    items = [
        p.occurrence
        for p in plan.in_week(start)
        if include_client_work or p.occurrence.who == "assistant"
    ]
    ids = {o.id for o in items}
    tasks: list[Task] = []
    for occ in items:
        release = max(week_begin, datetime.combine(occ.earliest, time(), tzinfo=zone))
        due = min(week_end, occ.due)
        minutes = _minutes(occ.hours)
        previous = f"{occ.group}#{occ.index}"
        tasks.append(
            Task(
                id=occ.id,
                title=occ.title,
                client_id=occ.client_id,
                kind=occ.kind,
                duration_minutes=minutes,
                release=min(release, due),
                deadline=due,
                hard_deadline=due == occ.due,
                weight=occ.priority,
                splittable=minutes > 60,
                min_chunk_minutes=min(60, minutes),
                predecessors=(previous,) if previous in ids else (),
                source="year-plan",
                external_id=occ.group,
            )
        )
    return tasks
