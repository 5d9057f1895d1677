"""Every task left out (or late) carries a reason found by checking its cause.

Bad input never crashes the planner: it becomes an explained unplanned task.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time

from planner_builders import assistant, at, client, problem, task, weekdays

from va_engine.model import Busy, Habit, Plan, TimeWindow
from va_engine.planner.explain import format_windows


def _reason(result: Plan, tid: str) -> tuple[str, str]:
    entry = next(u for u in result.unplanned if u.task_id == tid)
    return entry.code, entry.reason


def test_format_windows_groups_days() -> None:
    assert format_windows(weekdays(time(9), time(12))) == "Mon–Fri 9–12"
    assert (
        format_windows(
            (*weekdays(time(9), time(12), range(3)), *weekdays(time(10), time(11, 30), range(5, 6)))
        )
        == "Mon–Wed 9–12, Sat 10–11:30"
    )


def test_no_assistant_has_the_skill(solve: Callable[..., Plan]) -> None:
    result = solve(problem(task("tax", 60, skill="tax"), days=1))
    assert _reason(result, "tax") == ("skill", "no assistant has skill 'tax'")


def test_longer_than_any_free_window(solve: Callable[..., Plan]) -> None:
    busy = (Busy(start=at(0, 12), end=at(0, 13)),)
    result = solve(
        problem(task("big", 300, deadline=at(0, 17), hard_deadline=True), days=1, busy=busy)
    )
    code, reason = _reason(result, "big")
    assert code == "too_long"
    assert "longer (300 min) than any free window" in reason and "longest 240 min" in reason


def test_hard_deadline_passed_and_deadline_before_release_plus_duration(
    solve: Callable[..., Plan],
) -> None:
    result = solve(
        problem(
            task("gone", 30, deadline=at(0, 10), hard_deadline=True),
            task("tight", 120, release=at(1, 9), deadline=at(1, 10), hard_deadline=True),
            days=2,
        ),
        now=at(0, 11),
    )
    assert _reason(result, "gone")[0] == "deadline"
    code, reason = _reason(result, "tight")
    assert code == "deadline" and reason.startswith("deadline before release + duration")


def test_client_reachable_hours_full(solve: Callable[..., Plan]) -> None:
    c = client("acme", weekdays(time(9), time(10), range(1)))  # Monday 9–10 only
    calls = [task(f"call{i}", 45, kind="call", client_id="acme", weight=2 - i) for i in range(2)]
    result = solve(problem(*calls, days=1, clients=(c,)))
    assert len([b for b in result.blocks if b.task_id.startswith("call")]) == 1
    code, reason = _reason(result, "call1")
    assert code == "reachability_full"
    assert reason.startswith("client reachable only Mon 9–10 and those hours are full")


def test_capacity_overbooked_by_hours(solve: Callable[..., Plan]) -> None:
    result = solve(problem(*(task(f"t{i}", 120) for i in range(6)), days=1))  # 12 h in an 8 h day
    assert len(result.unplanned) == 2
    code, reason = _reason(result, result.unplanned[0].task_id)
    assert (code, reason) == ("capacity", "capacity: day over-booked by 4.0 h")


def test_unplanned_predecessor(solve: Callable[..., Plan]) -> None:
    result = solve(
        problem(task("first", 60, skill="x"), task("then", 30, predecessors=("first",)), days=1)
    )
    assert _reason(result, "then") == ("predecessor", "it waits for 'first', which is not planned")


def test_window_outside_horizon_and_habit_shortfall(solve: Callable[..., Plan]) -> None:
    outside = TimeWindow(start=at(3, 9), end=at(3, 10))
    habit = Habit(
        id="walk",
        title="walk",
        times_per_week=5,
        minutes=30,
        windows=weekdays(time(8), time(10), range(2)),
    )
    result = solve(problem(task("w", 30, windows=(outside,)), days=2, habits=(habit,)))
    assert _reason(result, "w")[0] == "window"
    code, reason = _reason(result, "walk")
    assert code == "habit" and reason.startswith("only 2 of 5 sessions")


def test_late_task_says_why(solve: Callable[..., Plan]) -> None:
    result = solve(problem(task("a", 120, release=at(0, 15), deadline=at(0, 16)), days=2))
    (late,) = result.late
    assert late.task_id == "a" and late.minutes_late > 0
    assert late.reason.startswith("released")


def test_contradictory_input_is_explained_not_crashing(solve: Callable[..., Plan]) -> None:
    cyc = (task("x", 30, predecessors=("y",)), task("y", 30, predecessors=("x",)))
    nobody = assistant(working_hours=weekdays(days=range(5, 7)))  # works weekends only
    result = solve(problem(*cyc, task("z", 30), days=1, assistants=(nobody,)))
    assert {u.task_id for u in result.unplanned} == {"x", "y", "z"}
    assert all(u.reason for u in result.unplanned)


def test_empty_week_is_an_optimal_empty_plan(solve: Callable[..., Plan]) -> None:
    result = solve(problem(days=1))
    assert (result.blocks, result.unplanned, result.objective, result.gap) == ((), (), 0.0, 0.0)
