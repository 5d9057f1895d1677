"""Day-sized exact re-solves: a second primal for big weeks, used as CP-SAT hint when better.

On a full week the list-scheduling greedy leaves out more work than capacity
forces, and the full model's LNS is slow there (~0.5 s a step on 25 000
variables: copy and presolve). Here each step re-solves only one or two
assistant-days: the jobs the plan has there plus a few left-out ones that may
go there, with the same CP-SAT model (windows, breaks, travel, client days)
built on that sub-problem alone, every other block fixed. Such a model has
tens of jobs, not hundreds: a step gets at most :data:`STEP_SECONDS` of CP-SAT
(many end sooner, proved optimal), so hundreds of steps fit where the full LNS
makes tens.

Tried first and dropped (measured on the 300-task week): assigning jobs to
assistant-days with a capacity model and then sequencing each day. The
capacity model (free minutes, per-window energy, least drive per visit) kept
every job, but a third of the visits and many desk jobs did not fit when the
days were sequenced, and re-assigning with those pairs forbidden converged to
more left-out weight than the greedy's.
"""

from __future__ import annotations

import random
import time as _time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

from va_engine.planner.baseline import (
    Breaks,
    Occupancy,
    best_spot,
    drive_intervals,
    eject_lighter,
    insert_jobs,
    polish_runs,
    topological,
)
from va_engine.planner.params import PlanLimits
from va_engine.planner.schedule import (
    Compiled,
    Job,
    Piece,
    Placement,
    Region,
    evaluate,
    solve_cpsat,
)

__all__ = [
    "Decomposed",
    "decompose_placement",
    "finish",
    "rebuild",
    "solve_days",
]

Slot = tuple[int, int]  # (assistant, day)
#: share of the steps that re-solve the days where a left-out visit could go
VISIT_PICK = 0.25
#: time limit and CP-SAT workers of one re-solve. Such a model (20-35 jobs on one or
#: two days) is harder than it looks: 44 % of single-worker solves ran out their
#: 0.2 s, and given 2 s many left out one to three units fewer. On 75 recorded
#: re-solves of the 300-task week two workers beat one at the same 0.2 s in 34, lost
#: 5 (also with a second process busy beside them); at 0.1 s they still beat one
#: worker at 0.2 s. Whole plans, 300-task week s1-s3, 9 paired 30 s runs of ``plan()``:
#: 2.96e7 -> 2.83e7 mean, better in all 9
STEP_SECONDS = 0.1
STEP_WORKERS = 2


@dataclass
class Decomposed:
    """The merged placement, its breaks and objective, and the jobs it could not place."""

    placement: Placement
    breaks: Breaks
    value: int
    unplaced: list[str]


def _slot_of(comp: Compiled, pieces: list[Piece] | None) -> Slot | None:
    if not pieces:
        return None
    return (pieces[0].assistant, comp.calendars[pieces[0].assistant].day_of(pieces[0].start))


def _weight(comp: Compiled, job: Job) -> int:
    """What leaving ``job`` out costs per unit: its own weight, or its habit's."""
    return job.weight if job.group is None else comp.group_weight[job.group]


def _day_regions(job: Job) -> dict[Slot, list[Region]]:
    out: dict[Slot, list[Region]] = defaultdict(list)
    for a, regs in job.regions.items():
        for r in regs:
            if r.end - r.start >= job.duration:
                out[(a, r.day)].append(r)
    return out


def decompose_placement(
    comp: Compiled,
    start: Placement,
    breaks: Breaks,
    *,
    budget: float,
    seed: int = 0,
    on_better: Callable[[int], None] | None = None,
) -> Decomposed:
    """Improve ``start`` (with its ``breaks``) one or two assistant-days at a time, exactly.

    Each step takes the jobs ``start`` has on a few assistant-days plus left-out
    jobs that could go there, and re-solves just those days with the full model
    (breaks, travel, windows); everything else stays. Such a model has tens of
    jobs, not hundreds, so a step costs at most :data:`STEP_SECONDS` where a step
    of the full model's LNS costs half a second. Split jobs and fixed blocks
    never move; a job tied by predecessors moves only between the neighbours it
    has outside the re-solved days (see :func:`solve_days`). ``on_better`` hears
    each improved objective (a CLI shows it while the search runs).
    """
    deadline = _time.perf_counter() + budget
    rng = random.Random(seed)
    # a split job keeps its pieces where the start put them (letting them move gained
    # nothing); one the start left out may come in, or it would stay out for good
    keep_keys = {j.key for j in comp.jobs if j.fixed or (j.split and start.get(j.key))}
    kept = {k: v for k, v in start.items() if k in keep_keys and v}
    free_jobs = [j for j in comp.jobs if j.key not in keep_keys and j.regions]
    placement = {k: list(v) for k, v in start.items() if v}
    start_breaks = dict(breaks)
    value = evaluate(comp, placement)
    day_slots = {j.key: set(_day_regions(j)) for j in free_jobs}
    slots = sorted(set().union(*day_slots.values()))
    stale = 0
    while slots and _time.perf_counter() < deadline - 0.05 and stale < 3 * len(slots):
        chosen = _pick_days(free_jobs, day_slots, slots, placement, rng)
        got = _improve_days(comp, chosen, free_jobs, day_slots, kept, placement, breaks, rng, seed)
        if got is None:
            stale += 1
            continue
        new_placement, new_breaks = got
        new_value = evaluate(comp, new_placement)
        if new_value < value:
            placement, breaks, value = new_placement, new_breaks, new_value
            stale = 0
            # a split job that came in keeps its pieces from now on, like the start's:
            # the re-solves know a job by its first piece's day and would not see the rest
            arrived = [j for j in free_jobs if j.split and placement.get(j.key)]
            for job in arrived:
                kept[job.key] = placement[job.key]
                free_jobs.remove(job)
            if on_better is not None:
                on_better(value)
        else:
            stale += 1
    state, placement, in_group = rebuild(comp, kept, placement, breaks)
    pool = [j for j in free_jobs if not placement.get(j.key)]
    done = finish(comp, state, placement, in_group, pool, seed)
    before = evaluate(comp, start)
    if done.value > before:  # the repair lost more than the days gained: keep ``start``
        return Decomposed(start, start_breaks, before, _unplaced(comp, start))
    return done


def _pick_days(
    free_jobs: list[Job],
    day_slots: dict[str, set[Slot]],
    slots: list[Slot],
    placement: Placement,
    rng: random.Random,
) -> set[Slot]:
    """The assistant-days the next step re-solves.

    Mostly one day at random, half the time with a neighbour (same assistant or
    same day). In a quarter of the steps the days where a left-out visit could go
    (one of them, and another assistant's the same day): a visit needs its
    client's window and a drive, so random days rarely give it a chance.
    300-task week, 12 paired runs of ``plan()`` at 30 s: mean 3.10e7 → 2.98e7, better
    on s2 and s3 in every pair, s1 even.
    """
    if rng.random() < VISIT_PICK:
        left_out = [
            j
            for j in free_jobs
            if j.location is not None and not placement.get(j.key) and day_slots[j.key]
        ]
        if left_out:
            options = sorted(day_slots[rng.choice(left_out).key])
            first = rng.choice(options)
            same_day = [s for s in options if s != first and s[1] == first[1]]
            return {first, rng.choice(same_day)} if same_day else {first}
    chosen = {rng.choice(slots)}
    if rng.random() < 0.5:
        a, d = next(iter(chosen))
        near = [s for s in slots if s != (a, d) and (s[0] == a or s[1] == d)]
        if near:
            chosen.add(rng.choice(near))
    return chosen


def _improve_days(
    comp: Compiled,
    chosen: set[Slot],
    free_jobs: list[Job],
    day_slots: dict[str, set[Slot]],
    kept: Placement,
    placement: Placement,
    breaks: Breaks,
    rng: random.Random,
    seed: int,
) -> tuple[Placement, Breaks] | None:
    """Re-solve the ``chosen`` assistant-days with their jobs and some left-out ones."""
    have: dict[str, int] = defaultdict(int)
    for key, pieces in placement.items():
        job = comp.job(key)
        if job.group is not None and pieces:
            have[job.group] += 1
    mine: list[Job] = []
    out: list[Job] = []
    for job in free_jobs:
        where = _slot_of(comp, placement.get(job.key))
        if where in chosen:
            mine.append(job)
        elif where is None and day_slots[job.key] & chosen:
            out.append(job)
    rng.shuffle(out)
    # densest first: a day that drops one long light job can take two short ones
    out.sort(key=lambda j: -_weight(comp, j) / j.duration)
    extra: list[Job] = []
    for job in out:
        if job.group is not None:
            if have[job.group] >= comp.groups.get(job.group, 0):
                continue
            have[job.group] += 1
        extra.append(job)
        if len(extra) >= 6:
            break
    if not extra and len(chosen) < 2:
        return None
    jobs = mine + extra
    got, got_breaks = solve_days(comp, chosen, jobs, kept, placement, breaks, seed)
    if got is None:
        return None
    new_placement = {k: v for k, v in placement.items() if k not in {j.key for j in jobs}}
    new_placement.update(got)
    return new_placement, {**breaks, **got_breaks}


def rebuild(
    comp: Compiled, kept: Placement, placed: Placement, breaks: Breaks
) -> tuple[Occupancy, Placement, dict[str, int]]:
    """A greedy state holding ``kept`` and ``placed`` as they are: the start plan's and the
    solver's own pieces, which the exact model already checked (drives recomputed)."""
    state = Occupancy(comp)
    for a, cal in enumerate(comp.calendars):
        state.occ[a] = sorted(cal.blocked)
        for k, br in enumerate(cal.breaks):
            if (a, k) in breaks:
                s = breaks[(a, k)]
                state.occ[a].append((s, s + br.minutes))
        state.occ[a].sort()
    state.breaks = dict(breaks)
    placement: Placement = {}
    in_group: dict[str, int] = defaultdict(int)
    # visits first, in time order: a drive is checked against the visits already
    # in, so a desk block must not meet a drive that a later visit would shorten
    items = [*kept.items(), *((k, v) for k, v in placed.items() if k not in kept)]
    items.sort(key=lambda it: (comp.job(it[0]).location is None, it[1][0].start))
    for key, pieces in items:
        job = comp.job(key)
        if job.group is not None and in_group[job.group] >= comp.groups.get(job.group, 0):
            continue
        _put(state, job, pieces)
        placement[key] = list(pieces)
        if job.group is not None:
            in_group[job.group] += 1
    return state, placement, in_group


def _put(state: Occupancy, job: Job, pieces: list[Piece]) -> None:
    """Place ``pieces`` as they are; a visit's day gets its drives (the checked ones when
    they fit what is in so far, else recomputed for the whole day)."""
    comp = state.comp
    a = pieces[0].assistant
    day = comp.calendars[a].day_of(pieces[0].start)
    travel = None
    if job.location is not None:
        p = pieces[0]
        travel = state.visit_travel(a, day, p.start, p.start + p.size, job)
        if travel is None:
            travel = drive_intervals(
                comp, a, [*state.visits[(a, day)], (p.start, p.start + p.size, job.location)]
            )
    state.place(a, job, list(pieces), travel)


def solve_days(
    comp: Compiled,
    chosen: set[Slot],
    jobs: list[Job],
    kept: Placement,
    hint: Placement,
    breaks: Breaks,
    seed: int,
) -> tuple[Placement | None, Breaks]:
    """Exact sequencing of a few assistant-days with the full model on their jobs only.

    ``hint`` is the plan the days are taken from: a job tied by predecessors
    stays after those it has placed outside ``jobs`` and before such successors;
    a result that leaves it out while they stay is no result (None).
    """
    sub_jobs: list[Job] = []
    sub_hint: Placement = {}
    for key, pieces in kept.items():
        for n, p in enumerate(pieces):
            day = comp.calendars[p.assistant].day_of(p.start)
            if (p.assistant, day) in chosen:
                k = f"{key}#{n}"
                sub_jobs.append(
                    replace(
                        comp.job(key),
                        key=k,
                        duration=p.size,
                        split=False,
                        regions={p.assistant: [Region(p.start, p.start + p.size, day)]},
                        fixed=True,
                        preds=(),
                        prev=[],
                        group=None,
                    )
                )
                sub_hint[k] = [p]
    inside = {j.key for j in jobs}
    held: list[str] = []
    for job in topological(comp, jobs, lambda j: ()):
        window = _order_window(comp, job, hint, inside)
        if window is None:  # a predecessor is left out: so is this job
            inside.discard(job.key)
            continue
        lo, hi, stay = window
        if stay:
            held.append(job.key)
        need = job.min_chunk if job.split else job.duration
        regions = {
            a: [
                Region(max(r.start, lo), min(r.end, hi), r.day)
                for r in regs
                if (a, r.day) in chosen and min(r.end, hi) - max(r.start, lo) >= need
            ]
            for a, regs in job.regions.items()
        }
        sub_jobs.append(
            replace(
                job,
                regions={a: r for a, r in regions.items() if r},
                group=None,
                weight=_weight(comp, job) * (_STAY if stay else 1),
                prev=[],
            )
        )
        if hint.get(job.key):
            sub_hint[job.key] = hint[job.key]
    sub = replace(comp, jobs=sub_jobs, groups={}, group_weight={})
    limits = PlanLimits(time_limit_s=STEP_SECONDS, workers=STEP_WORKERS, seed=seed, lns_share=0.0)
    out = solve_cpsat(sub, limits, hint=sub_hint, hint_breaks=breaks)
    if out.placement is None or not all(out.placement.get(k) for k in held):
        return None, {}
    day_breaks = {
        (a, k): v
        for (a, k), v in out.breaks.items()
        if (a, comp.calendars[a].breaks[k].day) in chosen
    }
    return {j.key: out.placement[j.key] for j in jobs if out.placement.get(j.key)}, day_breaks


#: weight factor of a job whose successors outside a re-solve are planned: dropping it
#: would leave them without their predecessor, so the re-solve should keep it
_STAY = 100


def _order_window(
    comp: Compiled, job: Job, placement: Placement, inside: set[str]
) -> tuple[int, int, bool] | None:
    """Where ``job`` may lie given its predecessors and successors in ``placement`` that
    are not among ``inside``: (earliest start, latest end, whether successors hold it);
    None when such a predecessor is left out."""
    lo, hi, stay = comp.earliest, comp.horizon, False
    for pred_id in job.preds:
        for pred in comp.by_task.get(pred_id, []):
            if pred.key in inside:
                continue
            pieces = placement.get(pred.key)
            if not pieces:
                return None
            lo = max(lo, max(p.start + p.size for p in pieces))
    for other in comp.successors.get(job.task_id, []):
        if other.key not in inside:
            pieces = placement.get(other.key)
            if pieces:
                hi = min(hi, min(p.start for p in pieces))
                stay = True
    return lo, hi, stay


def finish(
    comp: Compiled,
    state: Occupancy,
    placement: Placement,
    in_group: dict[str, int],
    pool: list[Job],
    seed: int,
) -> Decomposed:
    """Try the left-over jobs anywhere (heaviest first; those with predecessors after
    them, in their order), make room by ejection, polish.

    A left-out job has no planned successor (a plan keeps no job without its
    predecessors), so placing it anywhere breaks no order.
    """
    pool = sorted(pool, key=lambda j: -j.weight)
    for job in pool:
        if job.preds:
            continue
        if job.group is not None and in_group[job.group] >= comp.groups.get(job.group, 0):
            continue
        spot = best_spot(state, job, list(job.regions), comp.earliest)
        if spot is None:
            continue
        state.place(spot[0], job, spot[1], spot[2])
        placement[job.key] = spot[1]
        if job.group is not None:
            in_group[job.group] += 1
    tied = [j for j in pool if j.preds]
    insert_jobs(state, placement, in_group, topological(comp, tied, lambda j: (-j.weight,)))
    eject_lighter(comp, state, placement, pool, in_group)
    placement = polish_runs(comp, placement, 0.5, seed)
    return Decomposed(
        placement, state.breaks, evaluate(comp, placement), _unplaced(comp, placement)
    )


def _unplaced(comp: Compiled, placement: Placement) -> list[str]:
    """Tasks (not habit sessions, which count per habit) that ``placement`` leaves out."""
    return [
        j.key for j in comp.jobs if not j.fixed and j.group is None and not placement.get(j.key)
    ]
