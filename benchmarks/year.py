"""Year-plan levelling benchmark: ours (CP-SAT) against two naive rules.

    python benchmarks/year.py --seed 1 --obligations 300 --json benchmarks/results/year.json

Generates clients with K obligations in total (yearly, quarterly, monthly and
every-N-weeks recurrences, some with two steps and a lead time), one assistant
whose weekly capacity is about 1.5× the average load (and never below the
deadline-forced bound), Dutch public holidays. Solvers:

- ``ours``: :func:`va_engine.planner.year.plan_year`
- ``at_deadline``: every step in its latest possible week
- ``asap``: every step in its earliest possible week

Measured per solver: peak weekly hours, the lower bound on the peak, weeks
over capacity, missed deadlines and wall time. Missed deadlines are counted by
running the plan week by week: each week does at most its capacity of the
work assigned so far, earliest deadline first, and a step finished after its
deadline week is missed (a step ours leaves out is missed too).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import print_table, write_results

from va_engine.model import Client
from va_engine.obligations import (
    EveryNWeeks,
    Monthly,
    Obligation,
    ObligationOccurrence,
    Quarterly,
    Step,
    Yearly,
    expand,
)
from va_engine.planner.year import (
    YearPlan,
    baseline_year,
    monday,
    plan_year,
    public_holidays,
)

YEAR = 2026
COLUMNS = [
    "solver",
    "peak_hours",
    "bound_hours",
    "peak_over_bound",
    "weeks_over_capacity",
    "missed_deadlines",
    "seconds",
]
KINDS = ["tax", "finance", "admin", "health insurance", "gifts", "appointments"]


def generate(seed: int, obligations: int) -> list[ObligationOccurrence]:
    """K random obligations spread over K/15 clients, expanded for the benchmark year."""
    rng = random.Random(seed)
    clients = [Client(id=f"c{i:03d}", name=f"Client {i}") for i in range(max(1, obligations // 15))]
    per_client: dict[str, list[Obligation]] = {c.id: [] for c in clients}
    for k in range(obligations):
        roll = rng.random()
        recurrence: Any
        if roll < 0.55:
            day = date(YEAR, 1, 1) + timedelta(days=rng.randrange(365))
            recurrence = Yearly(month=day.month, day=day.day)
        elif roll < 0.80:
            recurrence = Quarterly(months_after=rng.choice([0, 1]), day=rng.choice([-1, 15, 20]))
        elif roll < 0.90:
            recurrence = Monthly(day=rng.choice([-1, 1, 10, 15, 25]))
        else:
            recurrence = EveryNWeeks(
                weeks=rng.choice([4, 6, 8, 13]),
                weekday=rng.choice(["mo", "we", "fr"]),
                anchor=date(YEAR, 1, 5) + timedelta(days=rng.randrange(28)),
            )
        window = rng.randint(1, 6)
        hours = rng.choice([0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0])
        common = {
            "name": f"obligation {k}",
            "kind": rng.choice(KINDS),
            "recurrence": recurrence,
            "priority": rng.randint(1, 5),
        }
        if rng.random() < 0.3:
            lead = rng.randint(1, 2)
            ob = Obligation(
                **common,
                steps=(
                    Step(name="prepare", hours=max(0.5, hours / 2), weeks_before_next=lead),
                    Step(name="finish", hours=hours),
                ),
                start_weeks_before=window + lead,
            )
        else:
            ob = Obligation(**common, effort_hours=hours, start_weeks_before=window)
        per_client[rng.choice(clients).id].append(ob)
    occurrences: list[ObligationOccurrence] = []
    for client in clients:
        occurrences += expand(per_client[client.id], YEAR, client.tz, client=client)
    return occurrences


def missed_deadlines(plan: YearPlan, capacity: dict[date, float]) -> int:
    """Run the plan week by week with real capacity; count steps finished after their deadline week."""
    weeks = list(plan.weeks)
    todo: list[tuple[date, str, float]] = []  # (deadline week, id, hours left)
    assigned: dict[date, list[ObligationOccurrence]] = {}
    for p in plan.placements:
        assigned.setdefault(p.week, []).append(p.occurrence)
    missed = len(plan.unplanned)
    late: set[str] = set()
    for week in weeks:
        todo += [(monday(o.deadline), o.id, o.hours) for o in assigned.get(week, [])]
        todo.sort()
        left = capacity.get(week, 0.0)
        remaining: list[tuple[date, str, float]] = []
        for due, sid, hours in todo:
            done = min(left, hours)
            left -= done
            if hours - done > 1e-9:
                remaining.append((due, sid, hours - done))
                if due <= week and sid not in late:
                    late.add(sid)
        todo = remaining
    late |= {sid for _, sid, _ in todo}
    return missed + len(late)


def run(seed: int, obligations: int, time_limit: float) -> list[dict[str, Any]]:
    occurrences = generate(seed, obligations)
    holidays = public_holidays("NL", [YEAR - 1, YEAR, YEAR + 1])
    probe = baseline_year(
        occurrences, {"assistant": 1000.0}, year=YEAR, rule="asap", holidays=holidays
    )
    row = probe.resources[0]
    usable = sum(1 for w in row.weeks if w.workdays > 0)
    biggest = max(o.hours for o in occurrences)
    # Full-week hours such that the average week is ~2/3 full and the tightest window fits.
    weekly = math.ceil(max(1.5 * row.total_hours / usable, 1.25 * row.bound_hours, 1.25 * biggest))
    capacity = {"assistant": float(weekly)}
    results: list[tuple[str, YearPlan, float]] = []
    started = time.perf_counter()
    ours = plan_year(
        occurrences, capacity, year=YEAR, holidays=holidays, time_limit_s=time_limit, seed=seed
    )
    results.append(("ours", ours, time.perf_counter() - started))
    for rule in ("at_deadline", "asap"):
        started = time.perf_counter()
        naive = baseline_year(occurrences, capacity, year=YEAR, rule=rule, holidays=holidays)  # type: ignore[arg-type]
        results.append((rule, naive, time.perf_counter() - started))
    week_capacity = {w.week: w.capacity or 0.0 for w in ours.resources[0].weeks}
    rows = []
    for solver, plan, seconds in results:
        rows.append(
            {
                "solver": solver,
                "peak_hours": round(plan.peak_hours, 2),
                "bound_hours": round(ours.bound_hours, 2),
                "peak_over_bound": round(plan.peak_hours / ours.bound_hours, 3)
                if ours.bound_hours
                else None,
                "weeks_over_capacity": plan.weeks_over_capacity,
                "missed_deadlines": missed_deadlines(plan, week_capacity),
                "seconds": round(seconds, 3),
                "status": plan.status.value,
                "seed": seed,
                "obligations": obligations,
                "occurrences": len(occurrences),
                "capacity_hours": weekly,
                "total_hours": round(plan.resources[0].total_hours, 2),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--obligations", type=int, default=300)
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args(argv)
    rows = run(args.seed, args.obligations, args.time_limit)
    first = rows[0]
    title = (
        f"Year plan: seed {args.seed}, {args.obligations} obligations, {first['occurrences']} steps, "
        f"{first['total_hours']} h, capacity {first['capacity_hours']} h/week"
    )
    print_table(title, rows, COLUMNS)
    write_results(rows, args.json_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
