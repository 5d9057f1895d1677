"""Why a task was left out or planned late, found by checking each cause in turn.

The checks go from the most basic to the most circumstantial: a skill nobody
has, a deadline that passed, windows that never open in the horizon, a task
longer than any free window, a predecessor left out, and only then "full":
capacity over-booked, or reachable hours taken by other work. Each reason is a
sentence for the assistant, with a stable ``code`` for programs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import time

from va_engine.model import (
    DayWindow,
    LatePlacement,
    Plan,
    PlannedBlock,
    PlanStatus,
    Task,
    Unplanned,
)
from va_engine.planner.schedule import (
    Blocker,
    Compiled,
    Job,
    Placement,
    client_busy,
    day_travel,
    visits_by_day,
)

__all__ = ["assemble_plan", "explain_late", "explain_unplanned", "format_windows"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _hm(t: time) -> str:
    return f"{t.hour}" if t.minute == 0 else f"{t.hour}:{t.minute:02d}"


def format_windows(windows: Sequence[DayWindow]) -> str:
    """Weekly windows as people write them: ``Mon–Fri 9–12, Sat 10–12``."""
    by_hours: dict[tuple[time, time], list[int]] = defaultdict(list)
    for w in windows:
        by_hours[(w.start, w.end)].append(w.weekday)
    parts: list[str] = []
    for (start, end), days in sorted(by_hours.items(), key=lambda kv: min(kv[1])):
        days = sorted(set(days))
        runs: list[list[int]] = []
        for d in days:
            if runs and d == runs[-1][-1] + 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        names = ", ".join(
            _DAYS[r[0]] if len(r) == 1 else f"{_DAYS[r[0]]}–{_DAYS[r[-1]]}" for r in runs
        )
        parts.append(f"{names} {_hm(start)}–{_hm(end)}")
    return ", ".join(parts)


def _when(comp: Compiled, minute: int) -> str:
    tz = comp.problem.assistants[0].tz
    return f"{comp.moment(minute).astimezone(tz):%a %d %b %H:%M}"


def _task(comp: Compiled, job: Job) -> Task | None:
    return next((t for t in comp.problem.tasks if t.id == job.task_id), None)


def _occupied(comp: Compiled, placement: Placement) -> dict[int, list[tuple[int, int]]]:
    occ: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pieces in placement.values():
        for p in pieces:
            occ[p.assistant].append((p.start, p.start + p.size))
    for (a, _), visits in visits_by_day(comp, placement).items():
        before, back = day_travel(comp, a, visits)
        for (s, _, _), t in zip(visits, before, strict=True):
            occ[a].append((s - t, s))
        occ[a].append((visits[-1][1], visits[-1][1] + back))
    return occ


def _free_in_regions(comp: Compiled, placement: Placement, job: Job) -> tuple[int, int]:
    """Total free minutes and the longest free stretch inside ``job``'s regions."""
    occ = _occupied(comp, placement)
    total = longest = 0
    for a, regions in job.regions.items():
        busy = sorted(occ.get(a, []))
        for r in regions:
            cur = r.start
            for s, e in busy:
                if e <= cur or s >= r.end:
                    continue
                if s > cur:
                    total += s - cur
                    longest = max(longest, s - cur)
                cur = max(cur, e)
            if cur < r.end:
                total += r.end - cur
                longest = max(longest, r.end - cur)
    return total, longest


def _overbooked_hours(comp: Compiled) -> float:
    demand = sum(j.duration for j in comp.jobs if j.group is None and not j.fixed)
    for group, need in comp.groups.items():
        sizes = [j.duration for j in comp.jobs if j.group == group]
        demand += need * (sizes[0] if sizes else 0)
    capacity = 0
    for cal in comp.calendars:
        capacity += sum(max(0, r.end - max(r.start, comp.earliest)) for r in cal.segments)
        capacity -= sum(b.minutes for b in cal.breaks)
        capacity -= sum(j.duration for j in comp.jobs if j.fixed)
    return (demand - capacity) / 60


def explain_unplanned(comp: Compiled, placement: Placement, job: Job) -> tuple[str, str]:
    """(code, reason) for a job that is not in ``placement``."""
    problem = comp.problem
    task = _task(comp, job)
    client = problem.client(job.client_id)
    reach = client.agreement.reachability if client else ()
    facing = task.client_facing if task else False
    if job.unknown_preds:
        ids = ", ".join(repr(p) for p in job.unknown_preds)
        return "predecessor", f"it waits for {ids}, which is no task of this plan (unknown id)"
    if not job.eligible:
        skill = task.skill if task else None
        if task and task.assistant_id and skill:
            return "skill", f"the required assistant {task.assistant_id} lacks skill {skill!r}"
        if skill:
            return "skill", f"no assistant has skill {skill!r}"
        return "assistant", "no assistant may do this task"
    if task is not None:
        if task.hard_deadline and task.deadline is not None:
            if comp.minutes_of(task.deadline) <= comp.earliest:
                return (
                    "deadline",
                    f"its hard deadline ({_when(comp, comp.minutes_of(task.deadline))}) has passed",
                )
            lo = comp.minutes_of(task.release) if task.release else 0
            if lo + job.duration > comp.minutes_of(task.deadline):
                return "deadline", (
                    f"deadline before release + duration: released {_when(comp, lo)}, "
                    f"needs {job.duration} min, due {_when(comp, comp.minutes_of(task.deadline))}"
                )
        if task.release is not None and comp.minutes_of(task.release) >= comp.horizon:
            return "release", "released only after the end of this plan"
    if job.blocker is not None:
        return _never(comp, job, task, job.blocker)
    if not job.regions:
        return "window", "no time is left for it in this plan"
    for pred_id in job.preds:
        if not any(placement.get(p.key) for p in comp.by_task.get(pred_id, [])):
            return "predecessor", f"it waits for {pred_id!r}, which is not planned"
    free, longest = _free_in_regions(comp, placement, job)
    need = job.min_chunk if job.split else job.duration
    drive = ""
    if job.location is not None:
        home_legs: list[int] = [
            comp.travel_minutes(a, comp.calendars[a].assistant.home, job.location)
            for a in job.regions
        ]
        shortest = min(home_legs, default=0)
        if shortest:
            drive = f" plus at least {shortest} min travel each way"
    if facing and reach:
        return "reachability_full", (
            f"client reachable only {format_windows(reach)} and those hours are full "
            f"({free} min free there, longest gap {longest} min, needs {need} min{drive})"
        )
    over = _overbooked_hours(comp)
    span = "day" if comp.horizon <= 24 * 60 else "week" if comp.horizon <= 8 * 24 * 60 else "plan"
    if over > 0:
        return "capacity", f"capacity: {span} over-booked by {over:.1f} h"
    if job.split and free < job.duration:
        return "full", (
            f"only {free} min free in its windows before its deadline, needs {job.duration} min"
        )
    if job.max_chunks > 1 and job.split:
        return "full", "its free time is cut into too many pieces"
    return "full", (
        f"no free slot of {need} min{drive} left in its windows "
        f"(longest free gap {longest} min): taken by work with higher priority or earlier deadlines"
    )


def _spans(comp: Compiled, spans: Sequence[tuple[int, int]], most: int = 3) -> str:
    """``Tue 09:00–12:00, Thu 13:00–17:00`` (the first ``most``, then ``…``)."""
    tz = comp.problem.assistants[0].tz
    parts = [
        f"{comp.moment(s).astimezone(tz):%a %H:%M}–{comp.moment(e).astimezone(tz):%H:%M}"
        for s, e in spans[:most]
    ]
    return ", ".join(parts) + (", …" if len(spans) > most else "") if parts else "nothing"


def _never(comp: Compiled, job: Job, task: Task | None, why: Blocker) -> tuple[str, str]:
    """(code, reason) for a job proved unplaceable at compile time (``placeable_regions``)."""
    client = comp.problem.client(job.client_id)
    reach = format_windows(client.agreement.reachability) if client else ""
    short = "do not overlap" if why.longest == 0 else f"overlap only {why.longest} min"
    noun = "visit" if job.location is not None else "its"
    if why.stage == "deadline":
        return "window", "no time is left for it between its release and deadline in this plan"
    if why.stage == "window":
        return "window", (
            f"none of its time windows leaves {why.need} min between its release and deadline"
        )
    if why.stage == "reachability":
        if task is not None and task.windows:
            return "reachability", (
                f"{noun} window {_spans(comp, why.spans)} and client reachable only {reach} "
                f"{short} (needs {why.need} min)"
            )
        return "reachability", (
            f"client reachable only {reach} and none of that time is "
            "open between its release and deadline in this plan"
        )
    if why.stage == "client_busy":
        busy = [
            (comp.minutes_of(b.start), comp.minutes_of(b.end))
            for b in client_busy(comp.problem, job.client_id)
            if any(
                comp.minutes_of(b.start) < e and s < comp.minutes_of(b.end) for s, e in why.spans
            )
        ]
        return "client_busy", (
            f"client busy {_spans(comp, busy)} during the only time it could be done "
            f"({_spans(comp, why.spans)}): {why.longest} min left, needs {why.need} min"
        )
    if why.stage == "hours":
        where = f"client reachable only {reach}: " if reach and task and task.client_facing else ""
        return "too_long", (
            f"{where}longer ({why.need} min) than any free window before its deadline "
            f"(longest {why.longest} min inside working hours and outside busy time)"
        )
    if why.stage == "travel":
        return "travel", (
            f"{noun} window {_spans(comp, why.spans)} cannot be reached from home base in time: "
            f"{why.travel} min travel from home, and back, inside working hours "
            f"leaves no {why.need} min there"
        )
    return "full", (
        f"its windows hold {sum(e - s for s, e in why.spans)} min in all, it needs {why.need} min"
    )


def explain_late(comp: Compiled, placement: Placement, job: Job, end: int) -> str:
    """Why ``job`` ends at ``end``, after its (soft) deadline."""
    assert job.deadline is not None
    task = _task(comp, job)
    if task and task.release is not None:
        release = comp.minutes_of(task.release)
        if release + job.duration > job.deadline:
            return (
                f"released {_when(comp, release)}, "
                f"too late to do {job.duration} min by its deadline"
            )
    first_open = min((r.start for rs in job.regions.values() for r in rs), default=end)
    if first_open + (job.min_chunk if job.split else job.duration) > job.deadline:
        client = comp.problem.client(job.client_id)
        reach = client.agreement.reachability if client else ()
        if task and task.client_facing and reach:
            return (
                f"client reachable only {format_windows(reach)}; "
                f"the first such time is {_when(comp, first_open)}"
            )
        return f"its first possible slot ({_when(comp, first_open)}) is after its deadline"
    for pred_id in job.preds:
        for pred in comp.by_task.get(pred_id, []):
            placed = placement.get(pred.key) or []
            pred_end = max((p.start + p.size for p in placed), default=0)
            if pred_end + job.duration > job.deadline:
                return f"it waits for {pred_id!r}, which ends {_when(comp, pred_end)}"
    return (
        "the free time before its deadline is taken by work with higher priority "
        "or earlier deadlines"
    )


def assemble_plan(
    comp: Compiled,
    placement: Placement,
    *,
    status: PlanStatus,
    solver: str,
    objective: float,
    bound: float | None,
    seconds: float,
) -> Plan:
    """Turn a placement into a :class:`Plan` with blocks, explained left-outs and late tasks."""
    travel_before: dict[tuple[int, int], int] = {}
    for (a, _), visits in visits_by_day(comp, placement).items():
        before, _back = day_travel(comp, a, visits)
        for (s, _, _), t in zip(visits, before, strict=True):
            travel_before[(a, s)] = t
    blocks: list[PlannedBlock] = []
    unplanned: list[Unplanned] = []
    late: list[LatePlacement] = []
    planned_in_group: dict[str, int] = defaultdict(int)
    for job in comp.jobs:
        pieces = placement.get(job.key) or []
        for p in pieces:
            tz = comp.calendars[p.assistant].assistant.tz
            blocks.append(
                PlannedBlock(
                    task_id=job.task_id,
                    assistant_id=comp.calendars[p.assistant].assistant.id,
                    start=comp.moment(p.start).astimezone(tz),
                    end=comp.moment(p.start + p.size).astimezone(tz),
                    travel_before_minutes=travel_before.get((p.assistant, p.start), 0),
                    location=job.location,
                )
            )
        if job.fixed:
            continue
        if job.group is not None:
            planned_in_group[job.group] += 1 if pieces else 0
            continue
        if not pieces:
            code, reason = explain_unplanned(comp, placement, job)
            unplanned.append(Unplanned(task_id=job.task_id, reason=reason, code=code))
            continue
        end = max(p.start + p.size for p in pieces)
        if job.deadline is not None and end > job.deadline:
            late.append(
                LatePlacement(
                    task_id=job.task_id,
                    minutes_late=end - job.deadline,
                    reason=explain_late(comp, placement, job, end),
                )
            )
    for group, need in comp.groups.items():
        got = planned_in_group[group]
        if got >= need:
            continue
        members = [j for j in comp.jobs if j.group == group and not placement.get(j.key)]
        why = "no day with a free slot inside its windows is left"
        if members:
            _, why = explain_unplanned(comp, placement, members[0])
        elif not any(j.group == group for j in comp.jobs):
            why = "its windows do not occur in this plan"
        unplanned.append(
            Unplanned(
                task_id=group,
                reason=f"only {got} of {need} sessions fit on different days: {why}",
                code="habit",
            )
        )
    blocks.sort(key=lambda b: (b.assistant_id, b.start))
    return Plan(
        start=comp.problem.start,
        end=comp.problem.end,
        blocks=tuple(blocks),
        unplanned=tuple(unplanned),
        late=tuple(late),
        objective=objective,
        bound=bound,
        status=status,
        solver=solver,
        seconds=seconds,
    )
