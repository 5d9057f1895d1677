"""Builders for planner tests: a small VA week in Amsterdam, and a plan() that always validates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from va_engine.model import (
    Agreement,
    Assistant,
    BreakRule,
    Client,
    DayWindow,
    Location,
    Plan,
    PlanningProblem,
    PlanStatus,
    Task,
)
from va_engine.planner import PlanLimits, greedy_plan, plan, validate_plan
from va_engine.planner.decompose import Decomposed
from va_engine.planner.explain import assemble_plan
from va_engine.planner.schedule import Compiled, evaluate

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY = datetime(2024, 6, 3, tzinfo=AMS)  # an ordinary week, no DST change
HOME = Location(name="home", lat=52.37, lon=4.89)
FAST = PlanLimits(time_limit_s=2.0, improve_s=0.2)


def weekdays(
    start: time = time(9), end: time = time(17), days: range = range(5)
) -> tuple[DayWindow, ...]:
    return tuple(DayWindow(weekday=d, start=start, end=end) for d in days)


def assistant(aid: str = "ann", **kw: Any) -> Assistant:
    kw.setdefault("working_hours", weekdays())
    kw.setdefault("home", HOME)
    return Assistant(id=aid, name=aid.title(), **kw)


def task(tid: str, minutes: int = 60, **kw: Any) -> Task:
    return Task(id=tid, title=tid, duration_minutes=minutes, **kw)


def client(cid: str = "acme", reach: tuple[DayWindow, ...] = (), **kw: Any) -> Client:
    return Client(id=cid, name=cid.title(), agreement=Agreement(reachability=reach), **kw)


def problem(*tasks: Task, days: int = 5, start: datetime = MONDAY, **kw: Any) -> PlanningProblem:
    kw.setdefault("assistants", (assistant(),))
    return PlanningProblem(start=start, end=start + timedelta(days=days), tasks=tasks, **kw)


def checked(p: PlanningProblem, result: Plan) -> Plan:
    """Fail the test with every violation the independent validator finds."""
    violations = validate_plan(p, result)
    assert not violations, "\n".join(str(v) for v in violations)
    return result


def check_placement(p: PlanningProblem, comp: Compiled, got: Decomposed) -> None:
    """A plan built outside plan() (re-solves, the relaxation's start): valid, its value
    the model's own, and every task it leaves out reported."""
    result = assemble_plan(
        comp,
        got.placement,
        status=PlanStatus.FEASIBLE,
        solver="test",
        objective=float(got.value),
        bound=None,
        seconds=0.0,
    )
    checked(p, result)
    assert got.value == evaluate(comp, got.placement)
    tasks = [j for j in comp.jobs if not j.fixed and j.group is None]
    assert sorted(got.unplaced) == sorted(j.key for j in tasks if not got.placement.get(j.key))


@pytest.fixture
def solve() -> Callable[..., Plan]:
    """plan() with short limits; every plan is validated, and so is the greedy one."""

    def run(
        p: PlanningProblem, limits: PlanLimits = FAST, now: datetime | None = None, **kw: Any
    ) -> Plan:
        now = now or p.start
        checked(p, greedy_plan(p, now=now, limits=limits))
        return checked(p, plan(p, limits, now=now, **kw))

    return run


def at(day: int, hour: int, minute: int = 0, start: datetime = MONDAY) -> datetime:
    return datetime.combine(start.date() + timedelta(days=day), time(hour, minute), tzinfo=AMS)


BREAK = BreakRule(earliest=time(12), latest=time(13, 30), minutes=30)
