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
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from va_engine.model import Assistant, Busy, Location, PlannedBlock, Task, Unplanned
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
    search with OR-Tools' default operators, distances scaled ×1000.
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
    """
    params = params or RoutingParams()
    if params.fleet_phase <= 0:
        return _solve_once(instance, params, initial_routes)
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
    seed: list[list[int]] | None = [[] for _ in instance.vehicles] if fleet.routes else None
    for route in fleet.routes:
        assert seed is not None
        seed[route.vehicle] = list(route.nodes)
    rest = max(0.05, params.time_limit_s - (_time.perf_counter() - began))
    final = _solve_once(instance, replace(params, time_limit_s=rest), seed or initial_routes)
    best = final if final.feasible or not fleet.feasible else fleet
    return replace(best, seconds=_time.perf_counter() - began)


def _solve_once(
    instance: RoutingInstance,
    params: RoutingParams,
    initial_routes: Sequence[Sequence[int]] | None,
) -> RoutingSolution:
    began = _time.perf_counter()
    s = params.scale
    n = instance.size
    depots = instance.depots
    starts = [v.start for v in instance.vehicles]
    ends = [v.end for v in instance.vehicles]
    manager = pywrapcp.RoutingIndexManager(n, len(instance.vehicles), starts, ends)
    routing = pywrapcp.RoutingModel(manager)

    dist = instance.distance or instance.travel
    cost = [[round(float(x) * s) for x in row] for row in dist]
    service = [_up(instance.service_of(i), s) for i in range(n)]
    transit = [
        [service[i] + _up(float(instance.travel[i][j]), s) for j in range(n)] for i in range(n)
    ]

    def cost_cb(a: int, b: int) -> int:
        return cost[int(manager.IndexToNode(a))][int(manager.IndexToNode(b))]

    def time_cb(a: int, b: int) -> int:
        return transit[int(manager.IndexToNode(a))][int(manager.IndexToNode(b))]

    cost_index = routing.RegisterTransitCallback(cost_cb)
    time_index = routing.RegisterTransitCallback(time_cb)
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

        def demand_cb(a: int) -> int:
            return demand[int(manager.IndexToNode(a))]

        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitCallback(demand_cb), 0, caps, True, "load"
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

    search = _search_parameters(params)
    if any_breaks and params.first_solution_strategy == "PARALLEL_CHEAPEST_INSERTION":
        # Break intervals are only propagated well by insertion heuristics that
        # check feasibility on the whole route; LOCAL_CHEAPEST_INSERTION does.
        search.first_solution_strategy = (
            routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
        )
    routing.CloseModelWithParameters(search)

    if initial_routes is not None:
        hint = routing.ReadAssignmentFromRoutes([list(r) for r in initial_routes], True)
        assignment = routing.SolveFromAssignmentWithParameters(hint, search) if hint else None
        if assignment is None:
            assignment = routing.SolveWithParameters(search)
    else:
        assignment = routing.SolveWithParameters(search)
    seconds = _time.perf_counter() - began
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
        if instance.vehicles[v].breaks:
            for interval in break_vars.get(v, []):
                if assignment.PerformedValue(interval):
                    placed_breaks.append(
                        (
                            assignment.StartValue(interval) / s,
                            assignment.DurationValue(interval) / s,
                        )
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
    params = params or RoutingParams(time_limit_s=2.0, scale=1)
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
