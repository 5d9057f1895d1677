"""The search layers on top of one OR-Tools solve: ruin-and-recreate and the process portfolio.

Every solution is judged by check_routes; quality is only compared where the
answer does not depend on timing (a start that is far from any local optimum,
or a small instance whose optimum both runs reach).
"""

from __future__ import annotations

import multiprocessing
import random
from typing import Any

import pytest

from tests.planner_routing.test_core import SOLOMON, read_solomon
from va_engine.planner import routing
from va_engine.planner.routing import (
    BreakSpec,
    RoutingInstance,
    RoutingParams,
    RoutingSolution,
    VehicleSpec,
    check_routes,
    euclidean_matrix,
    solve_routing,
)

needs_solomon = pytest.mark.skipif(
    not (SOLOMON / "R101.txt").exists(), reason="shared Solomon data not present"
)


def singletons(instance: RoutingInstance) -> RoutingSolution:
    """One route per customer: feasible on Solomon and far from any good solution."""
    routes = [[c] for c in instance.customers]
    routes += [[] for _ in range(len(instance.vehicles) - len(routes))]
    start = solve_routing(
        instance,
        RoutingParams(time_limit_s=1.0, lns_share=0.0, solution_limit=1),
        initial_routes=routes,
    )
    assert start.vehicles_used == len(instance.customers)
    return start


@needs_solomon
def test_fast_ruin_recreate_improves_a_poor_start_and_stays_feasible() -> None:
    instance = read_solomon(SOLOMON / "R101.txt", 25)
    start = singletons(instance)
    better = routing._ruin_recreate(instance, RoutingParams(seed=7), start, 1.5)
    assert check_routes(instance, better) == []
    assert better.feasible
    assert better.vehicles_used < start.vehicles_used
    assert better.objective < 0.8 * start.objective


def test_slow_ruin_recreate_with_breaks_and_work_limit_stays_feasible() -> None:
    """Breaks and max_work take the OR-Tools repair (not the Python one)."""
    coords = [(0.0, 0.0), *((float(x), float(y)) for x, y in [(3, 1), (5, 4), (1, 6), (7, 7)])]
    coords += [(2.0, 2.0), (6.0, 1.0), (4.0, 6.0)]
    vehicle = VehicleSpec(
        shift=(0.0, 200.0),
        breaks=(BreakSpec(40.0, 60.0, 10.0, name="lunch"),),
        max_work=150.0,
    )
    instance = RoutingInstance(
        travel=euclidean_matrix(coords),
        vehicles=(vehicle, vehicle),
        service=(0.0,) + (8.0,) * (len(coords) - 1),
        windows=((),) + (((0.0, 150.0),),) * (len(coords) - 1),
    )
    start = solve_routing(instance, RoutingParams(time_limit_s=0.5, lns_share=0.0))
    assert start.feasible
    result = routing._ruin_recreate(instance, RoutingParams(), start, 1.0)
    assert check_routes(instance, result) == []
    assert result.objective <= start.objective + 1e-9
    whole = solve_routing(instance, RoutingParams(time_limit_s=1.0, lns_share=0.6))
    assert check_routes(instance, whole) == []


def test_repair_inserts_into_the_later_window_and_never_into_a_closed_one() -> None:
    # Node 2 opens [0, 1] and [50, 60] and lies 5 away: only the later window works.
    # Node 3 has a window that rounds to nothing at scale 1: it can never be inserted.
    instance = RoutingInstance(
        travel=euclidean_matrix([(0, 0), (1, 0), (5, 0), (2, 0)]),
        vehicles=(VehicleSpec(shift=(0.0, 100.0)),),
        windows=((), (), ((0.0, 1.0), (50.0, 60.0)), ((3.2, 3.8),)),
        penalties=(None, None, None, 10.0),
    )
    repair = routing._Repair(instance, 1)
    routes: list[list[int]] = [[1]]
    left = repair.recreate(routes, [2, 3], random.Random(0))
    assert left == [3]
    assert check_routes(instance, routes) == []
    early = repair.schedule(0, routes[0])
    assert early is not None and 50 <= early[0][routes[0].index(2) + 1] <= 60
    # A mandatory customer that fits nowhere makes the repair fail.
    strict = RoutingInstance(
        travel=instance.travel,
        vehicles=instance.vehicles,
        windows=((), (), ((0.0, 1.0),), ()),
    )
    assert routing._Repair(strict, 1).recreate([[1]], [2], random.Random(0)) is None


def test_route_elimination_keeps_empty_vehicles_empty() -> None:
    instance = RoutingInstance.from_coordinates(
        [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (0.0, 30.0)],
        num_vehicles=3,
        demands=(0, 5, 5, 5),
        capacity=10,
    )
    repair = routing._Repair(instance, 1000)
    closed = repair.recreate([[1], [], []], [2, 3], random.Random(1), open_routes=False)
    assert closed is None  # capacity 10: customers 2 and 3 cannot both join route [1]
    routes: list[list[int]] = [[1], [], []]
    assert repair.recreate(routes, [2, 3], random.Random(1)) == []
    assert check_routes(instance, routes) == []
    assert sum(1 for r in routes if r) == 2


@needs_solomon
def test_portfolio_is_feasible_and_no_worse_than_one_process() -> None:
    """Two processes: the caller's settings here plus a variant in a spawned process."""
    instance = read_solomon(SOLOMON / "C101.txt", 25)
    single = solve_routing(instance, RoutingParams(time_limit_s=3.0))
    raced = solve_routing(instance, RoutingParams(time_limit_s=3.0, workers=2))
    assert check_routes(instance, raced) == []
    assert raced.feasible
    assert raced.objective <= single.objective + 1e-6


def test_portfolio_variants_are_valid_params() -> None:
    for variant in routing.PORTFOLIO:
        params = RoutingParams(**variant)
        assert params.workers == 1
        routing._search_parameters(params)  # unknown strategy names would raise here


def _race_in_daemon(queue: Any) -> None:
    """Runs in a daemonic child, which may not start processes of its own."""
    instance = RoutingInstance.from_coordinates(
        [(0.0, 0.0), (1.0, 0.0), (2.0, 1.0), (0.0, 3.0)], num_vehicles=2
    )
    solution = solve_routing(instance, RoutingParams(time_limit_s=0.5, workers=2))
    queue.put((solution.feasible, check_routes(instance, solution)))


def test_portfolio_falls_back_to_one_process_inside_a_daemonic_worker() -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_race_in_daemon, args=(queue,), daemon=True)
    child.start()
    try:
        feasible, problems = queue.get(timeout=60)
    finally:
        child.join(timeout=10)
    assert feasible and problems == []
