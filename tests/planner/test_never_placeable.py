"""Tasks that can never be placed are proven so at compile time and explained precisely.

Also the client's own busy time (it blocks the client's calls and visits, not
desk work) and predecessors that name no known task.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta

from planner_builders import FAST, HOME, at, client, problem, task, weekdays

from va_engine.model import Busy, DayWindow, Location, Plan, PlannedBlock, TimeWindow
from va_engine.planner import plan, validate_plan
from va_engine.planner.schedule import compile_problem
from va_engine.planner.travel import HaversineTravel

NORTH = Location(name="north", lat=52.55, lon=4.89)  # ~20 km from HOME


def _reason(result: Plan, tid: str) -> tuple[str, str]:
    entry = next(u for u in result.unplanned if u.task_id == tid)
    return entry.code, entry.reason


def _span(tid: str, result: Plan) -> tuple[object, object]:
    (block,) = [b for b in result.blocks if b.task_id == tid]
    return block.start, block.end


def test_visit_window_outside_reachability_is_explained(solve: Callable[..., Plan]) -> None:
    c = client("acme", tuple(DayWindow(weekday=d, start=time(13), end=time(17)) for d in (1, 3)))
    visit = task(
        "v",
        45,
        kind="visit",
        client_id="acme",
        location=NORTH,
        windows=(TimeWindow(start=at(1, 9), end=at(1, 12)),),
    )
    result = solve(problem(visit, clients=(c,)))
    code, reason = _reason(result, "v")
    assert code == "reachability"
    assert reason.startswith(
        "visit window Tue 09:00–12:00 and client reachable only Tue, Thu 13–17 do not overlap"
    )


def test_visit_unreachable_from_home_in_time_is_proven_and_explained(
    solve: Callable[..., Plan],
) -> None:
    drive = HaversineTravel().minutes(HOME, NORTH, "car")
    assert 20 < drive < 60
    # 30 min inside 9:00–10:00, but the drive from home can only start at 9:00
    visit = task(
        "v", 30, kind="visit", location=NORTH, windows=(TimeWindow(start=at(0, 9), end=at(0, 10)),)
    )
    p = problem(visit, task("desk", 60), days=1)
    comp = compile_problem(p, now=p.start)
    assert comp.job("v").regions == {}  # kept out of the CP-SAT model
    result = solve(p)
    code, reason = _reason(result, "v")
    assert code == "travel"
    assert "cannot be reached from home base in time" in reason
    assert f"{drive} min travel" in reason
    # the constant unplanned cost is in objective and bound alike: the gap is closed
    assert result.bound == result.objective and result.gap == 0.0
    # a window that leaves room for the drive is planned, starting after it
    later = visit.model_copy(update={"windows": (TimeWindow(start=at(0, 9), end=at(0, 11)),)})
    placed = solve(problem(later, days=1))
    start, _ = _span("v", placed)
    assert start >= at(0, 9) + timedelta(minutes=drive)


def test_client_busy_blocks_calls_but_not_desk_work(solve: Callable[..., Plan]) -> None:
    c = client("acme")
    busy = (Busy(start=at(0, 9), end=at(0, 12), client_id="acme", title="dentist"),)
    call = task(
        "call",
        60,
        kind="call",
        client_id="acme",
        windows=(TimeWindow(start=at(0, 9), end=at(0, 13)),),
    )
    desk = task("desk", 60, client_id="acme", windows=(TimeWindow(start=at(0, 9), end=at(0, 10)),))
    result = solve(problem(call, desk, days=1, clients=(c,), busy=busy))
    assert _span("call", result) == (at(0, 12), at(0, 13))
    assert _span("desk", result) == (at(0, 9), at(0, 10))


def test_validator_flags_a_call_during_the_clients_busy_time() -> None:
    c = client("acme")
    busy = (Busy(start=at(0, 9), end=at(0, 12), client_id="acme", title="dentist"),)
    p = problem(
        task("call", 60, kind="call", client_id="acme"),
        task("desk", 60, client_id="acme"),
        days=1,
        clients=(c,),
        busy=busy,
    )
    base = plan(p, FAST, now=p.start)

    def block(tid: str, hour: int) -> PlannedBlock:
        start = at(0, hour)
        return PlannedBlock(
            task_id=tid, assistant_id="ann", start=start, end=start + timedelta(minutes=60)
        )

    bad = base.model_copy(update={"blocks": (block("call", 10), block("desk", 9)), "unplanned": ()})
    violations = validate_plan(p, bad)
    assert [(v.code, v.task_id) for v in violations] == [("client_busy", "call")]
    assert "dentist" in violations[0].message


def test_only_reachable_window_busy_is_explained(solve: Callable[..., Plan]) -> None:
    c = client("acme", weekdays(time(9), time(10), range(1)))  # Monday 9–10 only
    busy = (Busy(start=at(0, 9), end=at(0, 10), client_id="acme", title="board meeting"),)
    result = solve(
        problem(task("call", 30, kind="call", client_id="acme"), days=1, clients=(c,), busy=busy)
    )
    code, reason = _reason(result, "call")
    assert code == "client_busy"
    assert reason.startswith("client busy Mon 09:00–10:00 during the only time it could be done")


def test_unknown_predecessor_is_an_explained_unplanned_task(solve: Callable[..., Plan]) -> None:
    p = problem(task("then", 30, predecessors=("ghost",)), task("other", 30), days=1)
    result = solve(p)
    assert _reason(result, "then") == (
        "predecessor",
        "it waits for 'ghost', which is no task of this plan (unknown id)",
    )
    assert {b.task_id for b in result.blocks} == {"other"}
    # and a plan that places it anyway is flagged
    start = at(0, 9)
    bad = result.model_copy(
        update={
            "blocks": (
                *result.blocks,
                PlannedBlock(
                    task_id="then",
                    assistant_id="ann",
                    start=start,
                    end=start + timedelta(minutes=30),
                ),
            ),
            "unplanned": (),
        }
    )
    assert "predecessor" in {v.code for v in validate_plan(p, bad)}
