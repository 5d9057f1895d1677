"""The generic VRPTW core: solutions checked by check_routes, and check_routes itself tested."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import pytest

from va_engine.planner.routing import (
    BreakSpec,
    RoutingInstance,
    RoutingParams,
    VehicleSpec,
    check_routes,
    euclidean_matrix,
    solve_routing,
)

#: the shared benchmark data lives beside the repository (``../shared``), as in CI
SOLOMON = Path(__file__).resolve().parents[3] / "shared" / "bench" / "solomon"
QUICK = RoutingParams(time_limit_s=0.5)


def line_instance(**fields: object) -> RoutingInstance:
    """Depot at x=0 and customers at x=1..4 on a line."""
    coords = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0)]
    return RoutingInstance.from_coordinates(coords, num_vehicles=2, **fields)  # type: ignore[arg-type]


def route_distance(instance: RoutingInstance, route: tuple[int, ...]) -> float:
    path = [0, *route, 0]
    return sum(instance.cost(a, b) for a, b in itertools.pairwise(path))


def brute_force_single(instance: RoutingInstance) -> float:
    """Shortest feasible single-vehicle tour by trying every order."""
    best = math.inf
    for order in itertools.permutations(instance.customers):
        if not check_routes(instance, [list(order)]):
            best = min(best, route_distance(instance, order))
    return best


def test_single_vehicle_matches_brute_force_with_windows() -> None:
    coords = [(0, 0), (5, 1), (2, 7), (8, 3), (6, 8), (1, 4), (9, 9)]
    windows = ((0, 200), (30, 60), (0, 40), (10, 100), (60, 120), (0, 200), (20, 80))
    service = (0, 3, 3, 3, 3, 3, 3)
    instance = RoutingInstance.from_coordinates(
        [(float(x), float(y)) for x, y in coords],
        num_vehicles=1,
        service=tuple(float(s) for s in service),
        windows=tuple(((float(a), float(b)),) for a, b in windows),
    )
    solution = solve_routing(instance, QUICK)
    assert solution.feasible
    assert check_routes(instance, solution) == []
    assert solution.distance == pytest.approx(brute_force_single(instance), rel=1e-6)


def test_capacity_splits_routes() -> None:
    instance = line_instance(demands=(0, 6, 6, 6, 6), capacity=12)
    solution = solve_routing(instance, QUICK)
    assert check_routes(instance, solution) == []
    assert solution.vehicles_used == 2
    assert all(len(route.nodes) == 2 for route in solution.routes)


def test_several_windows_per_customer_use_the_later_one_when_needed() -> None:
    # Customer 2 is open [0, 1] and [50, 60]: it cannot be reached by t=1, so 50–60.
    windows = ((0.0, 1000.0),), ((0.0, 1000.0),), ((0.0, 1.0), (50.0, 60.0))
    instance = RoutingInstance(
        travel=euclidean_matrix([(0, 0), (1, 0), (5, 0)]),
        vehicles=(VehicleSpec(),),
        windows=windows,
        horizon=1000.0,
    )
    solution = solve_routing(instance, QUICK)
    assert check_routes(instance, solution) == []
    start = dict(zip(solution.routes[0].nodes, solution.routes[0].starts, strict=True))[2]
    assert 50.0 <= start <= 60.0


def test_gap_between_windows_is_forbidden() -> None:
    # Arriving at customer 1 at t=10 lands in the gap (5, 30): service must wait for 30.
    instance = RoutingInstance(
        travel=[[0.0, 10.0], [10.0, 0.0]],
        vehicles=(VehicleSpec(shift=(0.0, 100.0)),),
        windows=((), ((0.0, 5.0), (30.0, 40.0))),
    )
    solution = solve_routing(instance, QUICK)
    assert solution.routes[0].starts[0] >= 30.0
    assert check_routes(instance, solution) == []


def test_impossible_customer_is_dropped_with_its_penalty() -> None:
    instance = line_instance(
        windows=(((0.0, 100.0),),) * 4 + (((0.0, 1.0),),),  # x=4 cannot be reached by t=1
        penalties=(None, None, None, None, 500.0),
    )
    solution = solve_routing(instance, QUICK)
    assert solution.dropped == (4,)
    assert solution.penalty == 500.0
    assert check_routes(instance, solution) == []


def test_mandatory_impossible_customer_means_no_solution() -> None:
    instance = RoutingInstance(
        travel=[[0.0, 10.0], [10.0, 0.0]],
        vehicles=(VehicleSpec(shift=(0.0, 100.0)),),
        windows=((), ((0.0, 5.0),)),
    )
    solution = solve_routing(instance, QUICK)
    assert not solution.feasible
    assert solution.dropped == (1,)


def test_fixed_break_is_kept_free_of_service() -> None:
    instance = RoutingInstance(
        travel=euclidean_matrix([(0, 0), (1, 0), (2, 0), (3, 0)]),
        vehicles=(
            VehicleSpec(shift=(0.0, 100.0), breaks=(BreakSpec(10.0, 10.0, 20.0, name="lunch"),)),
        ),
        service=(0.0, 8.0, 8.0, 8.0),
    )
    solution = solve_routing(instance, QUICK)
    assert check_routes(instance, solution) == []
    (route,) = solution.routes
    assert route.breaks == ((10.0, 20.0),)
    for start in route.starts:
        assert start + 8.0 <= 10.0 or start >= 30.0


def test_allowed_vehicles_and_per_vehicle_depots() -> None:
    coords = [(0.0, 0.0), (10.0, 0.0), (1.0, 0.0), (9.0, 0.0)]
    instance = RoutingInstance(
        travel=euclidean_matrix(coords),
        vehicles=(VehicleSpec(start=0, end=0), VehicleSpec(start=1, end=1)),
        allowed_vehicles=(None, None, (1,), None),  # node 2 sits near depot 0 but needs vehicle 1
    )
    solution = solve_routing(instance, QUICK)
    assert check_routes(instance, solution) == []
    served_by = {node: route.vehicle for route in solution.routes for node in route.nodes}
    assert served_by == {2: 1, 3: 1}


def test_checker_finds_each_kind_of_violation() -> None:
    instance = line_instance(
        demands=(0, 5, 5, 5, 5),
        capacity=10,
        windows=(((0.0, 20.0),),) * 3 + (((0.0, 3.5),), ((0.0, 20.0),)),
    )
    assert check_routes(instance, [[1, 2], [3, 4]]) == []
    assert any("capacity" in p for p in check_routes(instance, [[1, 2, 3], [4]]))
    assert any("twice" in p for p in check_routes(instance, [[1, 2], [2, 3, 4]]))
    assert any("not served" in p for p in check_routes(instance, [[1, 2], [3]]))
    assert any("after its windows" in p for p in check_routes(instance, [[4, 3], [1, 2]]))
    assert any("not a customer" in p for p in check_routes(instance, [[0, 1, 2], [3, 4]]))
    late_shift = line_instance(windows=(((0.0, 7.0),), *((((0.0, 20.0),),) * 4)))
    assert any("after its shift" in p for p in check_routes(late_shift, [[1, 2, 3, 4], []]))


def read_solomon(path: Path, customers: int) -> RoutingInstance:
    """Minimal reader for the test; benchmarks/vrptw.py has the full one."""
    lines = path.read_text(encoding="utf-8").splitlines()
    vehicles, capacity = (int(x) for x in lines[4].split())
    rows = [[float(x) for x in line.split()] for line in lines[9:] if line.strip()]
    rows = rows[: customers + 1]
    return RoutingInstance.from_coordinates(
        [(r[1], r[2]) for r in rows],
        num_vehicles=vehicles,
        capacity=capacity,
        demands=tuple(int(r[3]) for r in rows),
        service=tuple(r[6] for r in rows),
        windows=tuple(((r[4], r[5]),) for r in rows),
    )


@pytest.mark.skipif(not (SOLOMON / "C101.txt").exists(), reason="shared Solomon data not present")
def test_solomon_c101_first_25_customers_near_optimum() -> None:
    instance = read_solomon(SOLOMON / "C101.txt", 25)
    solution = solve_routing(instance, RoutingParams(time_limit_s=2.0))
    assert check_routes(instance, solution) == []
    assert check_routes(instance, [list(r.nodes) for r in solution.routes]) == []
    lower_vehicles = math.ceil(sum(instance.demands) / 200)
    assert solution.vehicles_used >= lower_vehicles
    # Published optimum of C101 with 25 customers: 191.3 (one-decimal convention).
    assert solution.distance <= 191.3 * 1.01


def test_plain_params_are_stock_search() -> None:
    plain = RoutingParams.plain(1.0)
    assert plain.first_solution_strategy == "PATH_CHEAPEST_ARC"
    assert plain.local_search_metaheuristic == "GUIDED_LOCAL_SEARCH"
    assert RoutingParams().first_solution_strategy != plain.first_solution_strategy


def test_instance_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="travel matrix"):
        RoutingInstance(travel=[[0.0, 1.0]], vehicles=(VehicleSpec(),))
    with pytest.raises(ValueError, match="service"):
        RoutingInstance(travel=[[0.0]], vehicles=(VehicleSpec(),), service=(1.0, 2.0))
    with pytest.raises(ValueError, match="unknown node"):
        RoutingInstance(travel=[[0.0]], vehicles=(VehicleSpec(start=3),))


def test_benchmark_runner_smoke(tmp_path: Path) -> None:
    """benchmarks/vrptw.py runs end to end on 10 customers and its rows are consistent."""
    if not (SOLOMON / "C101.txt").exists():
        pytest.skip("shared Solomon data not present")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import json

    import vrptw  # type: ignore[import-not-found]

    out = tmp_path / "rows.json"
    vrptw.main(
        [
            "--instances",
            str(SOLOMON / "C101.txt"),
            "--time-limit",
            "0.3",
            "--customers",
            "10",
            "--solvers",
            "ours",
            "ortools-gls",
            "--json",
            str(out),
        ]
    )
    rows = json.loads(out.read_text())
    assert {r["solver"] for r in rows} == {"ours", "ortools-gls"}
    for row in rows:
        assert row["status"] == "feasible" and row["problems"] == []
        assert set(row) >= {
            "instance",
            "solver",
            "objective",
            "best_known",
            "gap_pct",
            "seconds",
            "status",
            "vehicles",
            "distance",
        }


@pytest.mark.skipif(not (SOLOMON / "R101.txt").exists(), reason="shared Solomon data not present")
def test_fleet_phase_then_distance_phase_stays_feasible() -> None:
    instance = read_solomon(SOLOMON / "R101.txt", 25)
    solution = solve_routing(instance, RoutingParams(time_limit_s=1.0, fleet_phase=0.5))
    assert solution.feasible
    assert check_routes(instance, solution) == []
    assert solution.distance == pytest.approx(
        sum(route_distance(instance, r.nodes) for r in solution.routes)
    )


def test_raw_overrides_reach_or_tools() -> None:
    instance = line_instance()
    bad = RoutingParams(time_limit_s=0.2, overrides=(("local_search_metaheuristics", [1, 2]),))
    with pytest.raises(ValueError, match="rejected"):
        solve_routing(instance, bad)
    ok = RoutingParams(time_limit_s=0.2, overrides=(("local_search_operators.use_or_opt", 2),))
    assert check_routes(instance, solve_routing(instance, ok)) == []
