"""A lower bound on the plan objective from a time-indexed linear relaxation.

CP-SAT's own bound on a big week is little more than the constant of the jobs
proved unplaceable: the linear relaxation of its big-M model may place every
task a little everywhere. This relaxation keeps what makes a week hard and drops
the rest. Each assistant's free time is cut into buckets of at most
``bucket_minutes``; a job may put any of its minutes into a bucket that overlaps
one of its regions on that assistant (at most the overlap), and each bucket
holds at most its own length. Per assistant-day the work plus the day's drives
plus the breaks fits the free time, and the work fits ``max_minutes_per_day``;
each break window loses the break's minutes. The drives of a day are a
circulation through home and the places visited, with no sub-tours among
small sets of places (see :func:`_day_drives`). On models up to
:data:`PATTERNS_MAX_COLUMNS` a day's visits also come from the routes one
assistant can drive in their windows (:mod:`~va_engine.planner.patterns`, priced
in by column generation).

Tardiness is bounded two ways, both valid for every plan of the model: each
minute of a job done at ``t`` means it ends at ``t + 1`` or later (for a job in
one piece also at its region's start plus its duration or later), and a job
whose minutes have mean time ``M`` ends at ``M + (d + 1) / 2`` or later (the
mean-busy-time bound, valid since no job runs faster than one minute a minute).
The first is strong when a bucket lies wholly past the deadline, the second
when capacity pushes work past it. A successor is kept only with its
predecessors and lies after them (by bucket means), and a day that visits a
place does at most its windows' length of visits there. Chunk costs, moves and
the order of visits are left out: dropping a non-negative term or a constraint
keeps the bound valid.

Every plan leaves out a whole number of units of work, so the LP is solved
again with that number held at the two whole values next to the LP's own; the
better of the two bounds every plan (the LP's optimum is convex in it). MIP
solvers (SCIP, HiGHS) made no progress beyond the LP on a 300-task week in
30–40 s, so the model stays linear.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time as _time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ortools.linear_solver import pywraplp

from va_engine.model import Location
from va_engine.planner.patterns import DayPatterns, DayRoutes, day_patterns, day_routes
from va_engine.planner.schedule import Compiled, Job, LocKey, location_key, merge

__all__ = ["RelaxationBound", "relaxation_bound", "stronger"]

Slot = tuple[int, int]  # (assistant, day)
#: linear expressions of pywraplp (its stubs type them loosely)
Expr = Any

#: the relaxation's buckets: finer is stronger on tardiness and larger
BUCKET_MINUTES = 30
#: sizes of the place sets whose sub-tours the day drives exclude from the start, for
#: each size only where a day has at most MAX_SUBTOUR_SETS such sets (12 places: 220
#: triples); on the 300-task week pairs raise the bound 6–9 %, triples 0.2–16 % more
SUBTOUR_SIZES = (2, 3)
MAX_SUBTOUR_SETS = 500
#: drives take their minutes in the buckets between their ends (see :func:`_locate_drives`)
#: on models of at most this many columns: on the 300-task week (86k) they doubled the
#: LP's time for 0.1–0.4 %, on one-assistant weeks (5k) they raised one bound 10 %
LOCATED_DRIVES_MAX_COLUMNS = 40_000
#: a drive free to lie in this share of the day's free time gets no row
LOCATED_DRIVES_SPAN = 0.75
#: visit patterns (see :mod:`~va_engine.planner.patterns`) on models of at most this many
#: columns: a one-assistant week (5k) prices them out in 0.1 s (bound +0–16 %); the
#: 300-task week (86k) needs 20+ solves of 1–4 s each for +0.5 %
PATTERNS_MAX_COLUMNS = 40_000
#: share of the relaxation's time limit after which no more days get patterns
PATTERNS_SHARE = 0.3
#: rounds of re-solving with new visit patterns and the sub-tours the LP's flow still
#: makes cut off
PRICING_ROUNDS = 12
#: cost per objective unit of work left out beyond the rounding's cap (see below): any
#: positive penalty keeps the bound valid, a high one makes the cap bind
EXCESS_PENALTY = 100.0


@dataclass(frozen=True)
class RelaxationBound:
    """A proven lower bound on the full objective (constant included), and the LP's own
    optimum before left-out work was rounded to whole units (None: out of time).

    ``days`` is where the LP put each job it mostly keeps (presence ≥ ½): its
    minutes per (assistant, day). It guides a start plan (:mod:`~va_engine.planner.lp_start`);
    it proves nothing.
    """

    bound: float
    lp: float | None
    days: dict[str, dict[Slot, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Bucket:
    assistant: int
    day: int
    start: int
    end: int


def _buckets(comp: Compiled, size: int) -> list[_Bucket]:
    """Free time cut at every multiple of ``size`` and at every break window's edges."""
    out: list[_Bucket] = []
    for a, cal in enumerate(comp.calendars):
        cuts = {br.lo for br in cal.breaks} | {br.hi + br.minutes for br in cal.breaks}
        for seg in cal.segments:
            lo = max(seg.start, comp.earliest)
            if lo >= seg.end:
                continue
            points = {lo, seg.end}
            points |= {c for c in cuts if lo < c < seg.end}
            points |= set(range((lo // size + 1) * size, seg.end, size))
            edges = sorted(points)
            for s, e in itertools.pairwise(edges):
                out.append(_Bucket(a, seg.day, s, e))
    return out


def _overlap(regions: list[tuple[int, int]], starts: list[int], s: int, e: int) -> tuple[int, int]:
    """Minutes of ``[s, e)`` in ``regions`` (sorted, disjoint) and the first such region's start."""
    i = max(0, bisect.bisect_right(starts, s) - 1)
    total, first = 0, -1
    while i < len(regions) and regions[i][0] < e:
        rs, re_ = regions[i]
        part = min(e, re_) - max(s, rs)
        if part > 0:
            total += part
            if first < 0:
                first = rs
        i += 1
    return total, first


def relaxation_bound(
    comp: Compiled,
    *,
    time_limit_s: float = 5.0,
    bucket_minutes: int = BUCKET_MINUTES,
) -> RelaxationBound:
    """Solve the relaxation for at most ``time_limit_s``; its proven bound bounds every plan."""
    started = _time.perf_counter()
    w = comp.weights
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:  # pragma: no cover - every OR-Tools wheel has GLOP
        raise RuntimeError("OR-Tools has no LP solver (GLOP)")
    buckets = _buckets(comp, bucket_minutes)
    by_assistant: dict[int, list[int]] = defaultdict(list)
    for n, b in enumerate(buckets):
        by_assistant[b.assistant].append(n)

    constant = 0
    cost: list[Expr] = []
    unplanned: list[Expr] = []
    load: dict[int, list[Expr]] = defaultdict(list)  # bucket → minutes there
    day_work: dict[Slot, list[Expr]] = defaultdict(list)
    day_drive: dict[Slot, Expr] = {}
    presence: dict[str, pywraplp.Variable] = {}
    client_jobs: dict[str, list[pywraplp.Variable]] = defaultdict(list)
    on_day: dict[Slot, list[tuple[Job, pywraplp.Variable]]] = defaultdict(list)
    minutes: dict[str, list[tuple[Slot, pywraplp.Variable]]] = {}
    spread: dict[str, list[tuple[pywraplp.Variable, _Bucket]]] = {}
    for job in comp.jobs:
        if job.fixed:
            continue
        if not job.regions:
            constant += w.unplanned * job.weight if job.group is None else 0
            continue
        y = solver.NumVar(0, 1, f"y_{job.key}")
        presence[job.key] = y
        if job.group is None:
            unplanned.append(w.unplanned * job.weight * (1 - y))
        if job.client_id is not None:
            client_jobs[job.client_id].append(y)
        xs = _job_minutes(solver, comp, job, buckets, by_assistant)
        solver.Add(solver.Sum([x for x, _, _ in xs]) == job.duration * y)
        minutes[job.key] = [((buckets[n].assistant, buckets[n].day), x) for x, n, _ in xs]
        spread[job.key] = [(x, buckets[n]) for x, n, _ in xs]
        for x, n, _ in xs:
            b = buckets[n]
            load[n].append(x)
            day_work[(b.assistant, b.day)].append(x)
            if job.location is not None:
                on_day[(b.assistant, b.day)].append((job, x))
        if job.deadline is not None:
            late = _tardiness(solver, job, xs, buckets, y)
            if late is not None:
                cost.append(w.tardiness * job.weight * late)
    _keep_predecessors(solver, comp, presence, spread)
    routes: list[_Route] = []
    patterns: list[DayPatterns] = []
    locate = solver.NumVariables() <= LOCATED_DRIVES_MAX_COLUMNS
    # a frozen visit is no column of the LP, and a route without it may not fit where
    # the route with it did (its leg may cross a busy hour): no patterns then
    frozen_visit = any(job.fixed and job.location is not None for job in comp.jobs)
    priced = solver.NumVariables() <= PATTERNS_MAX_COLUMNS and not frozen_visit
    for slot, visits in on_day.items():
        jobs, spent = _per_visit(visits)
        route = _day_drives(solver, comp, slot, jobs, spent)
        if locate:
            _locate_drives(solver, comp, slot, route, buckets, by_assistant, load)
        routes.append(route)
        drive = route.drive
        day = day_routes(comp, slot, jobs)
        # the route searches are Python and have no time limit of their own: days past
        # a share of the limit get the cheap rows instead (a day's search: 0.01-0.5 s)
        priced = priced and _time.perf_counter() - started < PATTERNS_SHARE * time_limit_s
        if priced:
            rows = day_patterns(solver, day, [spent[job.key] for job in jobs])
            patterns.append(rows)
            solver.Add(rows.drive >= route.drive)
            drive = rows.drive
        else:
            _route_conflicts(solver, day, jobs, spent)
        day_drive[slot] = drive
        cost.append(w.travel * drive)
    for n, terms in load.items():
        b = buckets[n]
        solver.Add(solver.Sum(terms) <= b.end - b.start)
    for a, cal in enumerate(comp.calendars):
        mine = [buckets[n] for n in by_assistant[a]]
        for br in cal.breaks:
            lo, hi = br.lo, br.hi + br.minutes
            inside = [n for n in by_assistant[a] if lo <= buckets[n].start and buckets[n].end <= hi]
            room = sum(buckets[n].end - buckets[n].start for n in inside)
            terms = [x for n in inside for x in load.get(n, [])]
            if terms and room >= br.minutes:
                solver.Add(solver.Sum(terms) <= room - br.minutes)
        floor = comp.floors.get(a)
        for d in {b.day for b in mine}:
            if cal.max_per_day is not None and day_work.get((a, d)):
                solver.Add(solver.Sum(day_work[(a, d)]) <= cal.max_per_day)
            if floor is not None and day_work.get((a, d)):
                free = floor.day_free(d) - cal.break_minutes(d)
                drive = day_drive.get((a, d), 0)
                solver.Add(solver.Sum(day_work[(a, d)]) + drive <= free)
    for group, need in comp.groups.items():
        members = [presence[j.key] for j in comp.jobs if j.group == group and j.key in presence]
        solver.Add(solver.Sum(members) <= need)
        unplanned.append(w.unplanned * comp.group_weight[group] * (need - solver.Sum(members)))
    for client, ys in client_jobs.items():
        # some assistant works for the client on some day if any of its jobs is planned
        u = solver.NumVar(0, 1, f"u_{client}")
        for y in ys:
            solver.Add(u >= y)
        cost.append(w.client_day * u)
    missed = solver.NumVar(0, solver.infinity(), "missed")
    solver.Add(missed == solver.Sum(unplanned))
    # a plan that leaves out more than the row allows pays for it: the rounding below
    # caps the units left out, and a cap the patterns so far cannot meet must not
    # make the LP infeasible (patterns still to come might meet it)
    excess = solver.NumVar(0, solver.infinity(), "excess")
    cap = solver.Add(missed - excess <= solver.infinity())
    solver.Minimize(solver.Sum(cost) + missed + EXCESS_PENALTY * excess)
    unit = w.unplanned
    level, days = 0.0, {}

    def read_level() -> None:
        nonlocal level
        level = missed.solution_value() / unit

    def read() -> None:
        nonlocal days
        read_level()
        days = _kept_days(presence, minutes)

    # the patterns join after a solve without them, so a solve cut short by time
    # never loses the bound the drive rows alone give
    for rows in patterns:
        rows.enable(False)
    proven = _priced_solve(solver, started, time_limit_s, routes, [], read)
    bound = proven.bound
    if bound is None:
        patterns = []
    for rows in patterns:
        rows.enable(True)
    if patterns:
        bound = stronger(
            bound, _priced_solve(solver, started, time_limit_s, routes, patterns, read_level).bound
        )
    lp = proven.last
    if bound is not None and abs(level - round(level)) > 1e-6:
        # every plan leaves out a whole number of units and the LP's optimum is
        # convex in that number: the better of its two nearest whole values bounds all
        if patterns:
            cap.SetUb(math.floor(level) * unit)
        else:  # a hard cap: GLOP settles it faster (300-task week: 2-6 s less)
            missed.SetBounds(0, math.floor(level) * unit)
        below = _priced_solve(solver, started, time_limit_s, routes, patterns).bound
        cap.SetUb(solver.infinity())
        missed.SetBounds(math.ceil(level) * unit, solver.infinity())
        above = _priced_solve(solver, started, time_limit_s, routes, patterns).bound
        if below is not None and above is not None:
            bound = max(bound, min(below, above))
    # every plan's objective is a whole number: round up, less the LP's tolerance
    total = (bound if bound is not None else 0.0) + constant
    return RelaxationBound(
        bound=float(math.ceil(total - 1e-7 * abs(total) - 1e-3)),
        lp=None if lp is None else lp + constant,
        days=days,
    )


def stronger(*bounds: float | None) -> float | None:
    """The highest of the proven lower bounds (None: none proven)."""
    known = [b for b in bounds if b is not None]
    return max(known) if known else None


@dataclass(frozen=True)
class _Proven:
    """The best bound the solves proved (None: none) and the last solve's value."""

    bound: float | None
    last: float | None


def _priced_solve(
    solver: pywraplp.Solver,
    started: float,
    limit: float,
    routes: list[_Route],
    patterns: list[DayPatterns],
    read: Callable[[], None] | None = None,
) -> _Proven:
    """Solve, then price patterns and cut sub-tours and solve again, while either adds rows
    or columns and time is left.

    Cuts only raise the LP; new patterns may lower it, so a solve's value bounds the
    plans only with each day's least reduced cost added (the Lagrangian bound); once
    nothing prices out, that is the value itself. ``read`` takes what the caller needs
    from each solve, before the model changes.
    """
    best: float | None = None
    last: float | None = None
    for _ in range(PRICING_ROUNDS):
        value = _solve(solver, started, limit, infeasible=math.inf)
        if value is None:  # out of time: the bounds so far stand
            break
        last = value
        if value == math.inf:
            return _Proven(math.inf, last)
        if read is not None:
            read()
        # read the duals and every route's flow before adding anything: a changed
        # model has no solution
        priced = [(day, day.price()) for day in patterns]
        cut_off = [(route, places) for route in routes for places in _subtours(route)]
        proven = value + sum(p.least for _, p in priced)
        best = proven if best is None else max(best, proven)
        found = [(day, pattern) for day, p in priced for pattern in p.found]
        if not found and not cut_off:
            break
        for day, (mask, drive) in found:
            day.add(solver, mask, drive)
        for route, places in cut_off:
            _forbid_subtour(solver, route, places)
    return _Proven(best, last)


def _keep_predecessors(
    solver: pywraplp.Solver,
    comp: Compiled,
    presence: dict[str, pywraplp.Variable],
    spread: dict[str, list[tuple[pywraplp.Variable, _Bucket]]],
) -> None:
    """A plan keeps no job without its predecessors, and does it after them.

    Without the first row the LP keeps a heavy successor and drops its light
    predecessor (300-task week: a weight-5 task kept, its weight-1 predecessor
    left out; the bound rose up to 19 %). The second row holds in every plan: a
    successor's minutes lie in buckets ending after the predecessor's end, and
    the predecessor's in buckets starting before it, so the successor's mean
    bucket end is past the predecessor's mean bucket start; with the successor
    left out the row asks nothing (no bucket starts after the horizon). It keeps
    the LP's days, which guide the start plan, in the order the tasks must run.
    """
    for job in comp.jobs:
        y = presence.get(job.key)
        if y is None or not job.preds:
            continue
        after = solver.Sum([b.end / job.duration * x for x, b in spread[job.key]])
        for pred_id in job.preds:
            for pred in comp.by_task.get(pred_id, []):
                if pred.fixed:
                    continue
                if pred.key not in presence:  # the predecessor can never be planned
                    y.SetUb(0)
                    continue
                solver.Add(y <= presence[pred.key])
                before = solver.Sum([b.start / pred.duration * x for x, b in spread[pred.key]])
                solver.Add(after - before >= -comp.horizon * (presence[pred.key] - y))


def _kept_days(
    presence: dict[str, pywraplp.Variable],
    minutes: dict[str, list[tuple[Slot, pywraplp.Variable]]],
) -> dict[str, dict[Slot, float]]:
    """The LP's minutes per assistant-day of every job it keeps at least half of."""
    out: dict[str, dict[Slot, float]] = {}
    for key, y in presence.items():
        if y.solution_value() < 0.5:
            continue
        per_day: dict[Slot, float] = defaultdict(float)
        for slot, x in minutes[key]:
            if (v := x.solution_value()) > 1e-6:
                per_day[slot] += v
        out[key] = dict(per_day)
    return out


def _solve(
    solver: pywraplp.Solver, started: float, limit: float, *, infeasible: float | None = None
) -> float | None:
    """The LP's optimum; ``infeasible`` if it has none; None when out of time (no bound)."""
    left = limit - (_time.perf_counter() - started)
    if left <= 0:
        return None
    solver.SetTimeLimit(max(1, int(1000 * left)))
    status = solver.Solve()
    if status == pywraplp.Solver.OPTIMAL:
        return float(solver.Objective().Value())
    return infeasible if status == pywraplp.Solver.INFEASIBLE else None


def _day_drives(
    solver: pywraplp.Solver,
    comp: Compiled,
    slot: Slot,
    jobs: list[Job],
    spent: dict[str, list[Expr]],
) -> _Route:
    """Least driving of one assistant-day, as a circulation over the places it visits.

    A day's route leaves home and comes back, so in every plan each visited place
    is entered at least once and left as often as entered, and so is home when
    anything is visited. Any such route is a circulation with those degrees, so
    the cheapest circulation (fractional: the assignment relaxation of the route)
    bounds the day's drive from below; a route also enters every set of places
    it visits from outside, so sub-tours among small sets are cut off here and
    larger ones after each solve (:func:`_subtours`). Visits at one address are
    one place: no drive between them. ``at[p]`` is the share of the day that
    visits place ``p``.
    """
    a = slot[0]
    home = comp.calendars[a].assistant.home
    by_place: dict[LocKey, list[Job]] = defaultdict(list)
    for job in jobs:
        assert job.location is not None
        by_place[location_key(job.location)].append(job)
    at: dict[LocKey, pywraplp.Variable] = {}
    for place, here in by_place.items():
        at[place] = solver.NumVar(0, 1, "")
        for job in here:
            solver.Add(at[place] >= solver.Sum(spent[job.key]) / job.duration)
    _crowded_places(solver, slot, by_place, spent, at)
    used = solver.NumVar(0, 1, "")
    for there in at.values():
        solver.Add(used >= there)
    nodes: list[tuple[Location | None, pywraplp.Variable]] = [(home, used)]
    nodes += [(by_place[p][0].location, at[p]) for p in at]
    into: list[list[Expr]] = [[] for _ in nodes]
    out: list[list[Expr]] = [[] for _ in nodes]
    arcs: dict[tuple[int, int], pywraplp.Variable] = {}
    arc_minutes: dict[tuple[int, int], int] = {}
    drive: list[Expr] = []
    for i, (src, _) in enumerate(nodes):
        for j, (dst, _) in enumerate(nodes):
            if i == j:
                continue
            arc = solver.NumVar(0, solver.infinity(), "")
            arcs[(i, j)] = arc
            out[i].append(arc)
            into[j].append(arc)
            minutes = comp.travel_minutes(a, src, dst)
            arc_minutes[(i, j)] = minutes
            if minutes:
                drive.append(minutes * arc)
    for k, (_, visited) in enumerate(nodes):
        solver.Add(solver.Sum(into[k]) >= visited)
        solver.Add(solver.Sum(into[k]) == solver.Sum(out[k]))
    route = _Route(
        solver.Sum(drive), [v for _, v in nodes], arcs, arc_minutes, [by_place[p] for p in at]
    )
    # no sub-tour of a few places (as long as there are not too many such sets; the
    # solve adds larger ones where the flow makes them, see :func:`_subtours`)
    for size in SUBTOUR_SIZES:
        if math.comb(len(nodes) - 1, size) <= MAX_SUBTOUR_SETS:
            for subset in itertools.combinations(range(1, len(nodes)), size):
                _forbid_subtour(solver, route, set(subset))
    return route


def _per_visit(visits: list[tuple[Job, Expr]]) -> tuple[list[Job], dict[str, list[Expr]]]:
    """The day's visits, once each, and each one's minutes in the day's buckets."""
    spent: dict[str, list[Expr]] = defaultdict(list)
    jobs: dict[str, Job] = {}
    for job, x in visits:
        spent[job.key].append(x)
        jobs[job.key] = job
    return list(jobs.values()), spent


def _route_conflicts(
    solver: pywraplp.Solver, day: DayRoutes, jobs: list[Job], spent: dict[str, list[Expr]]
) -> None:
    """Where patterns are too dear: a day does no visit no route makes alone, and at
    most one of each group of visits no route makes two of.

    Valid in every plan: a day's visits are one route. Without this the LP keeps
    two visits whose windows lie on either side of home with no time to drive between.
    """
    able, groups = day.clashes()
    for k in set(range(len(jobs))) - set(able):
        for x in spent[jobs[k].key]:
            x.SetUb(0)
    for group in groups:
        shares = [x / jobs[k].duration for k in group for x in spent[jobs[k].key]]
        solver.Add(solver.Sum(shares) <= 1)


def _crowded_places(
    solver: pywraplp.Solver,
    slot: Slot,
    by_place: dict[LocKey, list[Job]],
    spent: dict[str, list[Expr]],
    at: dict[LocKey, pywraplp.Variable],
) -> None:
    """A day that visits a place does at most its windows' length of visits there.

    Otherwise the LP spreads a client's visits thinly over many days, each day
    holding a little of every visit, and pays a fraction of one drive out per day
    (four 45-min visits in a 2-h window: half of each on two days is one drive;
    a plan needs two). Valid: every visit there that day lies in the union of its
    regions that day, so their minutes never exceed its length when the place is
    visited and are 0 when it is not.
    """
    a, d = slot
    for place, here in by_place.items():
        need = sum(j.duration for j in here)
        spans = merge((r.start, r.end) for j in here for r in j.regions.get(a, []) if r.day == d)
        room = sum(e - s for s, e in spans)
        if 0 < room < need:
            solver.Add(room * at[place] >= solver.Sum([x for j in here for x in spent[j.key]]))


def _locate_drives(
    solver: pywraplp.Solver,
    comp: Compiled,
    slot: Slot,
    route: _Route,
    buckets: list[_Bucket],
    by_assistant: dict[int, list[int]],
    load: dict[int, list[Expr]],
) -> None:
    """Each drive of the day's flow takes its minutes in the free time between its ends.

    A drive from place ``p`` to ``q`` leaves after some visit at ``p`` ends and
    arrives before some visit at ``q`` starts (home: the day's first or last free
    minute), so in every plan its minutes lie in the buckets of that span and
    count against them like work (no bucket holds the time before ``now``, where a
    drive may lie: such a drive gets no row). Without this the LP packs visits into a
    client's afternoon window and drives home in the morning (a one-assistant
    week: bound 1.9e7 → 2.1e7, optimum 2.306e7). A drive free to lie in most of
    the day cannot bind, so it gets no row.
    """
    a, d = slot
    mine = [n for n in by_assistant.get(a, []) if buckets[n].day == d]
    if not mine:
        return
    whole = sum(buckets[n].end - buckets[n].start for n in mine)
    # the day's free time, before ``now`` too: a drive may lie there, work not
    day = [seg for seg in comp.calendars[a].segments if seg.day == d]
    first, last = min(seg.start for seg in day), max(seg.end for seg in day)
    leave: dict[int, int] = {}  # node → earliest end of a visit there
    arrive: dict[int, int] = {}  # node → latest start of a visit there
    for node, jobs in enumerate(route.jobs, start=1):
        for job in jobs:
            for r in job.regions.get(a, []):
                if r.day == d:
                    leave[node] = min(leave.get(node, last), r.start + job.duration)
                    arrive[node] = max(arrive.get(node, first), r.end - job.duration)
    for (i, j), arc in route.arcs.items():
        minutes = route.minutes[(i, j)]
        lo, hi = leave.get(i, first), arrive.get(j, last)
        if not minutes or lo < comp.earliest:  # no buckets before ``now``
            continue
        rooms = [(n, min(buckets[n].end, hi) - max(buckets[n].start, lo)) for n in mine]
        rooms = [(n, room) for n, room in rooms if room > 0]
        if sum(room for _, room in rooms) >= LOCATED_DRIVES_SPAN * whole:
            continue
        if not rooms:  # no plan drives this way this day
            arc.SetUb(0)
            continue
        parts = []
        for n, room in rooms:
            part = solver.NumVar(0, room, "")
            parts.append(part)
            load[n].append(part)
        solver.Add(solver.Sum(parts) == minutes * arc)


@dataclass(frozen=True)
class _Route:
    """One assistant-day's drives in the LP: their minutes, whether each node is
    visited (node 0 is home) and the arcs between the nodes."""

    drive: Expr
    visited: list[pywraplp.Variable]
    arcs: dict[tuple[int, int], pywraplp.Variable]
    minutes: dict[tuple[int, int], int]
    jobs: list[list[Job]]  # the visits at each place (node k + 1)


def _forbid_subtour(solver: pywraplp.Solver, route: _Route, group: set[int]) -> None:
    """A route leaves home, so it enters every set of places it visits from outside."""
    entering = [arc for (i, j), arc in route.arcs.items() if j in group and i not in group]
    for k in group:
        solver.Add(solver.Sum(entering) >= route.visited[k])


def _subtours(route: _Route) -> list[set[int]]:
    """The sets of places the LP's flow tours without home, each holding a visited place.

    They are the parts of the flow's support cut off from home: nothing enters
    them, so each gives a violated row of :func:`_forbid_subtour`.
    """
    linked: dict[int, set[int]] = defaultdict(set)
    for (i, j), arc in route.arcs.items():
        if arc.solution_value() > 1e-6:
            linked[i].add(j)
            linked[j].add(i)
    seen: set[int] = set()
    found: list[set[int]] = []
    for start in range(len(route.visited)):
        if start in seen:
            continue
        group, stack = {start}, [start]
        while stack:
            for nxt in linked[stack.pop()] - group:
                group.add(nxt)
                stack.append(nxt)
        seen |= group
        if 0 not in group and any(route.visited[k].solution_value() > 1e-6 for k in group):
            found.append(group)
    return found


def _job_minutes(
    solver: pywraplp.Solver,
    comp: Compiled,
    job: Job,
    buckets: list[_Bucket],
    by_assistant: dict[int, list[int]],
) -> list[tuple[pywraplp.Variable, int, int]]:
    """(minutes of ``job`` in bucket n, n, start of its region there) for every usable bucket."""
    out = []
    for a, regs in job.regions.items():
        spans = sorted((r.start, r.end) for r in regs)
        starts = [s for s, _ in spans]
        for n in by_assistant.get(a, []):
            b = buckets[n]
            room, first = _overlap(spans, starts, b.start, b.end)
            if room <= 0:
                continue
            out.append((solver.NumVar(0, room, f"x_{job.key}_{n}"), n, first))
    return out


def _tardiness(
    solver: pywraplp.Solver,
    job: Job,
    xs: list[tuple[pywraplp.Variable, int, int]],
    buckets: list[_Bucket],
    y: pywraplp.Variable,
) -> pywraplp.Variable | None:
    """The job's late minutes, held above both tardiness bounds (None: never late here)."""
    deadline = job.deadline
    assert deadline is not None
    d = job.duration
    per_minute = []
    for x, n, first in xs:
        b = buckets[n]
        end = b.start + 1
        if not job.split:
            end = max(end, first + d)
        if end > deadline:
            per_minute.append((end - deadline) / d * x)
    mean_busy = solver.Sum(
        [b_start / d * x for x, b_start in ((x, buckets[n].start) for x, n, _ in xs)]
    )
    latest = max(buckets[n].end for _, n, _ in xs) if xs else 0
    if latest <= deadline:
        return None
    late = solver.NumVar(0, solver.infinity(), f"late_{job.key}")
    if per_minute:
        solver.Add(late >= solver.Sum(per_minute))
    solver.Add(late >= mean_busy + ((d + 1) / 2 - deadline) * y)
    return late
