"""The rich year view renders the plan; the benchmark runner works on a tiny instance."""

from __future__ import annotations

import importlib.util
import json
import sys
from io import StringIO
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

from rich.console import Console

from va_engine.catalogue import catalogue_obligations
from va_engine.cli.year_view import render_year
from va_engine.model import Client
from va_engine.obligations import Obligation, Yearly, expand
from va_engine.planner.year import plan_year, public_holidays

AMS = ZoneInfo("Europe/Amsterdam")
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "year.py"


def render(plan: object) -> str:
    out = StringIO()
    render_year(plan, Console(file=out, width=100, color_system=None))  # type: ignore[arg-type]
    return out.getvalue()


def test_render_year_heat_map_items_and_summary() -> None:
    client = Client(id="bakker", name="Bakker")
    obligations = [
        *catalogue_obligations("business"),
        Obligation(name="Impossible", effort_hours=80, recurrence=Yearly(month=6, day=1)),
    ]
    occurrences = expand(obligations, 2026, AMS, client=client)
    plan = plan_year(
        occurrences, {"assistant": 6}, year=2026, holidays=public_holidays("NL", [2025, 2026])
    )
    text = render(plan)
    lines = text.splitlines()
    heat = next(line for line in lines if line.startswith("assistant "))
    assert len(heat) == len("assistant ") + len(plan.weeks)  # one cell per week
    marks = lines[lines.index(heat) + 1]
    assert marks.count("▲") == sum(1 for w in plan.resources[0].weeks if w.deadlines)
    assert "VAT return" in text and "2026-W" in text
    assert "Not planned" in text and "Impossible" in text
    assert (
        f"Peak {plan.peak_hours:.1f} h/week against a lower bound of {plan.bound_hours:.1f} h"
        in text
    )
    summary = plan.summary()
    assert summary["unplanned"] == 1 and summary["planned"] == len(plan.placements)
    assert json.loads(json.dumps(summary)) == summary
    # Wider than the console is never wrapped into a second heat-map line.
    assert all(len(line) <= 100 for line in lines)


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_year", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_year"] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_runner_on_a_tiny_instance(tmp_path: Path) -> None:
    bench = load_bench()
    out = tmp_path / "year.json"
    assert (
        bench.main(["--seed", "3", "--obligations", "12", "--time-limit", "2", "--json", str(out)])
        == 0
    )
    rows = json.loads(out.read_text())
    assert [r["solver"] for r in rows] == ["ours", "at_deadline", "asap"]
    for row in rows:
        assert {
            "solver",
            "peak_hours",
            "bound_hours",
            "weeks_over_capacity",
            "missed_deadlines",
            "seconds",
        } <= set(row)
        assert row["peak_hours"] >= row["bound_hours"] - 1e-9
    ours = rows[0]
    assert ours["missed_deadlines"] == 0 and ours["weeks_over_capacity"] == 0
    assert ours["peak_hours"] <= min(r["peak_hours"] for r in rows[1:])


def test_short_time_limit_still_returns_a_plan() -> None:
    bench = load_bench()
    occurrences = bench.generate(5, 120)
    plan = plan_year(occurrences, {"assistant": 40}, year=2026, time_limit_s=0.3)
    assert len(plan.placements) + len(plan.unplanned) == len(occurrences)
    assert plan.weeks_over_capacity == 0
    assert plan.peak_hours >= plan.bound_hours - 1e-9
