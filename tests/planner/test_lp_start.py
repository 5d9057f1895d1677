"""The relaxation's start plan (lp_start.py): valid, honest about what it leaves out, and led
by the days it is given."""

from __future__ import annotations

import time as _time
from datetime import time

import pytest
from hypothesis import HealthCheck, given, settings
from planner_builders import assistant, at, check_placement, problem, task, weekdays
from test_properties import problems

from va_engine.model import Location, Plan, PlannedBlock, PlanningProblem, Task, TimeWindow
from va_engine.planner.bound import relaxation_bound
from va_engine.planner.lp_start import days_around, plan_visits, relaxation_plan, relaxation_start
from va_engine.planner.schedule import compile_problem

FARM = Location(name="farm", lat=52.62, lon=4.89)  # ~28 km north of the home base


def _farm(minutes: int, *, day: int) -> Task:
    """A visit to the farm, 49 min's drive away, between 10 and 12 on ``day``."""
    window = TimeWindow(start=at(day, 10), end=at(day, 12))
    return task("farm", minutes, kind="visit", location=FARM, windows=(window,))


def _mornings(*tasks: Task, days: int) -> PlanningProblem:
    """One assistant who works 9-13: a day holds four hours."""
    return problem(
        *tasks, days=days, assistants=(assistant(working_hours=weekdays(time(9), time(13))),)
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_start_from_the_relaxation_is_valid(p: PlanningProblem) -> None:
    comp = compile_problem(p, now=p.start)
    days = relaxation_bound(comp, time_limit_s=20.0).days
    visits, breaks = plan_visits(comp, days, seconds=0.3)
    got = relaxation_start(comp, days, visits, breaks)
    check_placement(p, comp, got)
    # the visits planned alone stay where they were
    for key, pieces in visits.items():
        assert got.placement.get(key) == pieces


def test_desk_work_goes_to_the_day_it_is_given() -> None:
    # nothing ties "report" to a day; the greedy would take Monday, the given days say Wednesday
    p = problem(
        task("report", 90),
        task("call", 30, deadline=at(0, 12)),
        _farm(45, day=2),
        days=3,
        assistants=(assistant(working_hours=weekdays(time(9), time(14))),),
    )
    comp = compile_problem(p, now=p.start)
    days = {"report": {(0, 2): 90.0}, "call": {(0, 0): 30.0}}
    visits, breaks = plan_visits(comp, days, seconds=1.0)
    got = relaxation_start(comp, days, visits, breaks)
    check_placement(p, comp, got)
    assert got.unplaced == []
    day_of = comp.calendars[0].day_of
    assert day_of(got.placement["report"][0].start) == 2
    assert day_of(got.placement["call"][0].start) == 0
    visit = got.placement["farm"][0]
    assert at(2, 10) <= comp.moment(visit.start) and comp.moment(visit.start + 45) <= at(2, 12)


def test_tasks_tied_by_predecessors_go_to_their_given_days_in_order() -> None:
    # tied tasks used to wait for the insertion at the end, which takes the first free time
    p = _mornings(
        task("draft", 60),
        task("review", 60, predecessors=("draft",)),
        task("send", 60, predecessors=("review",)),
        days=3,
    )
    comp = compile_problem(p, now=p.start)
    days = {"draft": {(0, 1): 60.0}, "review": {(0, 1): 60.0}, "send": {(0, 2): 60.0}}
    got = relaxation_start(comp, days, {}, {})
    check_placement(p, comp, got)  # checks the order too
    assert got.unplaced == []
    day_of = comp.calendars[0].day_of
    assert [day_of(got.placement[k][0].start) for k in ("draft", "review", "send")] == [1, 1, 2]


def test_a_task_after_a_frozen_block_goes_to_its_given_day() -> None:
    # "draft" was done Monday 9-10 and is frozen; "send" waits for it
    p = _mornings(task("draft", 60), task("send", 60, predecessors=("draft",)), days=3)
    done = PlannedBlock(task_id="draft", assistant_id="ann", start=at(0, 9), end=at(0, 10))
    previous = Plan(start=p.start, end=p.end, blocks=(done,))
    comp = compile_problem(p, now=p.start, previous=previous, frozen_until=at(0, 11))
    days = {"send": {(0, 1): 60.0}}
    visits, breaks = plan_visits(comp, days, seconds=0.5)
    got = relaxation_start(comp, days, visits, breaks)
    check_placement(p, comp, got)
    assert got.unplaced == []
    assert comp.calendars[0].day_of(got.placement["send"][0].start) == 1


def test_a_successor_given_a_day_before_its_predecessor_still_comes_after_it() -> None:
    p = _mornings(task("draft", 120), task("send", 120, predecessors=("draft",)), days=2)
    comp = compile_problem(p, now=p.start)
    days = {"draft": {(0, 1): 120.0}, "send": {(0, 0): 120.0}}
    got = relaxation_start(comp, days, {}, {})
    check_placement(p, comp, got)  # checks the order
    assert got.unplaced == []


def test_the_second_core_gives_a_bound_and_a_valid_plan() -> None:
    p = problem(
        *(
            task(f"t{i}", 30 + 15 * (i % 4), weight=1 + i % 3, deadline=at(i % 2, 12))
            for i in range(10)
        ),
        task("farm", 45, kind="visit", location=FARM),
        days=2,
        assistants=(assistant(working_hours=weekdays(time(9), time(13))),),
    )
    comp = compile_problem(p, now=p.start)
    relaxation, improved = relaxation_plan(
        comp, lp_seconds=10.0, visit_seconds=0.5, deadline=_time.time() + 0.5
    )
    assert improved is not None
    check_placement(p, comp, improved)
    assert relaxation.bound <= improved.value


def test_the_lp_again_around_planned_visits_keeps_desk_work_off_their_time() -> None:
    # Monday's visit and its drives (49 min each way) leave 22 min: the report goes to Tuesday
    p = problem(
        task("report", 90),
        _farm(120, day=0),
        days=2,
        assistants=(assistant(working_hours=weekdays(time(9), time(13))),),
    )
    comp = compile_problem(p, now=p.start)
    visits, _ = plan_visits(comp, {}, seconds=1.0)
    assert "farm" in visits
    days = days_around(comp, visits, time_limit_s=10.0)
    assert set(days) == {"report"}
    assert days["report"] == pytest.approx({(0, 1): 90.0})
