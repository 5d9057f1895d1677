"""The va-engine adapter: a day of visits as PlannedBlocks, checked against the model directly."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from va_engine.model import (
    Assistant,
    BreakRule,
    Busy,
    DayWindow,
    Location,
    PlannedBlock,
    Task,
    TimeWindow,
)
from va_engine.planner.routing import (
    RouteDay,
    RoutingParams,
    check_routes,
    route_visits,
    route_visits_multi,
)
from va_engine.planner.travel import HaversineTravel, TravelMatrix, TravelModel

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY = date(2026, 6, 8)
QUICK = RoutingParams(time_limit_s=0.5, scale=1)
TRAVEL = HaversineTravel()

HOME = Location(name="home", lat=52.09, lon=5.12)  # Utrecht
STABLES = [
    Location(name=f"stable-{k}", lat=52.09 + 0.03 * dy, lon=5.12 + 0.05 * dx)
    for k, (dx, dy) in enumerate(
        [(1, 0), (2, 1), (-1, 2), (0, -2), (3, -1), (-2, -1), (1, 3), (-3, 0), (2, -3), (0, 1)]
    )
]


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=AMS)


def farrier(**fields: object) -> Assistant:
    values: dict[str, object] = {
        "id": "anna",
        "name": "Anna",
        "working_hours": tuple(DayWindow(weekday=d, start=time(8), end=time(17)) for d in range(7)),
        "home": HOME,
    }
    values.update(fields)
    return Assistant.model_validate(values)


def visit(
    k: int, minutes: int = 45, windows: Sequence[tuple[datetime, datetime]] = (), **kw: object
) -> Task:
    return Task.model_validate(
        {
            "id": f"v{k}",
            "title": f"shoeing at stable {k}",
            "duration_minutes": minutes,
            "location": STABLES[k],
            "windows": tuple(TimeWindow(start=a, end=b) for a, b in windows),
            **kw,
        }
    )


def check_day(
    result: RouteDay,
    assistants: Sequence[Assistant],
    tasks: Sequence[Task],
    busy: Sequence[Busy],
    day: date,
    travel: TravelModel,
) -> None:
    """Check the blocks against the model itself (not against the routing instance)."""
    by_id = {t.id: t for t in tasks}
    planned = {b.task_id for b in result.blocks}
    left = {u.task_id for u in result.unplanned}
    assert planned.isdisjoint(left)
    assert planned | left == set(by_id), "every task is planned or explained"
    assert len(planned) == len(result.blocks), "no task planned twice"
    for assistant in assistants:
        tz = assistant.tz
        spans = sorted(
            (w.start, w.end)
            for w in (dw.on(day, tz) for dw in assistant.working_hours)
            if w is not None
        )
        blocks = sorted(
            (b for b in result.blocks if b.assistant_id == assistant.id), key=lambda b: b.start
        )
        if not blocks:
            continue
        assert spans, "blocks on a day without working hours"
        mine = [b for b in busy if b.assistant_id in (assistant.id, None) and b.client_id is None]
        fixed = [(b.start, b.end) for b in mine] + [
            (a_end, b_start) for (_, a_end), (b_start, _) in itertools.pairwise(spans)
        ]
        mode = assistant.travel_mode
        # Walk home → blocks → home: each gap holds the travel plus any busy time inside it.
        stops: list[tuple[datetime, datetime, Location | None]] = [
            (spans[0][0], spans[0][0], assistant.home),
            *((b.start, b.end, b.location) for b in blocks),
            (spans[-1][1], spans[-1][1], assistant.home),
        ]
        for (_, prev_end, prev_loc), (next_start, _, next_loc) in itertools.pairwise(stops):
            need = 0
            if prev_loc is not None and next_loc is not None:
                need = travel.minutes(prev_loc, next_loc, mode)
            inside = sum(
                (
                    (min(e, next_start) - max(s, prev_end)).total_seconds() / 60
                    for s, e in fixed
                    if s < next_start and e > prev_end
                ),
                0.0,
            )
            assert (next_start - prev_end).total_seconds() / 60 >= need + inside - 1e-6
        for block in blocks:
            task = by_id[block.task_id]
            assert block.minutes == task.duration_minutes
            assert block.location == task.location
            assert spans[0][0] <= block.start and block.end <= spans[-1][1]
            for start, end in fixed:
                assert block.end <= start or block.start >= end, f"{block.task_id} overlaps busy"
            if task.windows:
                assert any(w.start <= block.start and block.end <= w.end for w in task.windows)
            if task.release:
                assert block.start >= task.release
            if task.deadline and task.hard_deadline:
                assert block.end <= task.deadline
            if task.assistant_id:
                assert task.assistant_id == assistant.id
            if task.skill:
                assert task.skill in assistant.skills
        # travel_before_minutes is the leg from the previous stop (home for the first).
        prev = assistant.home
        for block in blocks:
            assert prev is not None and block.location is not None
            assert block.travel_before_minutes == travel.minutes(prev, block.location, mode)
            prev = block.location
    # And the generic checker agrees on the routing-level solution.
    assert result.instance is not None and result.solution is not None
    assert check_routes(result.instance, result.solution) == []


def test_farrier_day_with_windows_busy_and_lunch() -> None:
    anna = farrier(breaks=(BreakRule(earliest=time(12), latest=time(14), minutes=30),))
    tasks = [
        visit(0, windows=[(at(MONDAY, 8), at(MONDAY, 11))]),
        visit(1, windows=[(at(MONDAY, 13), at(MONDAY, 17))]),
        visit(2),
        visit(4, windows=[(at(MONDAY, 8), at(MONDAY, 9, 30)), (at(MONDAY, 15), at(MONDAY, 17))]),
        visit(6, minutes=30),
        visit(7, windows=[(at(MONDAY, 10), at(MONDAY, 12))]),
    ]
    busy = [Busy(start=at(MONDAY, 10), end=at(MONDAY, 10, 30), assistant_id="anna", title="call")]
    result = route_visits(anna, tasks, MONDAY, busy, TRAVEL, params=QUICK)
    check_day(result, [anna], tasks, busy, MONDAY, TRAVEL)
    assert result.unplanned == ()
    assert result.travel_minutes > 0
    # The lunch break was placed between 12:00 and 14:00, clear of every visit.
    assert result.origin is not None and result.solution is not None
    breaks = [b for r in result.solution.routes for b in r.breaks]
    lunch = [(s, d) for s, d in breaks if s != 120.0]  # 120 = the 10:00 busy block
    assert len(lunch) == 1
    start = result.origin + timedelta(minutes=lunch[0][0])
    assert at(MONDAY, 12) <= start <= at(MONDAY, 13, 30)
    for block in result.blocks:
        assert block.end <= start or block.start >= start + timedelta(minutes=30)


def test_dst_day_keeps_wall_clock_hours() -> None:
    spring = date(2026, 3, 29)  # clocks go 02:00 → 03:00 in Amsterdam
    anna = farrier(working_hours=(DayWindow(weekday=6, start=time(8), end=time(17)),))
    tasks = [visit(k) for k in range(6)] + [visit(6, windows=[(at(spring, 15), at(spring, 17))])]
    result = route_visits(anna, tasks, spring, [], TRAVEL, params=QUICK)
    check_day(result, [anna], tasks, [], spring, TRAVEL)
    assert result.unplanned == ()
    last = next(b for b in result.blocks if b.task_id == "v6")
    assert last.start.astimezone(AMS).hour >= 15
    # 08:00–17:00 on the short day is still 9 h of wall clock: origin is 08:00 local.
    assert result.origin == at(spring, 8)


def test_overfull_day_drops_light_visits_and_explains() -> None:
    anna = farrier()
    heavy = visit(0, minutes=300, weight=5)
    light = visit(1, minutes=300)
    lunch_only = visit(
        2, windows=[(at(MONDAY + timedelta(days=1), 8), at(MONDAY + timedelta(days=1), 9))]
    )
    desk = Task(id="desk", title="bookkeeping", duration_minutes=30)
    tasks = [heavy, light, lunch_only, desk]
    result = route_visits(anna, tasks, MONDAY, [], TRAVEL, params=QUICK)
    check_day(result, [anna], tasks, [], MONDAY, TRAVEL)
    assert [b.task_id for b in result.blocks] == ["v0"]
    codes = {u.task_id: u.code for u in result.unplanned}
    assert codes == {"v1": "no_room", "v2": "no_window", "desk": "no_location"}
    assert all(u.reason for u in result.unplanned)


def test_no_working_hours_that_day() -> None:
    anna = farrier(working_hours=(DayWindow(weekday=0, start=time(8), end=time(17)),))
    tuesday = MONDAY + timedelta(days=1)
    result = route_visits(anna, [visit(0)], tuesday, [], TRAVEL, params=QUICK)
    assert result.blocks == ()
    assert [u.code for u in result.unplanned] == ["no_working_hours"]


def test_split_working_hours_and_max_minutes() -> None:
    anna = farrier(
        working_hours=(
            DayWindow(weekday=0, start=time(8), end=time(12)),
            DayWindow(weekday=0, start=time(13), end=time(17)),
        ),
        max_minutes_per_day=240,
    )
    tasks = [visit(k, minutes=60) for k in range(6)]
    result = route_visits(anna, tasks, MONDAY, [], TRAVEL, params=QUICK)
    check_day(result, [anna], tasks, [], MONDAY, TRAVEL)
    work = sum(b.minutes + b.travel_before_minutes for b in result.blocks)
    assert work <= 240
    assert len(result.blocks) < 6
    assert all(u.code == "no_room" for u in result.unplanned)


def test_travel_matrix_is_used_as_given() -> None:
    places = [HOME, STABLES[0], STABLES[1], STABLES[2]]
    minutes = [[0, 10, 50, 20], [10, 0, 15, 40], [50, 15, 0, 25], [20, 40, 25, 0]]
    matrix = TravelMatrix(locations=places, minutes_matrix=minutes)
    anna = farrier()
    tasks = [visit(0), visit(1), visit(2)]
    result = route_visits(anna, tasks, MONDAY, [], matrix, params=QUICK)
    check_day(result, [anna], tasks, [], MONDAY, matrix)
    # Best tour: home→0→1→2→home = 10+15+25+20 = 70 (or reversed).
    assert result.travel_minutes == 70


def test_team_shares_visits_by_place_assistant_and_skill() -> None:
    east = Location(name="east", lat=52.09, lon=5.40)
    west = Location(name="west", lat=52.09, lon=4.85)
    hours = tuple(DayWindow(weekday=d, start=time(8), end=time(17)) for d in range(7))
    anna = Assistant(
        id="anna", name="Anna", working_hours=hours, home=west, skills=frozenset({"x-ray"})
    )
    ben = Assistant(id="ben", name="Ben", working_hours=hours, home=east)
    near_west = [Location(name=f"w{k}", lat=52.09 + 0.01 * k, lon=4.87) for k in range(3)]
    near_east = [Location(name=f"e{k}", lat=52.09 + 0.01 * k, lon=5.38) for k in range(3)]
    tasks = [
        *(
            Task(id=f"w{k}", title="visit", duration_minutes=40, location=loc)
            for k, loc in enumerate(near_west)
        ),
        *(
            Task(id=f"e{k}", title="visit", duration_minutes=40, location=loc)
            for k, loc in enumerate(near_east)
        ),
        Task(id="xray", title="x-ray", duration_minutes=30, location=near_east[0], skill="x-ray"),
        Task(
            id="ben-only",
            title="visit",
            duration_minutes=30,
            location=near_west[1],
            assistant_id="ben",
        ),
    ]
    result = route_visits_multi([anna, ben], tasks, MONDAY, [], TRAVEL, params=QUICK)
    check_day(result, [anna, ben], tasks, [], MONDAY, TRAVEL)
    owner = {b.task_id: b.assistant_id for b in result.blocks}
    assert owner["xray"] == "anna" and owner["ben-only"] == "ben"
    assert set(owner.values()) == {"anna", "ben"}
    alone = route_visits_multi(
        [anna.model_copy(update={"skills": frozenset({"x-ray"})})],
        [t for t in tasks if t.id != "ben-only"],
        MONDAY,
        [],
        TRAVEL,
        params=QUICK,
    )
    assert result.travel_minutes < alone.travel_minutes + 1000  # sanity: both solved
    assert alone.unplanned == ()


def test_mixed_travel_modes_are_refused() -> None:
    anna = farrier()
    cyclist = farrier(id="bob", travel_mode="bike")
    with pytest.raises(ValueError, match="one travel mode"):
        route_visits_multi([anna, cyclist], [visit(0)], MONDAY, [], TRAVEL, params=QUICK)


def test_previous_order_warm_start_is_accepted() -> None:
    anna = farrier()
    tasks = [visit(k) for k in range(5)]
    first = route_visits(anna, tasks, MONDAY, [], TRAVEL, params=QUICK)
    again = route_visits(
        anna, tasks, MONDAY, [], TRAVEL, params=QUICK, previous=[b.task_id for b in first.blocks]
    )
    check_day(again, [anna], tasks, [], MONDAY, TRAVEL)
    assert again.travel_minutes <= first.travel_minutes


def _blocks(result: RouteDay) -> list[PlannedBlock]:
    return list(result.blocks)
