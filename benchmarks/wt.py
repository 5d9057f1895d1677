"""OR-Library single-machine total weighted tardiness (wt40) through va-engine's planner.

Each instance becomes a PlanningProblem with one assistant who is available
around the clock (no working hours), a horizon of exactly the total processing
time (1 time unit = 1 minute, so there is no idle time), and 40 tasks released
at the start with their weights and (soft) due dates. Our ``plan()`` and the
greedy baseline are run on the same problem; the weighted tardiness is
recomputed from the returned blocks, not taken from the solver.

    python benchmarks/wt.py --instances ../shared/bench/wt/wt40.txt \
        --optimal ../shared/bench/wt/wt40_opt.txt --first 10 --time-limit 10 --json OUT
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import gap_pct, print_table, write_results

from va_engine.model import Assistant, Plan, PlanningProblem, Task
from va_engine.planner import PlanLimits, greedy_plan, plan, validate_plan

ORIGIN = datetime(2024, 1, 1, tzinfo=UTC)


def read_instances(path: Path, n: int = 40) -> list[tuple[list[int], list[int], list[int]]]:
    numbers = [int(x) for x in path.read_text().split()]
    size = 3 * n
    if len(numbers) % size:
        raise SystemExit(f"{path}: {len(numbers)} numbers is not a multiple of {size}")
    out = []
    for k in range(0, len(numbers), size):
        chunk = numbers[k : k + size]
        out.append((chunk[:n], chunk[n : 2 * n], chunk[2 * n :]))
    return out


def build(p: list[int], w: list[int], d: list[int]) -> PlanningProblem:
    tasks = tuple(
        Task(
            id=f"j{i + 1}",
            title=f"job {i + 1}",
            duration_minutes=p[i],
            weight=w[i],
            release=ORIGIN,
            deadline=ORIGIN + timedelta(minutes=d[i]),
        )
        for i in range(len(p))
    )
    return PlanningProblem(
        start=ORIGIN,
        end=ORIGIN + timedelta(minutes=sum(p)),
        assistants=(Assistant(id="m", name="machine", timezone="UTC"),),
        tasks=tasks,
    )


def weighted_tardiness(problem: PlanningProblem, result: Plan) -> int | None:
    if result.unplanned:
        return None
    total = 0
    for task in problem.tasks:
        assert task.deadline is not None
        end = max(b.end for b in result.blocks if b.task_id == task.id)
        total += task.weight * max(0, int((end - task.deadline).total_seconds() // 60))
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=Path, required=True)
    parser.add_argument("--optimal", type=Path, required=True)
    parser.add_argument("--first", type=int, default=None)
    parser.add_argument(
        "--only", type=int, nargs="*", default=None, help="1-based instance numbers"
    )
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    instances = read_instances(args.instances)
    optima = [int(x) for x in args.optimal.read_text().split()]
    numbers = list(range(1, len(instances) + 1))
    if args.only:
        numbers = args.only
    elif args.first:
        numbers = numbers[: args.first]
    rows: list[dict[str, object]] = []
    for number in numbers:
        p, w, d = instances[number - 1]
        problem = build(p, w, d)
        best = optima[number - 1]
        for solver in ("ours", "greedy"):
            started = time.perf_counter()
            if solver == "ours":
                result = plan(
                    problem,
                    PlanLimits(time_limit_s=args.time_limit, workers=args.workers),
                    now=ORIGIN,
                )
            else:
                result = greedy_plan(problem, now=ORIGIN)
            seconds = time.perf_counter() - started
            violations = validate_plan(problem, result)
            objective = weighted_tardiness(problem, result)
            rows.append(
                {
                    "instance": f"wt40-{number:03d}",
                    "solver": solver,
                    "objective": objective,
                    "best_known": best,
                    "gap_pct": gap_pct(objective, best),
                    "seconds": round(seconds, 2),
                    "status": result.status.value
                    if not violations
                    else f"INVALID ({len(violations)})",
                }
            )
        print(
            f"wt40-{number:03d}: ours {rows[-2]['objective']} greedy {rows[-1]['objective']} opt {best} ({rows[-2]['seconds']} s)",
            flush=True,
        )
    print_table(
        "wt40 total weighted tardiness",
        rows,
        ["instance", "solver", "objective", "best_known", "gap_pct", "seconds", "status"],
    )
    summary = []
    for solver in ("ours", "greedy"):
        mine = [r for r in rows if r["solver"] == solver]
        gaps = [float(r["gap_pct"]) for r in mine if r["gap_pct"] is not None]  # type: ignore[arg-type]
        summary.append(
            {
                "solver": solver,
                "instances": len(mine),
                "optimal": sum(1 for g in gaps if g <= 1e-9),
                "within_1pct": sum(1 for g in gaps if g <= 1.0),
                "mean_gap_pct": statistics.fmean(gaps) if gaps else None,
                "max_gap_pct": max(gaps) if gaps else None,
                "mean_seconds": statistics.fmean(float(r["seconds"]) for r in mine),  # type: ignore[arg-type]
            }
        )
    print_table(
        "wt40 summary",
        summary,
        [
            "solver",
            "instances",
            "optimal",
            "within_1pct",
            "mean_gap_pct",
            "max_gap_pct",
            "mean_seconds",
        ],
    )
    write_results(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
