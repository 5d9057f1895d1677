"""The relaxation bound (bound.py): never above any plan, and strong where it should be."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from hypothesis import HealthCheck, given, settings
from planner_builders import AMS, HOME, assistant, at, checked, problem, task, weekdays
from test_properties import PLACES, problems

from va_engine.model import Location, PlanningProblem, PlanStatus, TimeWindow
from va_engine.planner import PlanLimits, greedy_plan, plan
from va_engine.planner import bound as bound_module
from va_engine.planner.bound import relaxation_bound
from va_engine.planner.schedule import compile_problem, solve_cpsat

EXACT = PlanLimits(time_limit_s=5.0, improve_s=0.1, relaxation=False)
FAR = Location(name="farm", lat=52.62, lon=4.89)  # ~28 km north of HOME


def _bound(p: PlanningProblem) -> float:
    return relaxation_bound(compile_problem(p, now=p.start), time_limit_s=20.0).bound


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_bound_never_exceeds_the_optimum_or_any_plan(p: PlanningProblem) -> None:
    _never_above_a_plan(p)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_bound_without_visit_patterns_never_exceeds_any_plan(p: PlanningProblem) -> None:
    # big weeks get the cheaper conflict rows instead of the patterns: valid too
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bound_module, "PATTERNS_MAX_COLUMNS", 0)
        _never_above_a_plan(p)


def _never_above_a_plan(p: PlanningProblem) -> None:
    bound = _bound(p)
    greedy = greedy_plan(p, now=p.start, limits=PlanLimits(improve_s=0.02))
    assert bound <= greedy.objective
    best = checked(p, plan(p, EXACT, now=p.start))
    assert bound <= best.objective
    if best.status is PlanStatus.OPTIMAL:
        assert best.bound is not None and bound <= best.bound + 1e-6


def test_whole_tasks_left_out_are_counted_whole() -> None:
    # 180 min of room, three 100-min tasks: the LP would leave out 1.2 tasks, every plan 2
    p = problem(
        *(task(f"t{i}", 100) for i in range(3)),
        days=1,
        assistants=(assistant(working_hours=weekdays(time(9), time(12))),),
    )
    assert _bound(p) == 2_000_000
    result = checked(p, plan(p, PlanLimits(time_limit_s=2.0, relaxation=True), now=p.start))
    assert result.objective == 2_000_000
    assert result.status is PlanStatus.OPTIMAL


def test_visits_at_one_place_cost_one_drive_there_and_one_home() -> None:
    p = problem(
        task("milk", 30, kind="visit", location=FAR),
        task("feed", 30, kind="visit", location=FAR),
        days=1,
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    drive = sum(b.travel_before_minutes for b in result.blocks)
    assert drive > 20  # one drive out; the second visit is at the same place
    bound = _bound(p)
    # out and back, 4 per minute on the road: the relaxation sees both legs
    assert bound >= 4 * 2 * drive - 8
    assert bound <= result.objective


def test_a_day_visiting_two_neighbouring_farms_costs_the_whole_round() -> None:
    # out to the farms, between them and back: the cheapest circulation is the
    # round itself (nearest-leg floors would count the drive out only once for both)
    neighbour = Location(name="farm 2", lat=52.63, lon=4.91)
    p = problem(
        task("milk", 30, kind="visit", location=FAR),
        task("shoe", 30, kind="visit", location=neighbour),
        days=1,
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    assert result.status is PlanStatus.OPTIMAL
    assert _bound(p) == result.objective


def test_a_day_with_a_stop_next_door_still_drives_out_to_the_far_farms() -> None:
    # home -> baker (1 km) -> two farms 28 km out -> home. A circulation may pay the
    # baker's 2-cycle and a 2-cycle between the farms and never leave home's
    # neighbourhood; a route must enter the pair of farms from outside
    baker = Location(name="baker", lat=52.38, lon=4.89)
    neighbour = Location(name="farm 2", lat=52.625, lon=4.89)
    p = problem(
        task("bread", 30, kind="visit", location=baker),
        task("milk", 30, kind="visit", location=FAR),
        task("shoe", 30, kind="visit", location=neighbour),
        days=1,
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    drive = sum(b.travel_before_minutes for b in result.blocks)
    assert drive > 60  # out to the farms; the return is counted in the objective
    bound = _bound(p)
    assert result.objective - bound <= 4 * 5  # at most a few minutes of driving apart
    assert bound <= result.objective


def test_tardiness_forced_by_capacity_enters_the_bound() -> None:
    # two 90-min tasks due 10:30 in a 9–12 day: one of them ends at 12:00 at best
    p = problem(
        task("a", 90, deadline=at(0, 10, 30)),
        task("b", 90, deadline=at(0, 10, 30)),
        days=1,
        assistants=(assistant(working_hours=weekdays(time(9), time(12))),),
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    assert result.objective == 20 * 90
    assert 0 < _bound(p) <= result.objective


def test_bound_holds_across_the_autumn_dst_change() -> None:
    sunday = datetime(2024, 10, 21, tzinfo=AMS)  # clocks go back on Sun 27 October 03:00
    every_day = weekdays(time(1), time(5), days=range(7))
    p = problem(
        *(task(f"t{i}", 45, deadline=at(6, 3, start=sunday)) for i in range(12)),
        task("v", 60, kind="visit", location=PLACES[2]),
        days=7,
        start=sunday,
        assistants=(assistant(working_hours=every_day, home=HOME),),
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    assert _bound(p) <= result.objective


def test_plan_reports_the_stronger_bound() -> None:
    p = problem(
        *(task(f"t{i}", 100) for i in range(3)),
        days=1,
        assistants=(assistant(working_hours=weekdays(time(9), time(12))),),
    )
    without = plan(p, PlanLimits(time_limit_s=1.0, relaxation=False), now=p.start)
    with_lp = plan(p, PlanLimits(time_limit_s=1.0, relaxation=True), now=p.start)
    assert with_lp.bound is not None
    assert without.bound is None or with_lp.bound >= without.bound


def test_a_successor_is_not_kept_without_its_predecessor() -> None:
    # one hour of room: every plan keeps the 1-weight predecessor alone (5 left out)
    # or nothing; an LP blind to the order keeps the 5-weight successor and pays 1
    p = problem(
        task("draft", 60, weight=1),
        task("send", 60, weight=5, predecessors=("draft",)),
        days=1,
        assistants=(assistant(working_hours=weekdays(time(9), time(10))),),
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    assert result.objective == 5_000_000
    # halves of both are all an LP that knows the order can keep
    assert 3_000_000 <= _bound(p) <= result.objective


def test_a_successor_runs_after_its_predecessor_in_the_bound_too() -> None:
    # the successor is due at 12:00 but its predecessor can only run from 13:00
    p = problem(
        task("draft", 60, windows=(TimeWindow(start=at(0, 13), end=at(0, 17)),)),
        task("send", 30, deadline=at(0, 12), predecessors=("draft",)),
        days=1,
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    assert [u.task_id for u in result.unplanned] == []
    assert result.late and result.late[0].minutes_late >= 90
    assert 0 < _bound(p) <= result.objective


def test_visits_spread_thinly_over_days_still_pay_for_the_drives_out() -> None:
    # four 45-min visits at one farm, each Monday or Wednesday 10-12: a day holds two,
    # so every plan drives out twice; half of each visit on each day used to cost one
    windows = tuple(TimeWindow(start=at(day, 10), end=at(day, 12)) for day in (0, 2))
    p = problem(
        *(task(f"shoe{i}", 45, kind="visit", location=FAR, windows=windows) for i in range(4)),
        days=3,
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    assert result.unplanned == ()
    assert len({b.start.date() for b in result.blocks}) == 2
    # the LP can still keep two thirds of each visit on one day: 1.5 drives out of 2
    assert 0.7 * result.objective <= _bound(p) <= result.objective


def test_drives_home_take_time_in_the_afternoon_they_follow() -> None:
    # three 1-h visits at the farm in its 13-17 window and a report due in the last
    # half hour: the drive home must lie after the first visit, where the afternoon is
    # full, so one visit cannot be done. The LP used to drive home in the morning
    afternoon = (TimeWindow(start=at(0, 13), end=at(0, 17)),)
    p = problem(
        *(task(f"shoe{i}", 60, kind="visit", location=FAR, windows=afternoon) for i in range(3)),
        task("report", 30, windows=(TimeWindow(start=at(0, 16, 30), end=at(0, 17)),), weight=5),
        days=1,
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    assert [u.task_id for u in result.unplanned] != []
    assert 1_000_000 <= _bound(p) <= result.objective


def test_a_plan_that_meets_the_relaxation_is_returned_at_once() -> None:
    # 180 min of room, three 100-min tasks: the greedy's plan leaves one out, and so
    # must every plan; the relaxation proves it, so CP-SAT is not asked
    p = problem(
        *(task(f"t{i}", 100) for i in range(3)),
        days=1,
        assistants=(assistant(working_hours=weekdays(time(9), time(12))),),
    )
    result = checked(p, plan(p, PlanLimits(time_limit_s=30.0), now=p.start))
    assert (result.solver, result.status) == ("greedy", PlanStatus.OPTIMAL)
    assert result.objective == result.bound == 2_000_000


def test_cp_sat_holds_a_bound_proven_elsewhere() -> None:
    # the same week: 2 000 000 is the optimum, so a claimed bound one above it hides
    # every optimal plan, and the optimum itself lets CP-SAT prove optimality
    p = problem(
        *(task(f"t{i}", 100) for i in range(3)),
        days=1,
        assistants=(assistant(working_hours=weekdays(time(9), time(12))),),
    )
    comp = compile_problem(p, now=p.start)
    limits = PlanLimits(time_limit_s=5.0)
    hidden = solve_cpsat(comp, limits, known_bound=2_000_001)
    assert hidden.objective is not None and hidden.objective >= 2_000_001
    met = solve_cpsat(comp, limits, known_bound=2_000_000)
    assert (met.objective, met.status) == (2_000_000, PlanStatus.OPTIMAL)


@pytest.mark.parametrize("patterns", [True, False], ids=["patterns", "conflict-rows"])
def test_two_visits_no_route_joins_are_not_both_kept(
    patterns: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not patterns:
        monkeypatch.setattr(bound_module, "PATTERNS_MAX_COLUMNS", 0)
    # the farm 11:00-11:30, then the dyke 28 km the other side of home 11:40-12:10:
    # each alone fits the day and every drive fits its hours (the LP used to drive out
    # to both in the morning and keep both), but no route makes both
    dyke = Location(name="dyke", lat=52.12, lon=4.89)
    farm_slot = (TimeWindow(start=at(0, 11), end=at(0, 11, 30)),)
    dyke_slot = (TimeWindow(start=at(0, 11, 40), end=at(0, 12, 10)),)
    p = problem(
        task("milk", 30, kind="visit", location=FAR, windows=farm_slot),
        task("shoe", 30, kind="visit", location=dyke, windows=dyke_slot),
        days=1,
    )
    result = checked(p, plan(p, EXACT, now=p.start))
    assert len(result.unplanned) == 1
    assert 1_000_000 <= _bound(p) <= result.objective
