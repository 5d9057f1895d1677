"""Visit routes with time windows: OR-Tools routing (VRPTW), pure data in and out.

Two levels:

* a generic VRPTW core (:class:`RoutingInstance` → :func:`solve_routing` →
  :class:`RoutingSolution`, checked independently by :func:`check_routes`), in
  the instance's own units (minutes for va-engine, Solomon time units for the
  benchmark); the solver scales to integers internally;
* a va-engine adapter (:func:`route_visits`, :func:`route_visits_multi`) that
  plans one day of located tasks for one or several assistants, from and back
  to their home base, around busy time, breaks and working hours.

Why integer scaling with two matrices: OR-Tools works in integers. Travel
*times* are rounded **up** so every route the solver accepts is also feasible
in exact (float) arithmetic; travel *costs* are rounded to nearest so the
objective stays unbiased. With ``scale=1000`` the loss is below 0.1 % on Solomon.
"""

from __future__ import annotations

import itertools
import math
import random
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from va_engine.model import Assistant, Busy, Location, PlannedBlock, Task, Unplanned
from va_engine.planner.spawn import submit_spawned
from va_engine.planner.travel import TravelModel

__all__ = [
    "BreakSpec",
    "Route",
    "RouteDay",
    "RoutingInstance",
    "RoutingParams",
    "RoutingSolution",
    "VehicleSpec",
    "check_routes",
    "euclidean_matrix",
    "route_visits",
    "route_visits_multi",
    "solve_routing",
]

_EPS = 1e-6
Window = tuple[float, float]


# --------------------------------------------------------------------------- core data


@dataclass(frozen=True)
class BreakSpec:
    """A break of ``duration`` starting somewhere in ``[earliest_start, latest_start]``.

    A fixed busy block is a break with ``earliest_start == latest_start``. The
    vehicle serves nobody during a break; it may fall between two visits or
    interrupt a journey (OR-Tools break semantics).
    """

    earliest_start: float
    latest_start: float
    duration: float
    name: str = "break"

    def __post_init__(self) -> None:
        if self.latest_start < self.earliest_start or self.duration < 0:
            raise ValueError(f"break {self.name!r}: empty start range or negative duration")


@dataclass(frozen=True)
class VehicleSpec:
    """One vehicle (or assistant): where it starts and ends, when, and how much it carries."""

    start: int = 0
    end: int = 0
    capacity: int | None = None
    shift: Window | None = None
    breaks: tuple[BreakSpec, ...] = ()
    fixed_cost: float = 0.0
    max_work: float | None = None
    """Upper bound on travel + service time of the route (e.g. max hours per day)."""


@dataclass(frozen=True)
class RoutingInstance:
    """A VRPTW instance as plain data.

    Nodes are ``0 … n-1``; nodes used as a start or end of some vehicle are
    depots, all others are customers. Per-node tuples may be left empty to mean
    "zero" (demands, service), "always open" (windows), "mandatory"
    (penalties) and "any vehicle" (allowed_vehicles). A customer with several
    windows may start service in any of them; service must *start* inside a
    window (the Solomon convention; pass ``end - service`` to require the
    whole visit inside).
    """

    travel: Sequence[Sequence[float]]
    vehicles: tuple[VehicleSpec, ...]
    distance: Sequence[Sequence[float]] | None = None
    demands: tuple[int, ...] = ()
    service: tuple[float, ...] = ()
    windows: tuple[tuple[Window, ...], ...] = ()
    penalties: tuple[float | None, ...] = ()
    allowed_vehicles: tuple[tuple[int, ...] | None, ...] = ()
    horizon: float | None = None

    def __post_init__(self) -> None:
        n = len(self.travel)
        if any(len(row) != n for row in self.travel):
            raise ValueError(f"travel matrix must be {n}×{n}")
        if self.distance is not None and (
            len(self.distance) != n or any(len(row) != n for row in self.distance)
        ):
            raise ValueError(f"distance matrix must be {n}×{n} like the travel matrix")
        for name in ("demands", "service", "windows", "penalties", "allowed_vehicles"):
            values = getattr(self, name)
            if values and len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries for {n} nodes")
        if not self.vehicles:
            raise ValueError("a routing instance needs at least one vehicle")
        for v, vehicle in enumerate(self.vehicles):
            if not (0 <= vehicle.start < n and 0 <= vehicle.end < n):
                raise ValueError(f"vehicle {v} starts or ends at an unknown node")
        for i, windows in enumerate(self.windows):
            for lo, hi in windows:
                if hi < lo:
                    raise ValueError(f"node {i}: time window ({lo}, {hi}) ends before it starts")

    @classmethod
    def from_coordinates(
        cls,
        coords: Sequence[tuple[float, float]],
        *,
        num_vehicles: int,
        capacity: int | None = None,
        depot: int = 0,
        **fields: Any,
    ) -> RoutingInstance:
        """A single-depot instance with Euclidean travel = distance (the Solomon convention).

        The depot's own window, if given, becomes every vehicle's shift.
        """
        matrix = euclidean_matrix(coords)
        windows: tuple[tuple[Window, ...], ...] = fields.get("windows", ())
        shift = windows[depot][0] if windows and windows[depot] else None
        vehicle = VehicleSpec(start=depot, end=depot, capacity=capacity, shift=shift)
        return cls(travel=matrix, vehicles=(vehicle,) * num_vehicles, **fields)

    @property
    def size(self) -> int:
        return len(self.travel)

    @property
    def depots(self) -> frozenset[int]:
        return frozenset(i for v in self.vehicles for i in (v.start, v.end))

    @property
    def customers(self) -> list[int]:
        depots = self.depots
        return [i for i in range(self.size) if i not in depots]

    def cost(self, i: int, j: int) -> float:
        return float((self.distance or self.travel)[i][j])

    def travel_time(self, i: int, j: int) -> float:
        return float(self.travel[i][j])

    def service_of(self, i: int) -> float:
        return float(self.service[i]) if self.service else 0.0

    def demand_of(self, i: int) -> int:
        return self.demands[i] if self.demands else 0

    def windows_of(self, i: int) -> tuple[Window, ...]:
        return self.windows[i] if self.windows else ()

    def penalty_of(self, i: int) -> float | None:
        return self.penalties[i] if self.penalties else None

    def shift_of(self, v: int) -> Window:
        vehicle = self.vehicles[v]
        if vehicle.shift is not None:
            return vehicle.shift
        return (0.0, self.horizon if self.horizon is not None else math.inf)


def euclidean_matrix(coords: Sequence[tuple[float, float]]) -> list[list[float]]:
    """Float Euclidean distances, the convention of the Solomon benchmark."""
    return [[math.hypot(ax - bx, ay - by) for bx, by in coords] for ax, ay in coords]


@dataclass(frozen=True)
class RoutingParams:
    """Search settings. The defaults are the tuned ones; :meth:`plain` is stock OR-Tools.

    Tuned = what measured best on Solomon R101/RC101/RC102 at 10–30 s:
    parallel cheapest insertion (finds a first solution with all customers
    where PATH_CHEAPEST_ARC often finds none on tight windows), guided local
    search with OR-Tools' default operators for a quarter of the time, then
    ruin-and-recreate from its best (:func:`_ruin_recreate`), distances
    scaled ×1000. ``workers=2`` also races a variant in a second process.
    """

    time_limit_s: float = 10.0
    first_solution_strategy: str = "PARALLEL_CHEAPEST_INSERTION"
    local_search_metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    scale: int = 1000
    vehicle_fixed_cost: float = 0.0
    gls_lambda: float | None = 0.1
    extra_operators: bool = False
    """Also use relocate-neighbours, cross-exchange, exchange-subtrip, expensive chains.
    Measured on Solomon R1/RC1 at 10–30 s: each move gets slower and the result worse."""
    fleet_phase: float = 0.0
    """Share of the time spent first minimising the number of vehicles (0 = off)."""
    lns_share: float = 0.75
    """Share of the time spent in ruin-and-recreate after the first search (0 = off).
    Measured on Solomon R101/RC101/RC102 at 20 s: 0.75 beat 0.5 and plain GLS by 1–3 %."""
    lns_removed: int = 10
    """Customers removed per ruin on average (SISR's c-bar)."""
    seed: int = 1
    """Random seed of the ruin-and-recreate phase (the OR-Tools search is deterministic)."""
    workers: int = 1
    """Processes racing different settings (:data:`PORTFOLIO`); the best solution wins."""
    solution_limit: int | None = None
    log_search: bool = False
    overrides: tuple[tuple[str, Any], ...] = ()
    """Raw OR-Tools search parameters, e.g. ``(("use_full_propagation", True),)``;
    dotted names reach nested messages (``local_search_operators.use_or_opt``)."""

    @classmethod
    def plain(cls, time_limit_s: float = 10.0, scale: int = 1000) -> RoutingParams:
        """PATH_CHEAPEST_ARC + guided local search with OR-Tools' default operators."""
        return cls(
            time_limit_s=time_limit_s,
            first_solution_strategy="PATH_CHEAPEST_ARC",
            local_search_metaheuristic="GUIDED_LOCAL_SEARCH",
            scale=scale,
            gls_lambda=None,
            lns_share=0.0,
        )


@dataclass(frozen=True)
class Route:
    """One vehicle's route: customers in order with their service start times."""

    vehicle: int
    nodes: tuple[int, ...]
    starts: tuple[float, ...]
    depart: float
    back: float
    distance: float
    breaks: tuple[tuple[float, float], ...] = ()
    """(start, duration) of each of the vehicle's breaks as placed by the solver."""


@dataclass(frozen=True)
class RoutingSolution:
    """What :func:`solve_routing` found. ``distance`` is recomputed in float from the routes."""

    routes: tuple[Route, ...]
    dropped: tuple[int, ...]
    distance: float
    penalty: float
    vehicles_used: int
    status: str
    seconds: float
    objective: float

    @property
    def feasible(self) -> bool:
        return self.status in {"optimal", "feasible"}


# --------------------------------------------------------------------------- solver


#: OR-Tools RoutingSearchStatus → ours. A solution found before the time
#: limit stopped the local search is still a feasible solution.
_STATUS = {
    0: "not_solved",
    1: "feasible",
    2: "feasible",
    3: "infeasible",
    4: "timeout",
    5: "invalid",
    6: "infeasible",
    7: "optimal",
}


def _up(x: float, scale: int) -> int:
    return math.ceil(x * scale - _EPS) if math.isfinite(x) else 2**50


def _down(x: float, scale: int) -> int:
    return math.floor(x * scale + _EPS) if math.isfinite(x) else 2**50


def _search_parameters(params: RoutingParams) -> Any:
    search = pywrapcp.DefaultRoutingSearchParameters()
    search.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, params.first_solution_strategy
    )
    search.local_search_metaheuristic = getattr(
        routing_enums_pb2.LocalSearchMetaheuristic, params.local_search_metaheuristic
    )
    if params.gls_lambda is not None:
        search.guided_local_search_lambda_coefficient = params.gls_lambda
    if params.extra_operators:
        ops = search.local_search_operators
        true = 3  # OptionalBoolean.BOOL_TRUE
        ops.use_relocate_neighbors = true
        ops.use_cross_exchange = true
        ops.use_exchange_subtrip = true
        ops.use_relocate_expensive_chain = true
    search.time_limit.FromMilliseconds(max(1, int(params.time_limit_s * 1000)))
    if params.solution_limit is not None:
        search.solution_limit = params.solution_limit
    search.log_search = params.log_search
    for name, value in params.overrides:
        *parents, leaf = name.split(".")
        target = search
        for part in parents:
            target = getattr(target, part)
        if isinstance(value, list):
            del getattr(target, leaf)[:]
            getattr(target, leaf).extend(value)
        else:
            setattr(target, leaf, value)
    return search


def solve_routing(
    instance: RoutingInstance,
    params: RoutingParams | None = None,
    *,
    initial_routes: Sequence[Sequence[int]] | None = None,
) -> RoutingSolution:
    """Minimise distance + drop penalties + vehicle fixed costs within the time limit.

    Pure: no I/O. ``initial_routes`` (customer sequences per vehicle) warm-start
    the search, e.g. yesterday's routes. The returned times are service starts
    in the instance's units; check them with :func:`check_routes`.

    With ``params.fleet_phase > 0`` that share of the time first searches with
    a large cost per vehicle (fewer, fuller routes), and the rest minimises
    distance starting from there: greedy distance search tends to stall in
    solutions with one or two routes too many, which also cost distance.
    With ``params.lns_share > 0`` the last part of the time runs
    ruin-and-recreate from the best solution (see :func:`_ruin_recreate`).
    With ``params.workers > 1`` other processes race the variants of
    :data:`PORTFOLIO` on the same instance, and the best solution wins.
    """
    params = params or RoutingParams()
    began = _time.perf_counter()
    if params.workers > 1:
        return _portfolio(instance, params, initial_routes, began)
    return _solve_member(instance, params, initial_routes, began)


#: Settings that differ from the caller's in the extra portfolio processes:
#: another first solution and another ruin seed lead GLS and the ruin-and-
#: recreate phase into other local optima. Worker k > 0 uses entry k - 1.
PORTFOLIO: tuple[dict[str, Any], ...] = (
    {"first_solution_strategy": "SAVINGS", "seed": 2},
    {"fleet_phase": 0.2, "seed": 3},
    {"first_solution_strategy": "LOCAL_CHEAPEST_INSERTION", "seed": 4},
)


def _portfolio(
    instance: RoutingInstance,
    params: RoutingParams,
    initial_routes: Sequence[Sequence[int]] | None,
    began: float,
) -> RoutingSolution:
    """Race ``params`` in this process against PORTFOLIO variants in spawned ones.

    Spawned processes (:mod:`~va_engine.planner.spawn`). A child starts ~1 s late
    (interpreter + imports), so it gets the wall-clock deadline rather than a
    duration, and the time limit holds for the whole race.
    """
    deadline = _time.time() + params.time_limit_s
    variants = [
        replace(params, workers=1, **PORTFOLIO[k % len(PORTFOLIO)])
        for k in range(params.workers - 1)
    ]
    # where no child may start (a daemonic worker), this process races alone
    spawned = submit_spawned(
        _solve_until, [(instance, variant, initial_routes, deadline) for variant in variants]
    )
    results = [_solve_member(instance, replace(params, workers=1), initial_routes, began)]
    if spawned is not None:
        pool, futures = spawned
        for future in futures:
            try:
                results.append(future.result(timeout=max(0.0, deadline - _time.time()) + 5.0))
            except Exception:  # a lost helper process only loses its candidate
                continue
        pool.shutdown(wait=False, cancel_futures=True)
    best = min(results, key=_rank)
    return replace(best, seconds=_time.perf_counter() - began)


def _solve_until(
    instance: RoutingInstance,
    params: RoutingParams,
    initial_routes: Sequence[Sequence[int]] | None,
    deadline: float,
) -> RoutingSolution:
    """Portfolio member in a child process: whatever time is left until ``deadline``."""
    left = max(0.1, deadline - _time.time())
    return _solve_member(
        instance, replace(params, time_limit_s=left), initial_routes, _time.perf_counter()
    )


def _rank(solution: RoutingSolution) -> tuple[bool, float]:
    """Feasible first, then lowest objective (distance + fixed costs + drop penalties)."""
    return (not solution.feasible, solution.objective)


def _solve_member(
    instance: RoutingInstance,
    params: RoutingParams,
    initial_routes: Sequence[Sequence[int]] | None,
    began: float,
) -> RoutingSolution:
    """One search: optional fleet phase, then GLS, then optional ruin-and-recreate."""
    total = params.time_limit_s
    search_time = total * (1.0 - min(max(params.lns_share, 0.0), 0.95))
    first = replace(params, time_limit_s=search_time)
    if params.fleet_phase <= 0:
        best = _solve_once(instance, first, initial_routes)
    else:
        best = _fleet_then_distance(instance, first, initial_routes)
    left = total - (_time.perf_counter() - began)
    if params.lns_share > 0 and best.feasible and best.routes and left > 0.2:
        best = _ruin_recreate(instance, params, best, left)
    return replace(best, seconds=_time.perf_counter() - began)


def _fleet_then_distance(
    instance: RoutingInstance,
    params: RoutingParams,
    initial_routes: Sequence[Sequence[int]] | None,
) -> RoutingSolution:
    began = _time.perf_counter()
    first_limit = params.time_limit_s * params.fleet_phase
    biggest = max(
        (instance.cost(a, b) for a in range(instance.size) for b in range(instance.size)),
        default=1.0,
    )
    fleet = _solve_once(
        instance,
        replace(
            params,
            time_limit_s=first_limit,
            vehicle_fixed_cost=params.vehicle_fixed_cost + 2 * biggest,
        ),
        initial_routes,
    )
    rest = max(0.05, params.time_limit_s - (_time.perf_counter() - began))
    seed = _per_vehicle(instance, fleet) if fleet.routes else None
    final = _solve_once(instance, replace(params, time_limit_s=rest), seed or initial_routes)
    return final if final.feasible or not fleet.feasible else fleet


def _per_vehicle(instance: RoutingInstance, solution: RoutingSolution) -> list[list[int]]:
    routes: list[list[int]] = [[] for _ in instance.vehicles]
    for route in solution.routes:
        routes[route.vehicle] = list(route.nodes)
    return routes


def _ruin_recreate(
    instance: RoutingInstance, params: RoutingParams, start: RoutingSolution, seconds: float
) -> RoutingSolution:
    """Large neighbourhood search from ``start``: remove strings, repair, accept (SA).

    Why: GLS stalls in one basin (measured: the same Solomon RC result at 20 s
    and at 60 s). Each step removes a few strings of customers that are close
    to a random seed customer from different routes (SISR's string removal,
    Christiaens & Vanden Berghe 2020), repairs, and accepts by simulated
    annealing on the objective; the best is kept and checked.

    Without breaks or a work limit the repair is :class:`_Repair` in Python
    (~500 steps/s on 100 customers), see :func:`_fast_ruin_recreate`. With
    them, OR-Tools repairs: the ruined routes are a hint in a model where
    mandatory customers are optional at a prohibitive penalty, and a short
    greedy local search re-inserts and polishes (~4 steps/s); a candidate
    that leaves a mandatory customer out is rejected.
    """
    began = _time.perf_counter()
    s = params.scale
    customers = instance.customers
    if len(customers) < 2:
        return start
    if not any(v.breaks or v.max_work is not None for v in instance.vehicles):
        return _fast_ruin_recreate(instance, params, start, seconds)
    biggest = max(max(float(x) for x in row) for row in (instance.distance or instance.travel))
    worst_drop = max((p for p in (instance.penalty_of(i) for i in customers) if p), default=0.0)
    relax = round(max(10 * (biggest * len(customers) + worst_drop), 1.0) * s) + 1
    step = replace(params, local_search_metaheuristic="GREEDY_DESCENT", time_limit_s=0.5)
    model = _build(instance, step, relax=relax)
    rng = random.Random(params.seed)
    near = _neighbours(instance)
    current = best = start
    hot, cold = _HOT * max(start.distance, 1e-9), _COLD * max(start.distance, 1e-9)
    while (elapsed := _time.perf_counter() - began) < seconds - 0.05:
        limit = min(0.5, seconds - elapsed)
        model.search.time_limit.FromMilliseconds(max(1, int(limit * 1000)))
        routes = _ruin(_per_vehicle(instance, current), near, params.lns_removed, rng)
        hint = model.routing.solver().Assignment()
        # RoutesToAssignment, not ReadAssignmentFromRoutes: the latter runs under the
        # previous search's time limit and fails for good once it has expired.
        if not model.routing.RoutesToAssignment(routes, True, True, hint):
            continue
        found = model.routing.SolveFromAssignmentWithParameters(hint, model.search)
        candidate = _extract(model, found, 0.0)
        if not candidate.feasible:
            continue
        temperature = hot * (cold / hot) ** (elapsed / seconds)
        if candidate.objective < current.objective - temperature * math.log(1.0 - rng.random()):
            current = candidate
            if current.objective < best.objective - 0.5 / s:
                best = current
    return best if best is start or not check_routes(instance, best) else start


class _Repair:
    """Fast ruin-and-recreate state for models without breaks or a work limit.

    Integers in the solver's units (travel rounded up, windows shrunk), so a
    route this accepts is feasible for OR-Tools and in float arithmetic too.
    Per route it keeps the earliest service start at each stop (forward) and
    the latest arrival that keeps the rest of the route feasible (backward;
    well defined with several windows because starting later never helps), so
    an insertion is checked in O(1): SISR's recreate (greedy insertion with
    blinks) runs a few hundred times per second in Python.
    """

    def __init__(self, instance: RoutingInstance, scale: int) -> None:
        s = scale
        n = instance.size
        self.instance = instance
        self.cost, self.transit = _scaled_matrices(instance, s)
        # None = always open; [] = no window survives rounding (never insertable).
        self.windows: list[list[tuple[int, int]] | None] = [
            sorted(
                (a, b)
                for a, b in ((max(0, _up(lo, s)), _down(hi, s)) for lo, hi in windows)
                if a <= b
            )
            if (windows := instance.windows_of(i))
            else None
            for i in range(n)
        ]
        self.cost_to = [list(column) for column in zip(*self.cost, strict=True)]
        self.transit_to = [list(column) for column in zip(*self.transit, strict=True)]
        self.demand = [instance.demand_of(i) for i in range(n)]
        self.shift = [
            (_up(lo, s), _down(hi, s))
            for lo, hi in map(instance.shift_of, range(len(instance.vehicles)))
        ]
        self.capacity = [v.capacity for v in instance.vehicles]
        self.fixed = [round(v.fixed_cost * s) for v in instance.vehicles]
        self.penalty = [
            None if (p := instance.penalty_of(i)) is None else max(1, round(p * s))
            for i in range(n)
        ]
        self.allowed = [
            frozenset(a)
            if instance.allowed_vehicles and (a := instance.allowed_vehicles[i]) is not None
            else None
            for i in range(n)
        ]

        self.empty = [self.schedule(v, []) for v in range(len(instance.vehicles))]

    def start_at(self, node: int, arrive: int) -> int | None:
        """Earliest service start at or after ``arrive`` inside a window of ``node``."""
        windows = self.windows[node]
        if windows is None:
            return arrive
        for lo, hi in windows:
            if arrive <= hi:
                return max(arrive, lo)
        return None

    def latest_start(self, node: int, bound: int) -> int | None:
        """Latest service start ≤ ``bound`` inside a window of ``node``."""
        windows = self.windows[node]
        if windows is None:
            return bound
        for lo, hi in reversed(windows):
            if lo <= bound:
                return min(hi, bound)
        return None

    def path(self, v: int, route: list[int]) -> list[int]:
        vehicle = self.instance.vehicles[v]
        return [vehicle.start, *route, vehicle.end]

    def schedule(self, v: int, route: list[int]) -> tuple[list[int], list[int]] | None:
        """(earliest starts, latest arrivals) along start depot, stops, end depot."""
        path = self.path(v, route)
        lo, hi = self.shift[v]
        last = len(path) - 1
        early = [lo] * len(path)
        for k in range(1, last + 1):
            arrive = early[k - 1] + self.transit[path[k - 1]][path[k]]
            start = arrive if k == last else self.start_at(path[k], arrive)
            if start is None:
                return None
            early[k] = start
        if early[last] > hi:
            return None
        late = [hi] * len(path)
        for k in range(last - 1, -1, -1):
            bound = late[k + 1] - self.transit[path[k]][path[k + 1]]
            latest = bound if k == 0 else self.latest_start(path[k], bound)
            late[k] = -(2**62) if latest is None else latest
        return early, late

    def objective(self, routes: list[list[int]], dropped: Sequence[int]) -> int:
        total = sum(self.penalty[i] or 0 for i in dropped)
        for v, route in enumerate(routes):
            if route:
                path = self.path(v, route)
                total += self.fixed[v] + sum(self.cost[a][b] for a, b in itertools.pairwise(path))
        return total

    def recreate(
        self,
        routes: list[list[int]],
        removed: list[int],
        rng: random.Random,
        *,
        open_routes: bool = True,
    ) -> list[int] | None:
        """Insert ``removed`` greedily (cheapest feasible place, 1 % blinks) into ``routes``.

        Returns the customers left out (only optional ones), or None when a
        mandatory customer fits nowhere. ``open_routes=False`` keeps empty
        vehicles empty (the route-elimination move).
        """
        plans = [self.schedule(v, r) if r else self.empty[v] for v, r in enumerate(routes)]
        loads = [sum(self.demand[i] for i in r) for r in routes]
        left: list[int] = []
        cost, transit, blink = self.cost, self.transit, rng.random
        for c in removed:
            best: tuple[int, int, int] | None = None
            allowed = self.allowed[c]
            windows = self.windows[c]
            # Hot loop: one window (the common case) is checked inline; past the
            # end of c's last window, later stops of the route cannot host c.
            single = windows[0] if windows is not None and len(windows) == 1 else None
            closes = windows[-1][1] if windows else (2**62 if windows is None else -1)
            cost_to, cost_from = self.cost_to[c], cost[c]
            time_to, time_from = self.transit_to[c], transit[c]
            for v, route in enumerate(routes):
                plan = plans[v]
                if plan is None or (allowed is not None and v not in allowed):
                    continue
                if not route and not open_routes:
                    continue
                cap = self.capacity[v]
                if cap is not None and loads[v] + self.demand[c] > cap:
                    continue
                early, late = plan
                path = self.path(v, route)
                extra = 0 if route else self.fixed[v]
                for k in range(len(path) - 1):
                    if early[k] > closes:
                        break
                    if blink() < 0.01:
                        continue
                    a, b = path[k], path[k + 1]
                    delta = cost_to[a] + cost_from[b] - cost[a][b] + extra
                    if best is not None and delta >= best[0]:
                        continue
                    arrive = early[k] + time_to[a]
                    if single is not None:
                        if arrive > single[1]:
                            continue
                        start: int | None = arrive if arrive > single[0] else single[0]
                    else:
                        start = self.start_at(c, arrive)
                    if start is None or start + time_from[b] > late[k + 1]:
                        continue
                    best = (delta, v, k)
            if best is None:
                if self.penalty[c] is None:
                    return None
                left.append(c)
                continue
            _, v, k = best
            routes[v].insert(k, c)
            loads[v] += self.demand[c]
            plans[v] = self.schedule(v, routes[v])
        return left


def _fast_ruin_recreate(
    instance: RoutingInstance, params: RoutingParams, start: RoutingSolution, seconds: float
) -> RoutingSolution:
    """SISR in Python (ruin, greedy recreate with blinks, simulated annealing), then
    OR-Tools GLS from the best routes for the last part of the time."""
    began = _time.perf_counter()
    repair = _Repair(instance, params.scale)
    rng = random.Random(params.seed)
    near = _neighbours(instance)
    depot_far = {i: repair.cost[instance.vehicles[0].start][i] for i in instance.customers}
    current = _per_vehicle(instance, start)
    current_left = list(start.dropped)
    current_cost = repair.objective(current, current_left)
    best, best_cost = [list(r) for r in current], current_cost
    hot, cold = _HOT * max(current_cost, 1), _COLD * max(current_cost, 1)
    sa_time = seconds * (1.0 - _POLISH)
    while (elapsed := _time.perf_counter() - began) < sa_time:
        routes = [list(r) for r in current]
        # Route elimination: empty a short route and refill only the others.
        # Distance-driven ruins rarely close a route; one too many costs ~2 %.
        used = [v for v, r in enumerate(routes) if r]
        eliminate = len(used) > 1 and rng.random() < _ELIMINATE
        if eliminate:
            shortest = min(used, key=lambda v: (len(routes[v]), rng.random()))
            victim = shortest if rng.random() < 0.5 else rng.choice(used)
            routes[victim] = []
        routes = _ruin(routes, near, params.lns_removed, rng)
        kept = {c for r in routes for c in r}
        removed = [c for r in current for c in r if c not in kept] + current_left
        order = rng.random()
        if order < 0.5:
            rng.shuffle(removed)
        elif order < 0.8:
            removed.sort(key=lambda c: -repair.demand[c])
        elif order < 0.95:
            removed.sort(key=lambda c: -depot_far[c])
        else:
            removed.sort(key=lambda c: depot_far[c])
        left = repair.recreate(routes, removed, rng, open_routes=not eliminate)
        if left is None:
            continue
        cost = repair.objective(routes, left)
        temperature = hot * (cold / hot) ** (elapsed / sa_time)
        if cost < current_cost - temperature * math.log(1.0 - rng.random()):
            current, current_left, current_cost = routes, left, cost
            if cost < best_cost:
                best, best_cost = [list(r) for r in routes], cost
    left_time = seconds - (_time.perf_counter() - began)
    polished = _solve_once(instance, replace(params, time_limit_s=max(0.1, left_time)), best)
    if (
        polished.feasible
        and polished.objective < start.objective
        and not check_routes(instance, polished)
    ):
        return polished
    return start


#: Probability that a ruin also empties a whole route (route elimination).
_ELIMINATE = 0.1

#: Simulated-annealing temperatures as shares of the starting objective: a
#: candidate 1 % worse is accepted with probability 1/e at the start. Measured
#: on Solomon RC101/RC102 at 20 s: 0.01 → 0.0005 beat 0.002 → 0.00005 and 0.03.
_HOT, _COLD = 0.01, 0.0005

#: Share of the fast ruin-and-recreate time left to OR-Tools GLS to polish the best.
_POLISH = 0.15


def _neighbours(instance: RoutingInstance) -> dict[int, list[int]]:
    """Every customer's other customers, nearest first (both directions count)."""
    customers = instance.customers
    return {
        i: sorted(
            (j for j in customers if j != i),
            key=lambda j: instance.cost(i, j) + instance.cost(j, i),
        )
        for i in customers
    }


def _ruin(
    routes: list[list[int]], near: Mapping[int, list[int]], removed: int, rng: random.Random
) -> list[list[int]]:
    """SISR string removal: strings around a random customer, one per nearby route."""
    where = {c: v for v, route in enumerate(routes) for c in route}
    used = [route for route in routes if route]
    if not used:
        return routes
    longest = min(10.0, sum(map(len, used)) / len(used))
    most_routes = 4 * removed / (1 + longest) - 1
    ruin_count = int(rng.uniform(1, most_routes + 1))
    seed = rng.choice(list(where))
    ruined: set[int] = set()
    for c in (seed, *near[seed]):
        if len(ruined) >= ruin_count:
            break
        v = where.get(c)
        if v is None or v in ruined:
            continue
        route = routes[v]
        length = int(rng.uniform(1, min(len(route), longest) + 1))
        at = route.index(c)
        first = rng.randint(max(0, at - length + 1), min(at, len(route) - length))
        del route[first : first + length]
        ruined.add(v)
    return routes


@dataclass
class _Model:
    """A closed OR-Tools model of an instance, reusable for several searches (LNS)."""

    instance: RoutingInstance
    scale: int
    manager: Any
    routing: Any
    time_dim: Any
    break_vars: dict[int, list[Any]]
    search: Any
    optional: frozenset[int]
    """Mandatory customers made optional (big penalty) so a ruined solution is a valid hint."""


def _scaled_matrices(instance: RoutingInstance, s: int) -> tuple[list[list[int]], list[list[int]]]:
    """Arc costs and transit times (service at the origin + travel) in the solver's integer
    units; travel rounds up, so a route feasible in them is feasible in floats too."""
    n = instance.size
    dist = instance.distance or instance.travel
    cost = [[round(float(x) * s) for x in row] for row in dist]
    service = [_up(instance.service_of(i), s) for i in range(n)]
    transit = [
        [service[i] + _up(float(instance.travel[i][j]), s) for j in range(n)] for i in range(n)
    ]
    return cost, transit


def _build(instance: RoutingInstance, params: RoutingParams, *, relax: int | None = None) -> _Model:
    """The OR-Tools model; ``relax`` = penalty (scaled) that makes mandatory customers optional."""
    s = params.scale
    n = instance.size
    depots = instance.depots
    starts = [v.start for v in instance.vehicles]
    ends = [v.end for v in instance.vehicles]
    manager = pywrapcp.RoutingIndexManager(n, len(instance.vehicles), starts, ends)
    routing = pywrapcp.RoutingModel(manager)

    cost, transit = _scaled_matrices(instance, s)
    service = [_up(instance.service_of(i), s) for i in range(n)]  # per node, for breaks
    # Matrices, not Python callbacks: the search then never calls back into
    # Python, which makes it several times faster (measured ~5× on Solomon).
    cost_index = routing.RegisterTransitMatrix(cost)
    time_index = routing.RegisterTransitMatrix(transit)
    routing.SetArcCostEvaluatorOfAllVehicles(cost_index)

    shifts = [instance.shift_of(v) for v in range(len(instance.vehicles))]
    finite_ends = [hi for _, hi in shifts if math.isfinite(hi)] + [
        hi for i in range(n) for _, hi in instance.windows_of(i)
    ]
    horizon_units = _down(max(finite_ends), s) if finite_ends else 10**12
    horizon_units = max(horizon_units, 1)
    routing.AddDimension(time_index, horizon_units, horizon_units, False, "time")
    time_dim = routing.GetDimensionOrDie("time")

    for i in range(n):
        if i in depots:
            continue
        usable = sorted(
            (max(0, _up(w_lo, s)), _down(w_hi, s)) for w_lo, w_hi in instance.windows_of(i)
        )
        usable = [(a, b) for a, b in usable if a <= b and a <= horizon_units]
        if not instance.windows_of(i):
            continue
        index = manager.NodeToIndex(i)
        if not usable:  # no window survives rounding: the node can only be left out
            routing.solver().Add(routing.ActiveVar(index) == 0)
            continue
        cumul = time_dim.CumulVar(index)
        cumul.SetRange(usable[0][0], min(max(b for _, b in usable), horizon_units))
        reach = usable[0][1]
        for a, b in usable[1:]:
            if a > reach + 1:
                cumul.RemoveInterval(reach + 1, a - 1)
            reach = max(reach, b)

    for v, (lo, hi) in enumerate(shifts):
        lo_u, hi_u = _up(lo, s), min(_down(hi, s), horizon_units)
        time_dim.CumulVar(routing.Start(v)).SetRange(lo_u, hi_u)
        time_dim.CumulVar(routing.End(v)).SetRange(lo_u, hi_u)
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.Start(v)))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))

    solver = routing.solver()
    any_breaks = False
    # Break constraints want the service time per routing *index*, not per node.
    visit_transits = [
        service[int(manager.IndexToNode(k))] for k in range(routing.Size() + routing.vehicles())
    ]
    break_vars: dict[int, list[Any]] = {}
    for v, vehicle in enumerate(instance.vehicles):
        if not vehicle.breaks:
            continue
        any_breaks = True
        intervals = [
            solver.FixedDurationIntervalVar(
                _up(b.earliest_start, s),
                _down(b.latest_start, s),
                _up(b.duration, s),
                False,
                f"{b.name}-{v}",
            )
            for b in vehicle.breaks
        ]
        time_dim.SetBreakIntervalsOfVehicle(intervals, v, visit_transits)
        for interval in intervals:
            routing.AddIntervalToAssignment(interval)
        break_vars[v] = intervals

    if any(instance.demands):
        caps = [
            vehicle.capacity if vehicle.capacity is not None else sum(instance.demands)
            for vehicle in instance.vehicles
        ]
        demand = [instance.demand_of(i) for i in range(n)]
        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitVector(demand), 0, caps, True, "load"
        )

    if any(vehicle.max_work is not None for vehicle in instance.vehicles):
        work_caps = [
            _down(vehicle.max_work, s) if vehicle.max_work is not None else horizon_units * 2
            for vehicle in instance.vehicles
        ]
        routing.AddDimensionWithVehicleCapacity(time_index, 0, work_caps, True, "work")

    for v, vehicle in enumerate(instance.vehicles):
        fixed = vehicle.fixed_cost + params.vehicle_fixed_cost
        if fixed:
            routing.SetFixedCostOfVehicle(round(fixed * s), v)

    relaxed: set[int] = set()
    for i in range(n):
        if i in depots:
            continue
        index = manager.NodeToIndex(i)
        allowed = instance.allowed_vehicles[i] if instance.allowed_vehicles else None
        if allowed is not None:
            # -1 stays allowed so the node can still be left out (when optional).
            routing.VehicleVar(index).SetValues([-1, *allowed])
        penalty = instance.penalty_of(i)
        if penalty is not None:
            routing.AddDisjunction([index], max(1, round(penalty * s)))
        elif relax is not None:
            routing.AddDisjunction([index], relax)
            relaxed.add(i)

    search = _search_parameters(params)
    if any_breaks and params.first_solution_strategy == "PARALLEL_CHEAPEST_INSERTION":
        # Break intervals are only propagated well by insertion heuristics that
        # check feasibility on the whole route; LOCAL_CHEAPEST_INSERTION does.
        search.first_solution_strategy = (
            routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
        )
    routing.CloseModelWithParameters(search)
    return _Model(
        instance=instance,
        scale=s,
        manager=manager,
        routing=routing,
        time_dim=time_dim,
        break_vars=break_vars,
        search=search,
        optional=frozenset(relaxed),
    )


def _solve_once(
    instance: RoutingInstance,
    params: RoutingParams,
    initial_routes: Sequence[Sequence[int]] | None,
) -> RoutingSolution:
    began = _time.perf_counter()
    model = _build(instance, params)
    routing, search = model.routing, model.search
    assignment = None
    if initial_routes is not None:
        hint = routing.ReadAssignmentFromRoutes([list(r) for r in initial_routes], True)
        assignment = routing.SolveFromAssignmentWithParameters(hint, search) if hint else None
    if assignment is None:
        assignment = routing.SolveWithParameters(search)
    return _extract(model, assignment, _time.perf_counter() - began)


def _extract(model: _Model, assignment: Any, seconds: float) -> RoutingSolution:
    """Routes, times and breaks of an OR-Tools assignment, distances recomputed in float."""
    instance, routing, manager, s = model.instance, model.routing, model.manager, model.scale
    time_dim = model.time_dim
    status = _STATUS.get(routing.status(), "infeasible")
    if status == "invalid":
        raise ValueError("OR-Tools rejected the routing search parameters (see its log)")
    if assignment is None:
        return RoutingSolution(
            routes=(),
            dropped=tuple(instance.customers),
            distance=0.0,
            penalty=0.0,
            vehicles_used=0,
            status="infeasible" if status in {"feasible", "optimal"} else status,
            seconds=seconds,
            objective=math.inf,
        )

    routes: list[Route] = []
    visited: set[int] = set()
    for v in range(len(instance.vehicles)):
        index = routing.Start(v)
        depart = assignment.Value(time_dim.CumulVar(index)) / s
        nodes: list[int] = []
        times: list[float] = []
        index = assignment.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            nodes.append(node)
            times.append(assignment.Value(time_dim.CumulVar(index)) / s)
            index = assignment.Value(routing.NextVar(index))
        back = assignment.Value(time_dim.CumulVar(index)) / s
        if not nodes:
            continue
        visited.update(nodes)
        placed_breaks: list[tuple[float, float]] = []
        for interval in model.break_vars.get(v, []):
            if assignment.PerformedValue(interval):
                placed_breaks.append(
                    (assignment.StartValue(interval) / s, assignment.DurationValue(interval) / s)
                )
        path = [instance.vehicles[v].start, *nodes, instance.vehicles[v].end]
        routes.append(
            Route(
                vehicle=v,
                nodes=tuple(nodes),
                starts=tuple(times),
                depart=depart,
                back=back,
                distance=sum(instance.cost(a, b) for a, b in itertools.pairwise(path)),
                breaks=tuple(placed_breaks),
            )
        )
    dropped = tuple(i for i in instance.customers if i not in visited)
    if any(i in model.optional for i in dropped):
        status = "infeasible"  # a mandatory customer left out of a relaxed model
    penalty = sum(instance.penalty_of(i) or 0.0 for i in dropped)
    return RoutingSolution(
        routes=tuple(routes),
        dropped=dropped,
        distance=sum(r.distance for r in routes),
        penalty=penalty,
        vehicles_used=len(routes),
        status=status,
        seconds=seconds,
        objective=assignment.ObjectiveValue() / s,
    )


# --------------------------------------------------------------------------- checker


def check_routes(
    instance: RoutingInstance,
    routes: Sequence[Sequence[int]] | RoutingSolution,
    *,
    vehicles: Sequence[int] | None = None,
) -> list[str]:
    """Every broken rule of a set of routes, independent of any solver; [] means feasible.

    ``routes`` is either a :class:`RoutingSolution` (its times and breaks are
    checked as given) or plain customer sequences (one per vehicle, or per
    ``vehicles[k]``), for which the earliest feasible service times are
    computed (waiting allowed) — that is how other solvers' routes are judged.
    Checks: each customer served at most once, mandatory ones served, allowed
    vehicle, capacity, travel + service between consecutive visits, time
    windows, shift start/end, max work, breaks inside their range and not
    overlapping a visit or its travel.
    """
    problems: list[str] = []
    plain = not isinstance(routes, RoutingSolution)
    if isinstance(routes, RoutingSolution):
        items: list[tuple[int, Sequence[int], Route | None]] = [
            (r.vehicle, r.nodes, r) for r in routes.routes
        ]
        dropped = set(routes.dropped)
    else:
        ids = list(vehicles) if vehicles is not None else list(range(len(routes)))
        if len(ids) != len(routes):
            return [f"{len(routes)} routes for {len(ids)} vehicle ids"]
        items = [(v, seq, None) for v, seq in zip(ids, routes, strict=True)]
        dropped = set()
    seen: dict[int, int] = {}
    depots = instance.depots
    used_vehicles: set[int] = set()
    for v, seq, given in items:
        if not 0 <= v < len(instance.vehicles):
            problems.append(f"unknown vehicle {v}")
            continue
        if v in used_vehicles:
            problems.append(f"vehicle {v} has two routes")
        used_vehicles.add(v)
        vehicle = instance.vehicles[v]
        for node in seq:
            if node in depots or not 0 <= node < instance.size:
                problems.append(f"vehicle {v}: node {node} is not a customer")
                continue
            if node in seen:
                problems.append(f"customer {node} served twice (vehicles {seen[node]}, {v})")
            seen[node] = v
            allowed = instance.allowed_vehicles[node] if instance.allowed_vehicles else None
            if allowed is not None and v not in allowed:
                problems.append(f"customer {node} served by vehicle {v}, not in {allowed}")
        load = sum(instance.demand_of(i) for i in seq)
        if vehicle.capacity is not None and load > vehicle.capacity:
            problems.append(f"vehicle {v}: load {load} > capacity {vehicle.capacity}")
        problems.extend(_check_times(instance, v, list(seq), given, plain))
    for node in instance.customers:
        if node in seen:
            if node in dropped:
                problems.append(f"customer {node} both served and dropped")
            continue
        if instance.penalty_of(node) is None:
            problems.append(f"mandatory customer {node} not served")
    return problems


def _check_times(
    instance: RoutingInstance,
    v: int,
    seq: list[int],
    given: Route | None,
    plain: bool,
) -> list[str]:
    problems: list[str] = []
    vehicle = instance.vehicles[v]
    shift_lo, shift_hi = instance.shift_of(v)
    path = [vehicle.start, *seq, vehicle.end]
    breaks: list[tuple[float, float]] = []
    if plain:
        if vehicle.breaks:
            return [f"vehicle {v}: has breaks, check a RoutingSolution to see them placed"]
        # Earliest schedule: leave at shift start, wait for each window to open.
        t = shift_lo
        starts: list[float] = []
        prev = vehicle.start
        for node in seq:
            arrive = t + instance.travel_time(prev, node)
            start = _earliest_start(instance.windows_of(node), arrive)
            if start is None:
                problems.append(
                    f"vehicle {v}: arrives at {node} at {arrive:.3f}, after its windows"
                )
                start = arrive
            starts.append(start)
            t = start + instance.service_of(node)
            prev = node
        depart = shift_lo
        back = t + instance.travel_time(prev, vehicle.end)
    else:
        assert given is not None
        starts = list(given.starts)
        depart, back = given.depart, given.back
        breaks = list(given.breaks)
        if len(starts) != len(seq):
            return [f"vehicle {v}: {len(seq)} nodes but {len(starts)} start times"]
    if depart < shift_lo - _EPS:
        problems.append(f"vehicle {v}: leaves at {depart:.3f} before its shift {shift_lo:.3f}")
    if back > shift_hi + _EPS:
        problems.append(f"vehicle {v}: returns at {back:.3f} after its shift {shift_hi:.3f}")
    if len(breaks) != len(vehicle.breaks):
        problems.append(f"vehicle {v}: {len(breaks)} breaks placed, {len(vehicle.breaks)} due")
    for spec, (b_start, b_len) in zip(
        sorted(vehicle.breaks, key=lambda b: b.earliest_start), sorted(breaks), strict=False
    ):
        if b_start < spec.earliest_start - _EPS or b_start > spec.latest_start + _EPS:
            problems.append(f"vehicle {v}: break {spec.name!r} at {b_start:.3f} out of range")
        if b_len < spec.duration - _EPS:
            problems.append(f"vehicle {v}: break {spec.name!r} lasts {b_len} < {spec.duration}")
    # Walk the path: each leg needs travel time plus any break that falls in it.
    times = [depart, *starts, back]
    work = 0.0
    for k in range(len(path) - 1):
        a, b = path[k], path[k + 1]
        leave = times[k] + (instance.service_of(a) if k > 0 else 0.0)
        arrive_by = times[k + 1]
        pause = sum(d for s0, d in breaks if s0 >= leave - _EPS and s0 + d <= arrive_by + _EPS)
        need = instance.travel_time(a, b) + pause
        work += instance.travel_time(a, b) + (instance.service_of(a) if k > 0 else 0.0)
        if arrive_by - leave < need - _EPS:
            problems.append(
                f"vehicle {v}: leg {a}→{b} leaves {leave:.3f}, arrives {arrive_by:.3f}, "
                f"needs {need:.3f}"
            )
        if 0 < k + 1 < len(path) - 1 and not plain:
            node = b
            windows = instance.windows_of(node)
            if windows and not any(lo - _EPS <= arrive_by <= hi + _EPS for lo, hi in windows):
                problems.append(f"vehicle {v}: starts {node} at {arrive_by:.3f} outside {windows}")
    for s0, d in breaks:
        for node, st in zip(seq, starts, strict=True):
            if s0 < st + instance.service_of(node) - _EPS and st < s0 + d - _EPS:
                problems.append(f"vehicle {v}: break at {s0:.3f} overlaps visit {node}")
    if vehicle.max_work is not None and work > vehicle.max_work + _EPS:
        problems.append(f"vehicle {v}: works {work:.3f} > max {vehicle.max_work}")
    return problems


def _earliest_start(windows: tuple[Window, ...], arrive: float) -> float | None:
    if not windows:
        return arrive
    for lo, hi in sorted(windows):
        if arrive <= hi + _EPS:
            return max(arrive, lo)
    return None


# --------------------------------------------------------------------------- va-engine adapter


@dataclass(frozen=True)
class RouteDay:
    """One day of visit routes as va-engine blocks, plus what could not be visited and why."""

    blocks: tuple[PlannedBlock, ...]
    unplanned: tuple[Unplanned, ...]
    travel_minutes: int
    status: str
    seconds: float
    origin: datetime | None = None
    """Time zero of the routing instance (minutes are counted from here)."""
    instance: RoutingInstance | None = None
    solution: RoutingSolution | None = None
    assistants: tuple[str, ...] = ()
    """Assistant id of each vehicle of ``instance``."""
    tasks: tuple[str, ...] = field(default_factory=tuple)
    """Task id of each node of ``instance`` (empty string for a home base)."""


#: Cost of leaving out a visit of weight 1, in travel minutes: far above any
#: detour, so the router only drops what truly cannot fit.
DROP_MINUTES_PER_WEIGHT = 100_000


def _minutes(origin: datetime, moment: datetime) -> float:
    return (moment - origin).total_seconds() / 60.0


def _blocks_assistant(busy: Busy, assistant: Assistant) -> bool:
    if busy.assistant_id is not None:
        return busy.assistant_id == assistant.id
    return busy.client_id is None


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def route_visits(
    assistant: Assistant,
    visits: Sequence[Task],
    day: date,
    busy: Sequence[Busy],
    travel: TravelModel,
    *,
    params: RoutingParams | None = None,
    previous: Sequence[str] | None = None,
) -> RouteDay:
    """Plan one assistant's visits on ``day``: home → visits → home, in working hours.

    See :func:`route_visits_multi`; ``previous`` is an earlier visit order to
    warm-start from (kept when still good, which keeps re-plans stable).
    """
    return route_visits_multi(
        [assistant],
        visits,
        day,
        busy,
        travel,
        params=params,
        previous={assistant.id: previous} if previous else None,
    )


def route_visits_multi(
    assistants: Sequence[Assistant],
    visits: Sequence[Task],
    day: date,
    busy: Sequence[Busy],
    travel: TravelModel,
    *,
    params: RoutingParams | None = None,
    previous: Mapping[str, Sequence[str]] | None = None,
) -> RouteDay:
    """Share located tasks among assistants (one route each) on ``day``; minimise travel.

    Rules kept: each route starts and ends at the assistant's home base (or
    wherever the first visit is, without one) inside her working hours of that
    weekday (gaps between working windows count as busy); busy blocks of the
    assistant and her breaks (flexible, in their window) are never overlapped
    by a visit; each visit lies wholly inside one of its time windows, after
    its release and before a hard deadline; a task bound to an assistant or
    needing a skill goes only to a matching assistant; travel + visits fit in
    ``max_minutes_per_day``. Visits that cannot be fitted are returned as
    :class:`Unplanned` with a reason; higher ``weight`` is dropped last.
    All assistants must share one travel mode (one travel matrix). Soft
    deadlines are not priced here: a visit either fits its windows or not.
    Breaks and busy blocks may interrupt a journey (OR-Tools break semantics),
    never a visit.
    """
    # No ruin-and-recreate by default: breaks need the slow OR-Tools repair.
    params = params or RoutingParams(time_limit_s=2.0, scale=1, lns_share=0.0)
    if params.scale != 1:  # minutes are already integers; scaling only slows the search
        params = replace(params, scale=1)
    modes = {a.travel_mode for a in assistants}
    if len(modes) > 1:
        raise ValueError(f"route_visits_multi needs one travel mode, got {sorted(modes)}")
    mode = modes.pop() if modes else "car"

    unplanned: list[Unplanned] = []
    working: list[tuple[Assistant, list[tuple[datetime, datetime]]]] = []
    for assistant in assistants:
        tz = assistant.tz
        today = [w.on(day, tz) for w in assistant.working_hours]
        spans = sorted((w.start, w.end) for w in today if w is not None)
        if spans:
            working.append((assistant, spans))
    located = [t for t in visits if t.location is not None]
    for task in visits:
        if task.location is None:
            unplanned.append(
                Unplanned(
                    task_id=task.id,
                    reason="not a visit: the task has no location",
                    code="no_location",
                )
            )
    if not working:
        unplanned.extend(
            Unplanned(
                task_id=t.id,
                reason=f"no assistant works on {day.isoformat()}",
                code="no_working_hours",
            )
            for t in located
        )
        return RouteDay(
            blocks=(), unplanned=tuple(unplanned), travel_minutes=0, status="empty", seconds=0.0
        )
    origin = min(spans[0][0] for _, spans in working)
    day_end = max(spans[-1][1] for _, spans in working)
    horizon = _minutes(origin, day_end)

    # Nodes: one home per assistant, then the visits that have some usable window.
    places: list[Location | None] = [a.home for a, _ in working]
    node_task: list[Task | None] = [None] * len(working)
    windows: list[tuple[Window, ...]] = [() for _ in working]
    allowed: list[tuple[int, ...] | None] = [None for _ in working]
    for task in located:
        options = _task_windows(task, origin, horizon)
        fits = tuple(
            v
            for v, (a, _) in enumerate(working)
            if (task.assistant_id is None or task.assistant_id == a.id)
            and (task.skill is None or task.skill in a.skills)
        )
        if not options:
            unplanned.append(
                Unplanned(
                    task_id=task.id,
                    code="no_window",
                    reason=f"none of its time windows (after release, before a hard deadline) "
                    f"leaves {task.duration_minutes} min inside working hours on {day}",
                )
            )
            continue
        if not fits:
            who = task.assistant_id or f"skill {task.skill!r}"
            unplanned.append(
                Unplanned(
                    task_id=task.id,
                    code="no_assistant",
                    reason=f"no assistant working on {day} matches {who}",
                )
            )
            continue
        places.append(task.location)
        node_task.append(task)
        windows.append(options)
        allowed.append(fits if len(fits) < len(working) else None)

    matrix = [
        [0.0 if a is None or b is None else float(travel.minutes(a, b, mode)) for b in places]
        for a in places
    ]
    vehicles: list[VehicleSpec] = []
    for v, (assistant, spans) in enumerate(working):
        lo, hi = _minutes(origin, spans[0][0]), _minutes(origin, spans[-1][1])
        blocked = [
            (_minutes(origin, a_end), _minutes(origin, b_start))
            for (_, a_end), (b_start, _) in itertools.pairwise(spans)
        ]
        for b in busy:
            if _blocks_assistant(b, assistant):
                s0, s1 = max(_minutes(origin, b.start), lo), min(_minutes(origin, b.end), hi)
                if s0 < s1:
                    blocked.append((s0, s1))
        specs = [
            BreakSpec(s0, s0, s1 - s0, name=f"busy{k}")
            for k, (s0, s1) in enumerate(_merge(blocked))
        ]
        tz = assistant.tz
        for k, rule in enumerate(assistant.breaks):
            earliest = _minutes(origin, datetime.combine(day, rule.earliest, tzinfo=tz))
            latest = _minutes(origin, datetime.combine(day, rule.latest, tzinfo=tz)) - rule.minutes
            earliest, latest = max(earliest, lo), min(latest, hi - rule.minutes)
            if earliest <= latest:
                specs.append(BreakSpec(earliest, latest, float(rule.minutes), name=f"break{k}"))
        vehicles.append(
            VehicleSpec(
                start=v,
                end=v,
                shift=(lo, hi),
                breaks=tuple(specs),
                max_work=float(assistant.max_minutes_per_day)
                if assistant.max_minutes_per_day
                else None,
            )
        )
    instance = RoutingInstance(
        travel=matrix,
        vehicles=tuple(vehicles),
        service=tuple(float(t.duration_minutes) if t else 0.0 for t in node_task),
        windows=tuple(windows),
        penalties=tuple(
            float(DROP_MINUTES_PER_WEIGHT * t.weight) if t else None for t in node_task
        ),
        allowed_vehicles=tuple(allowed),
        horizon=horizon,
    )
    initial = None
    if previous:
        index = {t.id: i for i, t in enumerate(node_task) if t is not None}
        initial = [
            [index[tid] for tid in previous.get(a.id, ()) if tid in index] for a, _ in working
        ]
    solution = solve_routing(instance, params, initial_routes=initial)

    blocks: list[PlannedBlock] = []
    travel_total = 0
    for route in solution.routes:
        assistant = working[route.vehicle][0]
        path = [route.vehicle, *route.nodes, route.vehicle]
        legs = [int(matrix[a][b]) for a, b in itertools.pairwise(path)]
        travel_total += sum(legs)
        for k, (node, start) in enumerate(zip(route.nodes, route.starts, strict=True)):
            visit = node_task[node]
            assert visit is not None
            begin = origin + timedelta(minutes=start)
            blocks.append(
                PlannedBlock(
                    task_id=visit.id,
                    assistant_id=assistant.id,
                    start=begin,
                    end=begin + timedelta(minutes=visit.duration_minutes),
                    travel_before_minutes=legs[k],
                    location=visit.location,
                )
            )
    for node in solution.dropped:
        left = node_task[node]
        assert left is not None
        unplanned.append(
            Unplanned(
                task_id=left.id,
                code="no_room",
                reason="does not fit in any route: working hours, busy time, breaks, travel and "
                "more important visits leave no room inside its time windows",
            )
        )
    return RouteDay(
        blocks=tuple(sorted(blocks, key=lambda b: (b.assistant_id, b.start))),
        unplanned=tuple(unplanned),
        travel_minutes=travel_total,
        status=solution.status,
        seconds=solution.seconds,
        origin=origin,
        instance=instance,
        solution=solution,
        assistants=tuple(a.id for a, _ in working),
        tasks=tuple(t.id if t else "" for t in node_task),
    )


def _task_windows(task: Task, origin: datetime, horizon: float) -> tuple[Window, ...]:
    """Service-start windows in minutes from ``origin``: the whole visit inside a window."""
    lower = _minutes(origin, task.release) if task.release else -math.inf
    upper = _minutes(origin, task.deadline) if task.deadline and task.hard_deadline else math.inf
    spans = [(_minutes(origin, w.start), _minutes(origin, w.end)) for w in task.windows] or [
        (0.0, horizon)
    ]
    out: list[Window] = []
    for lo, hi in sorted(spans):
        lo = max(lo, lower, 0.0)
        hi = min(hi, upper, horizon) - task.duration_minutes
        lo = float(math.ceil(lo - _EPS))
        hi = float(math.floor(hi + _EPS))
        if lo <= hi:
            out.append((lo, hi))
    return tuple(out)
