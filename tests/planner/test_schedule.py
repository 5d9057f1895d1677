"""Behaviour of plan(): every hard rule holds (validated) and the objective does what it says."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, time, timedelta

from planner_builders import (
    BREAK,
    FAST,
    HOME,
    MONDAY,
    assistant,
    at,
    client,
    problem,
    task,
    weekdays,
)

from va_engine.model import Busy, Habit, Location, Plan, PlanStatus, TimeWindow
from va_engine.planner import PlanLimits, plan
from va_engine.planner.schedule import Piece, compile_problem, evaluate


def _blocks(result: Plan, tid: str) -> list[tuple[int, int]]:
    return [
        (b.start.hour * 60 + b.start.minute, b.end.hour * 60 + b.end.minute)
        for b in result.blocks
        if b.task_id == tid
    ]


def test_every_task_planned_in_working_hours_and_optimal_reported(
    solve: Callable[..., Plan],
) -> None:
    p = problem(*(task(f"t{i}", 45 + 15 * (i % 3), deadline=at(i % 5, 16)) for i in range(12)))
    result = solve(p)
    assert not result.unplanned
    assert {b.task_id for b in result.blocks} == {t.id for t in p.tasks}
    assert result.status in (PlanStatus.OPTIMAL, PlanStatus.FEASIBLE)
    assert result.bound is not None and result.bound <= result.objective + 1e-6
    # the greedy plan is returned as it is only when the relaxation proves it optimal
    assert result.solver == "cp-sat" or (
        result.status is PlanStatus.OPTIMAL and result.objective <= result.bound
    )


def test_objective_is_the_model_value_of_the_returned_plan() -> None:
    p = problem(*(task(f"t{i}", 120, deadline=at(0, 11), weight=1 + i) for i in range(5)))
    result = plan(p, FAST, now=MONDAY)
    comp = compile_problem(p, now=MONDAY)
    # rebuild the placement from the blocks and score it with the same objective
    placement: dict[str, list[Piece]] = {}
    for b in result.blocks:
        start = comp.minutes_of(b.start)
        placement.setdefault(b.task_id, []).append(Piece(0, start, comp.minutes_of(b.end) - start))
    assert evaluate(comp, placement) == result.objective
    late = sum(
        x.minutes_late * next(t.weight for t in p.tasks if t.id == x.task_id) for x in result.late
    )
    assert result.objective >= comp.weights.tardiness * late


def test_weighted_tardiness_puts_heavy_task_first(solve: Callable[..., Plan]) -> None:
    p = problem(
        task("light", 120, deadline=at(0, 11)),
        task("heavy", 120, deadline=at(0, 11), weight=5),
        days=1,
    )
    result = solve(p)
    assert _blocks(result, "heavy")[0][0] < _blocks(result, "light")[0][0]
    assert [x.task_id for x in result.late] == ["light"]
    assert result.late[0].minutes_late == 120 + 30 * 0  # starts 11:00, ends 13:00


def test_busy_blocks_and_breaks_are_kept_free(solve: Callable[..., Plan]) -> None:
    busy = (Busy(start=at(0, 9), end=at(0, 12), assistant_id="ann"),)
    ann = assistant(breaks=(BREAK,))
    p = problem(*(task(f"t{i}", 60) for i in range(4)), days=1, busy=busy, assistants=(ann,))
    result = solve(p)
    assert not result.unplanned
    for b in result.blocks:
        assert b.start >= at(0, 12)
    starts = sorted(_blocks(result, t)[0] for t in ("t0", "t1", "t2", "t3"))
    gaps = [(a[1], b[0]) for a, b in itertools.pairwise(starts) if b[0] > a[1]]
    assert any(e - s >= 30 for s, e in gaps) or starts[0][0] >= 12 * 60 + 30


def test_reachability_only_for_client_facing_kinds(solve: Callable[..., Plan]) -> None:
    mornings = weekdays(time(9), time(11))
    c = client("acme", mornings)
    p = problem(
        task("call", 60, kind="call", client_id="acme"),
        task("paper", 60, kind="admin", client_id="acme", release=at(0, 13)),
        days=1,
        clients=(c,),
    )
    result = solve(p)
    ((s, e),) = _blocks(result, "call")
    assert s >= 9 * 60 and e <= 11 * 60
    assert _blocks(result, "paper")[0][0] >= 13 * 60


def test_hard_deadline_release_windows_and_predecessors(solve: Callable[..., Plan]) -> None:
    window = (at(1, 14), at(1, 16))
    p = problem(
        task("a", 90, release=at(0, 13)),
        task("b", 60, predecessors=("a",), deadline=at(0, 17), hard_deadline=True),
        task("w", 60, windows=(window_model(*window),)),
        days=3,
    )
    result = solve(p)
    a = next(b for b in result.blocks if b.task_id == "a")
    b = next(b for b in result.blocks if b.task_id == "b")
    assert a.start >= at(0, 13) and b.start >= a.end and b.end <= at(0, 17)
    w = next(b for b in result.blocks if b.task_id == "w")
    assert window[0] <= w.start and w.end <= window[1]


def window_model(start: datetime, end: datetime) -> TimeWindow:
    return TimeWindow(start=start, end=end)


def test_splittable_task_uses_chunks_of_at_least_min_size(solve: Callable[..., Plan]) -> None:
    busy = tuple(Busy(start=at(0, h), end=at(0, h, 30)) for h in (10, 12, 14))
    p = problem(
        task("long", 240, splittable=True, min_chunk_minutes=60, deadline=at(0, 17)),
        days=1,
        busy=busy,
    )
    result = solve(p)
    chunks = _blocks(result, "long")
    assert len(chunks) > 1
    assert sum(e - s for s, e in chunks) == 240
    assert all(e - s >= 60 for s, e in chunks)


def test_required_assistant_skill_and_max_minutes_per_day(solve: Callable[..., Plan]) -> None:
    ann = assistant("ann", max_minutes_per_day=120)
    bob = assistant("bob", skills=frozenset({"tax"}))
    p = problem(
        task("tax", 60, skill="tax"),
        task("mine", 60, assistant_id="ann"),
        *(task(f"x{i}", 60, assistant_id="ann") for i in range(3)),
        days=2,
        assistants=(ann, bob),
    )
    result = solve(p)
    assert [b.assistant_id for b in result.blocks if b.task_id == "tax"] == ["bob"]
    per_day: dict[object, int] = {}
    for b in result.blocks:
        if b.assistant_id == "ann":
            per_day[b.start.date()] = per_day.get(b.start.date(), 0) + b.minutes
    assert max(per_day.values()) <= 120


def test_habit_sessions_on_different_days_inside_windows(solve: Callable[..., Plan]) -> None:
    habit = Habit(
        id="inbox",
        title="inbox triage",
        times_per_week=3,
        minutes=30,
        windows=weekdays(time(9), time(10)),
    )
    result = solve(problem(habits=(habit,)))
    sessions = [b for b in result.blocks if b.task_id == "inbox"]
    assert len(sessions) == 3
    assert len({b.start.date() for b in sessions}) == 3
    assert all(b.start.hour == 9 for b in sessions)


def test_visits_are_routed_with_travel_from_home_and_between(solve: Callable[..., Plan]) -> None:
    places = [Location(name=f"p{i}", lat=52.1 + 0.05 * i, lon=4.6 + 0.1 * i) for i in range(4)]
    p = problem(
        *(task(f"v{i}", 45, location=loc, kind="visit") for i, loc in enumerate(places)), days=1
    )
    result = solve(p)
    visits = sorted((b for b in result.blocks if b.location is not None), key=lambda b: b.start)
    assert len(visits) == 4
    assert visits[0].travel_before_minutes > 0
    for prev, cur in itertools.pairwise(visits):
        assert (cur.start - prev.end) >= timedelta(minutes=cur.travel_before_minutes)
    # a sensible route visits the line of places in order (either direction), not zig-zag
    order = [b.task_id for b in visits]
    assert order in (["v0", "v1", "v2", "v3"], ["v3", "v2", "v1", "v0"])


def test_more_solve_time_never_gives_a_worse_objective() -> None:
    p = problem(
        *(
            task(f"t{i}", 30 + 10 * (i % 4), deadline=at(0, 10 + i % 6), weight=1 + i % 3)
            for i in range(14)
        ),
        days=1,
    )
    quick = plan(p, PlanLimits(time_limit_s=0.5, improve_s=0.0, use_greedy_hint=True), now=MONDAY)
    longer = plan(p, PlanLimits(time_limit_s=2.0, improve_s=0.2), now=MONDAY)
    assert longer.objective <= quick.objective


def test_progress_reports_objective_and_bound() -> None:
    seen: list[tuple[float, float | None]] = []
    p = problem(*(task(f"t{i}", 60, deadline=at(0, 10)) for i in range(4)), days=1)
    plan(p, FAST, now=MONDAY, progress=lambda o, b: seen.append((o, b)))
    assert seen
    assert all(b is None or b <= o + 1e-6 for o, b in seen)


def test_nothing_before_now(solve: Callable[..., Plan]) -> None:
    result = solve(problem(task("a", 60), task("b", 60), days=2), now=at(0, 15))
    assert all(b.start >= at(0, 15) for b in result.blocks)


def test_home_is_optional(solve: Callable[..., Plan]) -> None:
    nomad = assistant(home=None)
    p = problem(task("v", 60, location=HOME, kind="visit"), days=1, assistants=(nomad,))
    result = solve(p)
    assert result.blocks[0].travel_before_minutes == 0
