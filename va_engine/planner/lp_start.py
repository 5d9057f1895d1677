"""A start plan for big weeks from the relaxation: visits routed first, desk work by the LP.

The list-scheduling greedy fills a week in one pass and, once the days are
full, leaves out whatever comes last, often visits (their windows and drives
are the hardest to fit) and work whose deadline it can no longer meet. The LP
of :mod:`~va_engine.planner.bound` sees the whole week at once, but places
visits fractionally: sequenced, a third of its visits do not fit. So the two
are combined where each is good:

1. the visits alone (and the blocks that never move) are planned with the full
   model, warm-started by the greedy, each on the assistant-days where the LP
   put some of it: with no desk work in the way CP-SAT routes every placeable
   visit in a few seconds;
2. each desk job goes to the assistant-day where the LP put most of it (the
   first LP's, or that of the LP solved again around the planned visits), and
   every assistant-day is sequenced exactly around its visits
   (:func:`~va_engine.planner.decompose.solve_days`), day by day so that a job
   tied by predecessors comes after those already placed;
3. what did not fit, what the LP left out and the tied jobs whose predecessors
   the LP put on a later day are inserted (the tied ones in their order), with
   room made by moving lighter work.

On the 300-task week (seeds 1–3, two runs each, 30 s) running this beside the
greedy's re-solves took the mean objective from 4.62e7 to 4.20e7, and 3.89e7
with the second LP around the planned visits; figures in ``benchmarks/README.md``.
"""

from __future__ import annotations

import time as _time
from collections import defaultdict
from dataclasses import replace

from va_engine.planner.baseline import (
    Breaks,
    drive_intervals,
    greedy_placement,
    insert_jobs,
)
from va_engine.planner.bound import RelaxationBound, relaxation_bound
from va_engine.planner.decompose import (
    Decomposed,
    decompose_placement,
    finish,
    rebuild,
    solve_days,
)
from va_engine.planner.params import PlanLimits
from va_engine.planner.schedule import (
    Compiled,
    Job,
    Placement,
    Region,
    solve_cpsat,
    subtract,
    visits_by_day,
)

__all__ = ["days_around", "plan_visits", "relaxation_plan", "relaxation_start"]

Slot = tuple[int, int]  # (assistant, day)


def relaxation_plan(
    comp: Compiled, *, lp_seconds: float, visit_seconds: float, deadline: float, seed: int = 0
) -> tuple[RelaxationBound, Decomposed | None]:
    """The relaxation, then a plan from its days improved by day re-solves until ``deadline``
    (``time.time()``); None when the LP gave no days. Meant for the second core: the
    first improves the greedy's plan meanwhile, and the better plan wins.

    The desk work goes by the first LP's days or, when that starts better, by the
    days of the LP solved again around the visits as planned (300-task week, 15 s
    of re-solves after: the better start gave the better plan on all of seeds 1–3;
    either LP alone lost by 10–45 % on one of them).
    """
    relaxation = relaxation_bound(comp, time_limit_s=lp_seconds)
    if not relaxation.days:
        return relaxation, None
    visits, visit_breaks = plan_visits(comp, relaxation.days, seconds=visit_seconds, seed=seed)
    start = relaxation_start(comp, relaxation.days, visits, visit_breaks, seed=seed)
    # the LP again around the visits as planned: on some weeks its days fit far better
    again = days_around(comp, visits, time_limit_s=lp_seconds)
    if again:
        other = relaxation_start(comp, again, visits, visit_breaks, seed=seed)
        start = min(start, other, key=lambda d: d.value)
    improved = decompose_placement(
        comp, start.placement, start.breaks, budget=deadline - _time.time(), seed=seed
    )
    return relaxation, improved


def days_around(
    comp: Compiled, visits: Placement, *, time_limit_s: float
) -> dict[str, dict[Slot, float]]:
    """The relaxation's days for the desk work once ``visits`` are planned.

    The visits, their drives and the fixed blocks become busy time and leave the
    LP, so it spreads the desk work over the time they leave free. This LP proves
    nothing (the visits could lie elsewhere); it only guides.
    """
    taken: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (a, _day), day_visits in visits_by_day(comp, visits).items():
        taken[a] += [(s, e) for s, e, _ in day_visits]
        taken[a] += drive_intervals(comp, a, day_visits)
    for key, pieces in visits.items():
        if comp.job(key).fixed:
            taken[pieces[0].assistant] += [(p.start, p.start + p.size) for p in pieces]
    calendars = [
        replace(cal, segments=_without(cal.segments, taken.get(a, [])))
        for a, cal in enumerate(comp.calendars)
    ]
    jobs = [replace(j, fixed=True) if j.key in visits else j for j in comp.jobs]
    around = replace(comp, calendars=calendars, jobs=jobs, floors={})
    return relaxation_bound(around, time_limit_s=time_limit_s).days


def _without(segments: list[Region], taken: list[tuple[int, int]]) -> list[Region]:
    """``segments`` less the ``taken`` intervals (each piece keeps its segment's day)."""
    return [
        Region(s, e, seg.day)
        for seg in segments
        for s, e in subtract([(seg.start, seg.end)], taken)
    ]


def plan_visits(
    comp: Compiled,
    days: dict[str, dict[Slot, float]],
    *,
    seconds: float,
    seed: int = 0,
) -> tuple[Placement, Breaks]:
    """The visits of the week (and fixed blocks) planned alone, as well as ``seconds`` allow.

    A visit the LP kept may only go to an assistant-day where the LP put some of
    it: planned alone, visits would otherwise crowd the days of whoever lives
    nearest, and the desk work the LP put there would no longer fit.
    """
    jobs = []
    for job in comp.jobs:
        if job.fixed:
            jobs.append(job)
        elif job.location is not None and job.task_id not in comp.linked_tasks:
            # (a tied visit's predecessors are not in this model: it is placed later)
            jobs.append(_on_days(job, set(days.get(job.key, {}))))
    alone = replace(comp, jobs=jobs, groups={}, group_weight={})
    hint, hint_breaks, _ = greedy_placement(
        alone, improve_s=0.1 * seconds, seed=seed, thorough=True
    )
    limits = PlanLimits(time_limit_s=0.8 * seconds, workers=1, seed=seed, lns_share=0.5)
    out = solve_cpsat(alone, limits, hint=hint, hint_breaks=hint_breaks)
    placed, breaks = (hint, hint_breaks) if out.placement is None else (out.placement, out.breaks)
    # the visits that did not fit on the LP's days go wherever they still fit
    state, placement, in_group = rebuild(comp, {}, {k: v for k, v in placed.items() if v}, breaks)
    left = [comp.job(j.key) for j in alone.jobs if not placement.get(j.key)]
    insert_jobs(state, placement, in_group, sorted(left, key=lambda j: -j.weight))
    return placement, state.breaks


def _on_days(job: Job, slots: set[Slot]) -> Job:
    """``job`` limited to the assistant-days ``slots`` (unchanged when none of them fits)."""
    regions = {a: [r for r in regs if (a, r.day) in slots] for a, regs in job.regions.items()}
    regions = {a: regs for a, regs in regions.items() if regs}
    return replace(job, regions=regions) if regions else job


def relaxation_start(
    comp: Compiled,
    days: dict[str, dict[Slot, float]],
    visits: Placement,
    visit_breaks: Breaks,
    *,
    seed: int = 0,
) -> Decomposed:
    """Desk work on the LP's ``days`` around ``visits`` (see :func:`plan_visits`), then the rest.

    ``visits`` stay as they are; every job keeps its own regions (the days only
    choose where the exact day solves try it first).
    """
    kept = {k: v for k, v in visits.items() if v}
    by_day: dict[Slot, list[Job]] = defaultdict(list)
    rest: list[Job] = []
    for job in comp.jobs:
        if job.key in kept or job.fixed or not job.regions:
            continue
        share = days.get(job.key)
        if job.location is not None or not share:
            rest.append(job)
        else:
            by_day[max(share, key=lambda slot: share[slot])].append(job)
    placed: Placement = {}
    breaks = dict(visit_breaks)
    # day by day, so a job tied by predecessors sees those already placed before it
    # (one whose predecessor lies on a later day waits for the insertion at the end)
    for slot, jobs in sorted(by_day.items(), key=lambda item: (item[0][1], item[0][0])):
        got, got_breaks = solve_days(
            comp, {slot}, jobs, kept, {**kept, **placed}, visit_breaks, seed
        )
        got = got or {}
        placed.update(got)
        breaks.update(got_breaks)
        rest += [j for j in jobs if not got.get(j.key)]
    state, placement, in_group = rebuild(comp, kept, placed, breaks)
    return finish(comp, state, placement, in_group, rest, seed)
