"""Solomon VRPTW: va-engine's routing layer against the best-known solutions, PyVRP and VROOM.

    python benchmarks/vrptw.py --instances ../shared/bench/solomon/C101.txt ... \
        --bks ../shared/bench/solomon/BKS.csv --time-limit 60 --json benchmarks/results/vrptw.json

Convention (the usual one for Solomon): Euclidean distances in float, travel
time = distance, service times, vehicle capacity, service must start inside
the window, minimise total distance. Every solver gets the same integer data
(distances ×1000 rounded, travel times ×1000 rounded *up*, so a solution that
is feasible for the solver is feasible in float arithmetic too). Whatever a
solver reports, its distance is recomputed here in float from its routes and
its routes are checked by one checker (va_engine.planner.routing.check_routes).

Solvers: ``ours`` (tuned model + search: GLS then ruin-and-recreate, racing a
second variant in another process: 2 processes), ``ortools-gls``
(PATH_CHEAPEST_ARC + GLS, default operators, 1 thread), ``pyvrp`` (1 thread:
PyVRP has no parallel option) and ``vroom`` (2 threads) when installed
(benchmark extra; skipped with a note otherwise). Same time limit for all.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from _common import gap_pct, print_table, write_results
from rich.console import Console

from va_engine.planner.routing import (
    RoutingInstance,
    RoutingParams,
    check_routes,
    solve_routing,
)

SCALE = 1000


@dataclass(frozen=True)
class Solomon:
    name: str
    coords: list[tuple[float, float]]
    demands: list[int]
    ready: list[float]
    due: list[float]
    service: list[float]
    vehicles: int
    capacity: int

    def instance(self) -> RoutingInstance:
        """The routing instance in float units (the checker's truth)."""
        return RoutingInstance.from_coordinates(
            self.coords,
            num_vehicles=self.vehicles,
            capacity=self.capacity,
            demands=tuple(self.demands),
            service=tuple(self.service),
            windows=tuple(((a, b),) for a, b in zip(self.ready, self.due, strict=True)),
        )


def read_solomon(path: Path, customers: int | None = None) -> Solomon:
    """Read the standard Solomon text format (optionally only the first ``customers``)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    name = lines[0].strip() or path.stem
    vehicles = capacity = None
    rows: list[list[float]] = []
    for k, line in enumerate(lines):
        if line.strip().upper().startswith("NUMBER"):
            vehicles, capacity = (int(x) for x in lines[k + 1].split()[:2])
        parts = line.split()
        if len(parts) == 7 and all(_is_number(p) for p in parts):
            rows.append([float(p) for p in parts])
    if vehicles is None or capacity is None or not rows:
        raise ValueError(f"{path}: not a Solomon instance (no VEHICLE block or customer rows)")
    if customers is not None:
        rows = rows[: customers + 1]
    return Solomon(
        name=name,
        coords=[(r[1], r[2]) for r in rows],
        demands=[int(r[3]) for r in rows],
        ready=[r[4] for r in rows],
        due=[r[5] for r in rows],
        service=[r[6] for r in rows],
        vehicles=vehicles,
        capacity=capacity,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_bks(path: Path) -> dict[str, tuple[int, float]]:
    with path.open(encoding="utf-8") as handle:
        return {
            row["instance"].upper(): (int(row["vehicles"]), float(row["distance"]))
            for row in csv.DictReader(handle)
        }


def scaled(data: Solomon) -> tuple[list[list[int]], list[list[int]]]:
    """(distance, duration) integer matrices shared by every solver."""
    n = len(data.coords)
    dist = [[0] * n for _ in range(n)]
    dur = [[0] * n for _ in range(n)]
    for i, (ax, ay) in enumerate(data.coords):
        for j, (bx, by) in enumerate(data.coords):
            d = math.hypot(ax - bx, ay - by) * SCALE
            dist[i][j] = round(d)
            dur[i][j] = math.ceil(d - 1e-6)
    return dist, dur


# A solver takes (data, time limit) and returns (customer sequences, status, extra note).
Runner = Callable[[Solomon, float], tuple[list[list[int]], str]]


#: Processes / threads per solver where the solver can use more than one (2 cores here).
WORKERS = 2


def run_ours(data: Solomon, limit: float) -> tuple[list[list[int]], str]:
    params = RoutingParams(time_limit_s=limit, scale=SCALE, workers=WORKERS)
    solution = solve_routing(data.instance(), params)
    return [list(r.nodes) for r in solution.routes], solution.status


def run_plain(data: Solomon, limit: float) -> tuple[list[list[int]], str]:
    solution = solve_routing(data.instance(), RoutingParams.plain(limit, scale=SCALE))
    return [list(r.nodes) for r in solution.routes], solution.status


def run_pyvrp(data: Solomon, limit: float) -> tuple[list[list[int]], str]:
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    dist, dur = scaled(data)
    model = Model()
    depot = model.add_depot(
        model.add_location(x=round(data.coords[0][0]), y=round(data.coords[0][1])),
        tw_early=round(data.ready[0] * SCALE),
        tw_late=round(data.due[0] * SCALE),
    )
    model.add_vehicle_type(
        num_available=data.vehicles,
        capacity=data.capacity,
        start_depot=depot,
        end_depot=depot,
        tw_early=round(data.ready[0] * SCALE),
        tw_late=round(data.due[0] * SCALE),
    )
    for i in range(1, len(data.coords)):
        model.add_client(
            model.add_location(x=round(data.coords[i][0]), y=round(data.coords[i][1])),
            delivery=data.demands[i],
            service_duration=round(data.service[i] * SCALE),
            tw_early=round(data.ready[i] * SCALE),
            tw_late=round(data.due[i] * SCALE),
        )
    locations = model.locations
    for i, frm in enumerate(locations):
        for j, to in enumerate(locations):
            model.add_edge(frm, to, distance=dist[i][j], duration=dur[i][j])
    result = model.solve(stop=MaxRuntime(limit), seed=1, display=False)
    # Client activities are numbered among clients only; node = idx + 1 (one depot).
    routes = [[a.idx + 1 for a in route if a.is_client()] for route in result.best.routes()]
    return routes, "feasible" if result.best.is_feasible() else "infeasible"


def run_vroom(data: Solomon, limit: float) -> tuple[list[list[int]], str]:
    from datetime import timedelta

    import vroom

    dist, dur = scaled(data)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=dur)
    problem.set_costs_matrix(profile="car", matrix_input=dist)
    window = vroom.TimeWindow(round(data.ready[0] * SCALE), round(data.due[0] * SCALE))
    for v in range(data.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(v + 1, start=0, end=0, capacity=[data.capacity], time_window=window)
        )
    for i in range(1, len(data.coords)):
        problem.add_job(
            vroom.Job(
                i,
                location=i,
                default_service=round(data.service[i] * SCALE),
                delivery=vroom.Amount([data.demands[i]]),
                time_windows=[
                    vroom.TimeWindow(round(data.ready[i] * SCALE), round(data.due[i] * SCALE))
                ],
            )
        )
    solution = problem.solve(
        exploration_level=5, nb_threads=WORKERS, timeout=timedelta(seconds=limit)
    )
    frame = solution.routes
    routes: dict[int, list[int]] = {}
    for row in frame.itertuples():
        if row.type == "job":
            routes.setdefault(int(row.vehicle_id), []).append(int(row.id))
    unassigned = len(solution.unassigned) if hasattr(solution, "unassigned") else 0
    return list(routes.values()), "feasible" if not unassigned else "infeasible"


def float_distance(data: Solomon, routes: Sequence[Sequence[int]]) -> float:
    total = 0.0
    for route in routes:
        path = [0, *route, 0]
        total += sum(
            math.hypot(data.coords[a][0] - data.coords[b][0], data.coords[a][1] - data.coords[b][1])
            for a, b in itertools.pairwise(path)
        )
    return total


def available() -> dict[str, Runner]:
    runners: dict[str, Runner] = {"ours": run_ours, "ortools-gls": run_plain}
    try:
        import pyvrp  # noqa: F401

        runners["pyvrp"] = run_pyvrp
    except ImportError:
        print("note: pyvrp not installed, skipped (pip install 'va-engine[bench]')")
    try:
        import vroom  # noqa: F401

        runners["vroom"] = run_vroom
    except ImportError:
        print("note: pyvroom not installed, skipped (pip install 'va-engine[bench]')")
    return runners


def bench(
    paths: Sequence[Path],
    bks: dict[str, tuple[int, float]],
    limit: float,
    solvers: Sequence[str] | None = None,
    customers: int | None = None,
) -> list[dict[str, Any]]:
    runners = available()
    if solvers:
        runners = {k: v for k, v in runners.items() if k in solvers}
    rows: list[dict[str, Any]] = []
    for path in paths:
        data = read_solomon(path, customers)
        instance = data.instance()
        best = bks.get(data.name.upper()) if customers is None else None
        group: list[dict[str, Any]] = []
        for solver, runner in runners.items():
            began = time.perf_counter()
            try:
                routes, status = runner(data, limit)
                error = ""
            except Exception as exc:  # a peer crashing must not stop the benchmark
                routes, status, error = [], "error", f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - began
            routes = [r for r in routes if r]
            problems = check_routes(instance, routes, vehicles=list(range(len(routes))))
            if problems and status != "error":
                status = "infeasible"
            distance = float_distance(data, routes) if routes else None
            ok = not problems and status != "error"
            row: dict[str, Any] = {
                "instance": data.name,
                "solver": solver,
                "objective": round(distance, 2) if distance is not None and ok else None,
                "best_known": best[1] if best else None,
                "gap_pct": gap_pct(distance, best[1]) if best and ok else None,
                "seconds": round(seconds, 2),
                "status": status,
                "vehicles": len(routes),
                "distance": round(distance, 2) if distance is not None else None,
                "bks_vehicles": best[0] if best else None,
                "problems": problems[:5] + ([error] if error else []),
            }
            group.append(row)
        reference = next(
            (r for r in group if r["solver"] == "pyvrp" and r["objective"] is not None), None
        )
        for row in group:
            if reference and row["objective"] is not None:
                row["ratio_pyvrp"] = round(row["objective"] / reference["objective"], 4)
                row["veh_vs_pyvrp"] = row["vehicles"] - reference["vehicles"]
        rows.extend(group)
    return rows


def summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per solver: mean gap to BKS, mean distance ratio to PyVRP, worst extra vehicles."""
    out: list[dict[str, Any]] = []
    for solver in dict.fromkeys(r["solver"] for r in rows):
        mine = [r for r in rows if r["solver"] == solver]
        gaps = [r["gap_pct"] for r in mine if r["gap_pct"] is not None]
        ratios = [r["ratio_pyvrp"] for r in mine if r.get("ratio_pyvrp") is not None]
        extra = [r["veh_vs_pyvrp"] for r in mine if r.get("veh_vs_pyvrp") is not None]
        out.append(
            {
                "instance": "MEAN",
                "solver": solver,
                "gap_pct": sum(gaps) / len(gaps) if gaps else None,
                "ratio_pyvrp": round(sum(ratios) / len(ratios), 4) if ratios else None,
                "veh_vs_pyvrp": max(extra) if extra else None,
                "seconds": round(sum(r["seconds"] for r in mine) / len(mine), 2),
                "status": f"{sum(r['objective'] is not None for r in mine)}/{len(mine)} feasible",
                "vehicles": sum(r["vehicles"] for r in mine),
                "distance": round(sum(r["distance"] or 0.0 for r in mine), 2),
            }
        )
    return out


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """The ratio needs four decimals to be useful; everything else prints as is."""
    ratio = row.get("ratio_pyvrp")
    return {**row, "ratio_pyvrp": f"{ratio:.4f}" if ratio is not None else None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", nargs="+", type=Path, required=True)
    parser.add_argument("--bks", type=Path)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--solvers", nargs="*", help="subset of ours, ortools-gls, pyvrp, vroom")
    parser.add_argument("--customers", type=int, help="only the first N customers (smoke tests)")
    args = parser.parse_args(argv)
    bks = read_bks(args.bks) if args.bks else {}
    rows = bench(args.instances, bks, args.time_limit, args.solvers, args.customers)
    columns = [
        "instance",
        "solver",
        "distance",
        "vehicles",
        "best_known",
        "bks_vehicles",
        "gap_pct",
        "ratio_pyvrp",
        "veh_vs_pyvrp",
        "seconds",
        "status",
    ]
    print_table(
        f"Solomon VRPTW, {args.time_limit:g} s per solver",
        [_shown(r) for r in [*rows, *summary(rows)]],
        columns,
        console=Console(width=170),
    )
    for row in rows:
        if row["problems"]:
            print(f"{row['instance']} {row['solver']}: {'; '.join(row['problems'])}")
    write_results(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
