"""Domain model validation: clear messages for impossible input."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from va_engine.model import (
    Assistant,
    BreakRule,
    Busy,
    Client,
    DayWindow,
    Plan,
    PlanningProblem,
    SupportLevel,
    Task,
    TimeWindow,
    expand_windows,
)

AMS = ZoneInfo("Europe/Amsterdam")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=AMS)


def test_deadline_before_release_names_both_times() -> None:
    with pytest.raises(ValidationError, match="deadline 2026-03-02T09:00:00\\+01:00 is before"):
        Task(id="t", title="x", duration_minutes=10, release=at(3, 9), deadline=at(2, 9))


@pytest.mark.parametrize("minutes", [0, -5])
def test_duration_must_be_positive(minutes: int) -> None:
    with pytest.raises(ValidationError, match="duration_minutes"):
        Task(id="t", title="x", duration_minutes=minutes)


def test_unknown_time_zone_names_the_value() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Amsterdm'"):
        Client(id="c", name="C", timezone="Europe/Amsterdm")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Busy(start=datetime(2026, 3, 2, 9), end=datetime(2026, 3, 2, 10))


def test_min_chunk_longer_than_task_is_refused() -> None:
    with pytest.raises(ValidationError, match="min chunk 60 min is longer"):
        Task(id="t", title="x", duration_minutes=30, splittable=True, min_chunk_minutes=60)


def test_task_cannot_precede_itself() -> None:
    with pytest.raises(ValidationError, match="own predecessor"):
        Task(id="t", title="x", duration_minutes=30, predecessors=("t",))


def test_break_must_fit_its_window() -> None:
    with pytest.raises(ValidationError, match="does not fit"):
        BreakRule(earliest=time(12), latest=time(12, 20), minutes=30)


def test_problem_rejects_duplicate_and_unknown_ids() -> None:
    sanne = Assistant(id="sanne", name="Sanne")
    task = Task(id="a", title="x", duration_minutes=5)
    with pytest.raises(ValidationError, match="duplicate task id 'a'"):
        PlanningProblem(start=at(2, 0), end=at(3, 0), assistants=(sanne,), tasks=(task, task))
    stray = Task(id="b", title="x", duration_minutes=5, assistant_id="nobody")
    with pytest.raises(ValidationError, match="unknown assistant 'nobody'"):
        PlanningProblem(start=at(2, 0), end=at(3, 0), assistants=(sanne,), tasks=(stray,))


def test_support_ladder_order() -> None:
    ranks = [level.rank for level in SupportLevel]
    assert ranks == sorted(ranks)
    assert SupportLevel.LEAVE_TO_CLIENT.rank > SupportLevel.TAKE_OVER.rank


def test_weekly_window_keeps_wall_clock_across_dst() -> None:
    # DST starts in the Netherlands on Sunday 29 March 2026.
    monday = DayWindow(weekday=0, start=time(9), end=time(17))
    before = monday.on(date(2026, 3, 23), AMS)
    after = monday.on(date(2026, 3, 30), AMS)
    assert before is not None and after is not None
    assert before.start.hour == after.start.hour == 9
    assert before.start.utcoffset() == timedelta(hours=1)
    assert after.start.utcoffset() == timedelta(hours=2)
    assert before.minutes == after.minutes == 480


def test_expand_windows_clips_to_horizon() -> None:
    windows = [DayWindow(weekday=d, start=time(9), end=time(17)) for d in range(5)]
    start = datetime(2026, 3, 23, 12, tzinfo=AMS)  # Monday noon
    end = datetime(2026, 3, 30, 0, tzinfo=AMS)
    occurrences = expand_windows(windows, start, end, AMS)
    assert len(occurrences) == 5
    assert occurrences[0].start == start
    assert sum(w.minutes for w in occurrences) == 4 * 480 + 300


def test_time_window_order_checked() -> None:
    with pytest.raises(ValidationError, match="ends"):
        TimeWindow(start=at(2, 10), end=at(2, 9))


def test_plan_gap() -> None:
    plan = Plan(start=at(2, 0), end=at(3, 0), objective=110.0, bound=100.0)
    assert plan.gap == pytest.approx(10 / 110)
    assert Plan(start=at(2, 0), end=at(3, 0), objective=5.0).gap is None
