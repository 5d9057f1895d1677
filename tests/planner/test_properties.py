"""Property tests: on random small problems every plan (CP-SAT and greedy) passes the validator."""

from __future__ import annotations

from datetime import time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_builders import MONDAY, assistant, at, client, weekdays

from va_engine.model import BreakRule, Busy, Location, PlanningProblem, Task, TimeWindow
from va_engine.planner import PlanLimits, greedy_plan, plan, validate_plan

PLACES = [Location(name=f"p{i}", lat=52.0 + 0.07 * i, lon=4.6 + 0.09 * (i % 3)) for i in range(5)]


@st.composite
def problems(draw: st.DrawFn) -> PlanningProblem:
    days = draw(st.integers(1, 2))
    n_assistants = draw(st.integers(1, 2))
    assistants = tuple(
        assistant(
            f"a{i}",
            working_hours=weekdays(
                time(draw(st.sampled_from([8, 9]))), time(draw(st.sampled_from([12, 16, 17])))
            ),
            breaks=(BreakRule(earliest=time(11), latest=time(13), minutes=30),)
            if draw(st.booleans())
            else (),
            max_minutes_per_day=draw(st.sampled_from([None, 240])),
            skills=frozenset({"tax"}) if i == 0 else frozenset(),
        )
        for i in range(n_assistants)
    )
    c = client("c", weekdays(time(9), time(draw(st.sampled_from([10, 12, 17])))))
    tasks = []
    for i in range(draw(st.integers(1, 8))):
        minutes = draw(st.sampled_from([15, 30, 45, 60, 90, 120, 240]))
        day = draw(st.integers(0, days - 1))
        split = draw(st.booleans()) and minutes >= 60
        visit = not split and draw(st.integers(0, 4)) == 0
        rel_h = draw(st.integers(8, 14))
        windows: tuple[TimeWindow, ...] = ()
        if draw(st.integers(0, 3)) == 0:
            h = draw(st.integers(8, 15))
            windows = (TimeWindow(start=at(day, h), end=at(day, h + 2)),)
        tasks.append(
            Task(
                id=f"t{i}",
                title=f"t{i}",
                duration_minutes=minutes,
                kind=draw(st.sampled_from(["admin", "call"])) if not visit else "visit",
                client_id="c" if draw(st.booleans()) else None,
                release=at(day, rel_h) if draw(st.booleans()) else None,
                deadline=at(day, rel_h + draw(st.integers(0, 6))) if draw(st.booleans()) else None,
                hard_deadline=draw(st.booleans()),
                weight=draw(st.integers(1, 5)),
                splittable=split,
                min_chunk_minutes=30 if split else 15,
                windows=windows,
                location=draw(st.sampled_from(PLACES)) if visit else None,
                skill="tax" if draw(st.integers(0, 5)) == 0 else None,
                predecessors=(f"t{i - 1}",) if i and draw(st.integers(0, 4)) == 0 else (),
            )
        )
    busy = tuple(
        Busy(
            start=at(d, h),
            end=at(d, h) + timedelta(minutes=m),
            assistant_id=draw(st.sampled_from([None, "a0"])),
        )
        for d, h, m in draw(
            st.lists(
                st.tuples(
                    st.integers(0, days - 1), st.integers(8, 16), st.sampled_from([30, 60, 90])
                ),
                max_size=3,
            )
        )
    )
    return PlanningProblem(
        start=MONDAY,
        end=MONDAY + timedelta(days=days),
        assistants=assistants,
        tasks=tuple(tasks),
        busy=busy,
        clients=(c,),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_greedy_plans_are_valid(p: PlanningProblem) -> None:
    result = greedy_plan(p, now=p.start, limits=PlanLimits(improve_s=0.02))
    assert validate_plan(p, result) == []


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_cpsat_plans_are_valid_and_not_worse_than_greedy(p: PlanningProblem) -> None:
    limits = PlanLimits(time_limit_s=0.6, improve_s=0.05)
    result = plan(p, limits, now=p.start)
    violations = validate_plan(p, result)
    assert violations == [], "\n".join(map(str, violations))
    greedy = greedy_plan(p, now=p.start, limits=limits)
    assert result.objective <= greedy.objective
    assert result.bound is None or result.bound <= result.objective + 1e-6
