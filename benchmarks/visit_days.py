"""Visit-heavy days: routing first, then desk work, against the integrated CP-SAT model.

One assistant, one Monday, 12–20 visits at client addresses (windows the client
agreed to, inside their reachability) and 10 desk tasks. Two strategies get the
same time limit:

- ``integrated``: :func:`va_engine.planner.plan` — visits and desk work in one
  CP-SAT model (circuit per day, travel intervals in the NoOverlap);
- ``routing-first``: the day's visits are routed with OR-Tools
  (:func:`va_engine.planner.routing.route_visits`, working hours, busy time and
  the lunch break included) in 30 % of the time, the routed visits and their
  drives become fixed busy time, and CP-SAT plans the desk work around them.

Both plans are checked by the independent validator and scored with the same
objective (:func:`va_engine.planner.schedule.evaluate`).

    python benchmarks/visit_days.py --seeds 1 2 3 4 5 --time-limit 10 --json OUT
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table, write_results
from va_week import MONDAY, _agreed_windows, _at, _days

from va_engine.model import (
    Agreement,
    Assistant,
    BreakRule,
    Busy,
    Client,
    Location,
    Plan,
    PlannedBlock,
    PlanningProblem,
    PlanStatus,
    Task,
    TimeWindow,
)
from va_engine.planner import PlanLimits, plan, validate_plan
from va_engine.planner.explain import assemble_plan
from va_engine.planner.routing import RoutingParams, route_visits
from va_engine.planner.schedule import (
    Piece,
    Placement,
    blocks_assistant,
    compile_problem,
    evaluate,
)
from va_engine.planner.travel import HaversineTravel

ROUTING_SHARE = 0.3


def generate(seed: int, n_visits: int, n_desk: int = 10) -> PlanningProblem:
    """A seeded visit-heavy Monday for one assistant."""
    rng = random.Random(seed)
    home = Location(
        name="home", lat=round(rng.uniform(51.8, 52.6), 4), lon=round(rng.uniform(4.8, 6.0), 4)
    )
    va = Assistant(
        id="va0",
        name="VA",
        working_hours=_days(range(1), 8.5, 17.5),
        breaks=(BreakRule(earliest=clock(12), latest=clock(13, 30), minutes=30),),
        home=home,
    )
    reach_options = [
        _days(range(1), 9, 12),
        _days(range(1), 9, 17),
        _days(range(1), 13, 17),
        _days(range(1), 10, 16),
    ]
    clients = tuple(
        Client(
            id=f"c{k}",
            name=f"Client {k}",
            address=Location(
                name=f"client {k}",
                lat=round(home.lat + rng.uniform(-0.03, 0.03), 4),
                lon=round(home.lon + rng.uniform(-0.045, 0.045), 4),
            ),
            agreement=Agreement(reachability=rng.choice(reach_options)),
        )
        for k in range(n_visits)
    )
    tasks: list[Task] = []
    for i, c in enumerate(clients):
        windows: tuple[TimeWindow, ...] = _agreed_windows(rng, c) if rng.random() < 0.7 else ()
        tasks.append(
            Task(
                id=f"visit{i:02d}",
                title=f"visit {c.name}",
                client_id=c.id,
                kind="visit",
                duration_minutes=rng.choice([15, 20, 20, 30]),
                location=c.address,
                windows=windows,
                weight=rng.randint(2, 5),
            )
        )
    for i in range(n_desk):
        c = rng.choice(clients)
        tasks.append(
            Task(
                id=f"desk{i:02d}",
                title=f"{c.name} admin",
                client_id=c.id,
                duration_minutes=rng.choice([10, 15, 20, 30]),
                deadline=_at(0, rng.choice([12, 15, 17])) if rng.random() < 0.6 else None,
                weight=rng.randint(1, 5),
            )
        )
    busy = (Busy(start=_at(0, 11), end=_at(0, 11.5), assistant_id="va0", title="call"),)
    return PlanningProblem(
        start=MONDAY,
        end=MONDAY + timedelta(days=1),
        assistants=(va,),
        tasks=tuple(tasks),
        busy=busy,
        clients=clients,
    )


def routing_first(problem: PlanningProblem, limits: PlanLimits, *, now: datetime) -> Plan:
    """Route each day's visits, fix them (and their drives) as busy time, then plan desk work.

    Visits a day's route leaves out are offered to the next day. A visit's
    windows for the router are where the compiler allows it (its windows ∩ the
    client's reachability and busy time ∩ release/hard deadline), so both
    strategies obey the same rules. Habits are not handled (the runner has none).
    """
    started = time.perf_counter()
    travel = HaversineTravel()
    comp = compile_problem(problem, now=now, weights=limits.weights, travel=travel)
    (assistant,) = problem.assistants  # one assistant: the visit-heavy day
    pending = [
        (t, comp.job(t.id))
        for t in problem.tasks
        if t.location is not None and comp.job(t.id).regions
    ]
    fixed: list[Busy] = []
    visit_blocks = []
    days = sorted({r.day for _, job in pending for rs in job.regions.values() for r in rs})
    budget = limits.time_limit_s * ROUTING_SHARE / max(1, len(days))
    for day in days:
        lo, _ = comp.calendars[0].days[day]
        today = [
            task.model_copy(
                update={
                    "windows": tuple(
                        TimeWindow(start=comp.moment(s), end=comp.moment(e)) for s, e in job.allowed
                    ),
                    "release": None,
                    "hard_deadline": False,
                }
            )
            for task, job in pending
            if any(r.day == day for r in job.regions.get(0, []))
        ]
        if not today:
            continue
        local = comp.moment(lo).astimezone(assistant.tz).date()
        routed = route_visits(
            assistant,
            today,
            local,
            problem.busy,
            travel,
            params=RoutingParams(time_limit_s=max(0.5, budget), scale=1),
        )
        blocks = _drives_clear(problem, sorted(routed.blocks, key=lambda b: b.start), travel)
        done = {b.task_id for b in blocks}
        pending = [(t, j) for t, j in pending if t.id not in done]
        for b in blocks:
            fixed.append(
                Busy(
                    start=b.start - timedelta(minutes=b.travel_before_minutes),
                    end=b.end,
                    assistant_id=assistant.id,
                    title=f"visit {b.task_id}",
                )
            )
        if blocks and blocks[-1].location is not None and assistant.home is not None:
            back = travel.minutes(blocks[-1].location, assistant.home, assistant.travel_mode)
            if back:
                fixed.append(
                    Busy(
                        start=blocks[-1].end,
                        end=blocks[-1].end + timedelta(minutes=back),
                        assistant_id=assistant.id,
                        title="drive home",
                    )
                )
        visit_blocks += blocks
    desk = problem.model_copy(
        update={
            "tasks": tuple(t for t in problem.tasks if t.location is None),
            "busy": (*problem.busy, *fixed),
        }
    )
    left = limits.time_limit_s - (time.perf_counter() - started)
    desk_plan = plan(desk, replace(limits, time_limit_s=max(0.5, left)), now=now, travel=travel)
    placement: Placement = {}
    for b in (*desk_plan.blocks, *visit_blocks):
        placement.setdefault(b.task_id, []).append(Piece(0, comp.minutes_of(b.start), b.minutes))
    return assemble_plan(
        comp,
        placement,
        status=PlanStatus.FEASIBLE,
        solver="routing-first",
        objective=float(evaluate(comp, placement)),
        bound=None,
        seconds=time.perf_counter() - started,
    )


def _drives_clear(
    problem: PlanningProblem, route: list[PlannedBlock], travel: HaversineTravel
) -> list[PlannedBlock]:
    """The route without visits whose drive crosses busy time (OR-Tools lets a break cut a drive).

    Our rules keep every drive whole and clear of busy time, so a visit whose
    drive there (or, for the last one, home) overlaps busy time is dropped, and
    the next drive is re-measured from the stop before; repeated until clean.
    """
    (assistant,) = problem.assistants
    busy = [(b.start, b.end) for b in problem.busy if blocks_assistant(b, assistant.id)]

    def clear(s: datetime, e: datetime) -> bool:
        return all(not (s < be and bs < e) for bs, be in busy)

    kept = list(route)
    while True:
        out: list[PlannedBlock] = []
        here = assistant.home
        bad = None
        for b in kept:
            assert b.location is not None
            t = travel.minutes(here, b.location, assistant.travel_mode) if here else 0
            if not clear(b.start - timedelta(minutes=t), b.start):
                bad = b
                break
            out.append(b.model_copy(update={"travel_before_minutes": t}))
            here = b.location
        if bad is None and out and here is not None and assistant.home is not None:
            back = travel.minutes(here, assistant.home, assistant.travel_mode)
            if not clear(out[-1].end, out[-1].end + timedelta(minutes=back)):
                bad = kept[-1]
        if bad is None:
            bad = _crowds_break(problem, out, busy, travel)
        if bad is None:
            return out
        kept = [b for b in kept if b.task_id != bad.task_id]


def _crowds_break(
    problem: PlanningProblem,
    route: list[PlannedBlock],
    busy: list[tuple[datetime, datetime]],
    travel: HaversineTravel,
) -> PlannedBlock | None:
    """A visit to drop when visits and drives leave no room for a break (else None).

    OR-Tools may take the break in the middle of a drive; we need it whole.
    """
    (assistant,) = problem.assistants
    if not route:
        return None
    tz = assistant.tz
    day = route[0].start.astimezone(tz).date()
    taken = [(b.start - timedelta(minutes=b.travel_before_minutes), b.end) for b in route]
    if assistant.home is not None and route[-1].location is not None:
        back = travel.minutes(route[-1].location, assistant.home, assistant.travel_mode)
        taken.append((route[-1].end, route[-1].end + timedelta(minutes=back)))
    for rule in assistant.breaks:
        lo = datetime.combine(day, rule.earliest, tzinfo=tz)
        hi = datetime.combine(day, rule.latest, tzinfo=tz)
        need = timedelta(minutes=rule.minutes)
        if _longest_gap(lo, hi, busy) < need:
            continue  # busy time alone fills the window: no break to protect
        if _longest_gap(lo, hi, busy + taken) < need:
            inside = [b for b in route if b.start < hi and lo < b.end]
            return inside[0] if inside else route[-1]
    return None


def _longest_gap(lo: datetime, hi: datetime, taken: list[tuple[datetime, datetime]]) -> timedelta:
    cur, best = lo, timedelta(0)
    for s, e in sorted(taken):
        if e <= cur or s >= hi:
            continue
        best = max(best, s - cur)
        cur = max(cur, e)
    return max(best, hi - cur)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--visits", type=int, default=None, help="default: 12–20 drawn per seed")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows: list[dict[str, object]] = []
    travel = HaversineTravel()
    for seed in args.seeds:
        n_visits = args.visits or random.Random(seed).randint(12, 20)
        problem = generate(seed, n_visits)
        limits = PlanLimits(time_limit_s=args.time_limit)
        for strategy in ("integrated", "routing-first"):
            started = time.perf_counter()
            if strategy == "integrated":
                result = plan(problem, limits, now=MONDAY, travel=travel)
            else:
                result = routing_first(problem, limits, now=MONDAY)
            seconds = time.perf_counter() - started
            violations = validate_plan(problem, result, travel=travel)
            for v in violations[:5]:
                print("INVALID", strategy, v, file=sys.stderr)
            drive = sum(b.travel_before_minutes for b in result.blocks)
            located = sorted((b for b in result.blocks if b.location), key=lambda b: b.start)
            if located and problem.assistants[0].home:
                drive += travel.minutes(located[-1].location, problem.assistants[0].home, "car")  # type: ignore[arg-type]
            planned = {b.task_id for b in result.blocks}
            rows.append(
                {
                    "instance": f"visit-day-s{seed}-v{n_visits}",
                    "solver": strategy,
                    "objective": result.objective,
                    "bound": result.bound,
                    "visits_planned": sum(
                        1 for t in problem.tasks if t.location and t.id in planned
                    ),
                    "unplanned": len(result.unplanned),
                    "travel_min": drive,
                    "seconds": round(seconds, 2),
                    "status": result.status.value
                    if not violations
                    else f"INVALID ({len(violations)})",
                }
            )
    print_table(
        "Visit days: integrated vs routing first",
        rows,
        [
            "instance",
            "solver",
            "objective",
            "bound",
            "visits_planned",
            "unplanned",
            "travel_min",
            "seconds",
            "status",
        ],
    )
    wins = {"integrated": 0, "routing-first": 0}
    for a, b in zip(rows[::2], rows[1::2], strict=True):
        oa, ob = float(a["objective"]), float(b["objective"])  # type: ignore[arg-type]
        if oa != ob:
            wins["integrated" if oa < ob else "routing-first"] += 1
    print(
        f"lower objective: integrated {wins['integrated']}, routing-first {wins['routing-first']}"
    )
    write_results(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
