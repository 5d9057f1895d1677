"""The independent validator catches each kind of broken rule (so a silent pass means something)."""

from __future__ import annotations

from datetime import time, timedelta

from planner_builders import FAST, at, client, problem, task, weekdays

from va_engine.model import Busy, Location, Plan, PlannedBlock, Unplanned
from va_engine.planner import plan, validate_plan


def _codes(p, result: Plan) -> set[str]:  # type: ignore[no-untyped-def]
    return {v.code for v in validate_plan(p, result)}


def _with(result: Plan, *blocks: PlannedBlock, unplanned: tuple[Unplanned, ...] = ()) -> Plan:
    return result.model_copy(update={"blocks": blocks, "unplanned": unplanned})


def _block(tid: str, start, minutes: int, **kw) -> PlannedBlock:  # type: ignore[no-untyped-def]
    return PlannedBlock(
        task_id=tid, assistant_id="ann", start=start, end=start + timedelta(minutes=minutes), **kw
    )


def test_valid_plan_has_no_violations() -> None:
    p = problem(task("a", 60), task("b", 60), days=1)
    assert validate_plan(p, plan(p, FAST, now=p.start)) == []


def test_catches_overlap_hours_busy_and_drop() -> None:
    busy = (Busy(start=at(0, 14), end=at(0, 15)),)
    p = problem(task("a", 60), task("b", 60), task("c", 60), task("d", 60), days=1, busy=busy)
    base = plan(p, FAST, now=p.start)
    bad = _with(
        base,
        _block("a", at(0, 9), 60),
        _block("b", at(0, 9, 30), 60),
        _block("c", at(0, 7), 60),
        _block("d", at(0, 14), 60),
    )
    assert {"overlap", "working_hours", "busy"} <= _codes(p, bad)
    assert "dropped" in _codes(p, _with(base, _block("a", at(0, 9), 60)))


def test_catches_duration_split_window_and_reachability() -> None:
    c = client("acme", weekdays(time(10), time(11)))
    p = problem(
        task("call", 60, kind="call", client_id="acme"), task("x", 60), days=1, clients=(c,)
    )
    base = plan(p, FAST, now=p.start)
    bad = _with(
        base, _block("call", at(0, 9), 60), _block("x", at(0, 12), 30), _block("x", at(0, 13), 30)
    )
    assert {"reachability", "split"} <= _codes(p, bad)
    assert "duration" in _codes(
        p, _with(base, _block("call", at(0, 10), 60), _block("x", at(0, 12), 45))
    )


def test_catches_missing_travel_and_predecessor_order() -> None:
    far = Location(name="far", lat=53.2, lon=6.5)
    p = problem(
        task("v", 60, location=far, kind="visit"), task("after", 30, predecessors=("v",)), days=1
    )
    base = plan(p, FAST, now=p.start)
    bad = _with(base, _block("v", at(0, 9), 60, location=far), _block("after", at(0, 8), 30))
    codes = _codes(p, bad)
    assert "travel" in codes and "predecessor" in codes


def test_catches_unplanned_and_planned_at_once() -> None:
    p = problem(task("a", 60), days=1)
    bad = _with(
        plan(p, FAST, now=p.start),
        _block("a", at(0, 9), 60),
        unplanned=(Unplanned(task_id="a", reason="x"),),
    )
    assert "unplanned" in _codes(p, bad)
