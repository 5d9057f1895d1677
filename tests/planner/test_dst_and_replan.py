"""A week across the DST change keeps wall-clock working hours; re-planning moves little."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

from planner_builders import (
    AMS,
    BREAK,
    FAST,
    MONDAY,
    assistant,
    at,
    checked,
    problem,
    task,
    weekdays,
)

from va_engine.model import Habit, Plan
from va_engine.planner import plan


def test_dst_week_keeps_local_working_hours(solve: Callable[..., Plan]) -> None:
    start = datetime(2024, 3, 25, tzinfo=AMS)  # clocks go forward on Sun 31 March 02:00
    everyday = assistant(
        working_hours=weekdays(time(1), time(4), range(7)) + weekdays(time(9), time(17), range(7)),
        breaks=(BREAK,),
    )
    tasks = [task(f"t{i}", 120, deadline=start + timedelta(days=6, hours=3)) for i in range(20)]
    habit = Habit(
        id="night",
        title="night",
        times_per_week=7,
        minutes=60,
        windows=weekdays(time(1), time(4), range(7)),
    )
    p = problem(*tasks, days=7, start=start, assistants=(everyday,), habits=(habit,))
    result = solve(p)
    for b in result.blocks:
        local_start, local_end = b.start.astimezone(AMS), b.end.astimezone(AMS)
        assert time(1) <= local_start.time() and local_end.time() <= time(17)
    sunday = [
        b for b in result.blocks if b.start.astimezone(AMS).date() == datetime(2024, 3, 31).date()
    ]
    # on Sunday 02:00–03:00 does not exist: the night window holds 2 hours, not 3
    night = sum(b.minutes for b in sunday if b.start.astimezone(AMS).hour < 5)
    assert night <= 120
    assert {
        b.start.astimezone(AMS).date() for b in result.blocks if b.task_id == "night"
    }.__len__() == 7


def test_replanning_a_full_week_moves_few_unrelated_blocks() -> None:
    # 38.5 h of a 40 h week, every deadline can be met
    tasks = [
        task(f"t{i:02d}", 60 + 30 * (i % 3), deadline=at(min(4, i // 5), 17), weight=1 + i % 3)
        for i in range(26)
    ]
    p = problem(*tasks)
    first = checked(p, plan(p, FAST, now=MONDAY))
    assert not first.unplanned and not first.late
    frozen_until = at(1, 9)
    p2 = problem(*tasks, task("urgent", 60, deadline=at(2, 12), weight=3))
    second = checked(
        p2, plan(p2, FAST, now=frozen_until, previous=first, frozen_until=frozen_until)
    )
    before = {(b.task_id, b.start) for b in first.blocks}
    # everything that started before frozen_until is kept exactly
    for b in first.blocks:
        if b.start < frozen_until:
            assert (b.task_id, b.start) in {(x.task_id, x.start) for x in second.blocks}
    moved = {
        b.task_id
        for b in second.blocks
        if b.task_id != "urgent" and (b.task_id, b.start) not in before
    }
    assert "urgent" in {b.task_id for b in second.blocks}
    assert not second.late
    # the week's 1.5 h of slack sits at day ends, so a short chain must shift
    assert len(moved) <= 4, moved
    assert second.objective == len(moved)  # the only cost left is the moves themselves
