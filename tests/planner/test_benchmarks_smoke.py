"""Smoke test: the benchmark runners work end to end on one tiny instance (not a speed test)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "planner"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.slow
def test_wt_runner_writes_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wt = _load("wt")
    out = tmp_path / "wt.json"
    args = [
        "--instances",
        str(DATA / "wt40_first.txt"),
        "--optimal",
        str(DATA / "wt40_first_opt.txt"),
    ]
    assert wt.main([*args, "--time-limit", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert {r["solver"] for r in rows} == {"ours", "greedy"}
    for row in rows:
        assert row["best_known"] == 63229
        assert row["objective"] >= row["best_known"]  # never better than the proven optimum
        assert not str(row["status"]).startswith("INVALID")
    assert "wt40 summary" in capsys.readouterr().out


@pytest.mark.slow
def test_va_week_runner_is_seeded_and_valid(tmp_path: Path) -> None:
    va_week = _load("va_week")
    assert va_week.generate(3, 20, 2, 4) == va_week.generate(3, 20, 2, 4)
    out = tmp_path / "week.json"
    argv = [
        "--seed",
        "3",
        "--tasks",
        "20",
        "--assistants",
        "2",
        "--visits",
        "4",
        "--time-limit",
        "1",
    ]
    assert va_week.main([*argv, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["solver"] for r in rows] == ["ours", "greedy"]
    assert all(not str(r["status"]).startswith("INVALID") for r in rows)
    assert rows[0]["objective"] <= rows[1]["objective"]


def test_va_week_visit_windows_lie_inside_the_clients_reachability() -> None:
    va_week = _load("va_week")
    problem = va_week.generate(1, 300, 5, 50)
    clients = {c.id: c for c in problem.clients}
    windowed = [t for t in problem.tasks if t.location is not None and t.windows]
    assert len(windowed) > 20
    for t in windowed:
        reach = clients[t.client_id].agreement.reachability
        for w in t.windows:
            start, end = w.start.astimezone(va_week.AMS), w.end.astimezone(va_week.AMS)
            assert any(
                r.weekday == start.weekday() and r.start <= start.time() and end.time() <= r.end
                for r in reach
            ), (t.id, w)


@pytest.mark.slow
def test_visit_days_runner_compares_two_valid_strategies(tmp_path: Path) -> None:
    visit_days = _load("visit_days")
    out = tmp_path / "days.json"
    argv = ["--seeds", "1", "--visits", "6", "--time-limit", "1", "--json", str(out)]
    assert visit_days.main(argv) == 0
    rows = json.loads(out.read_text())
    assert [r["solver"] for r in rows] == ["integrated", "routing-first"]
    assert all(not str(r["status"]).startswith("INVALID") for r in rows)
    assert all(r["visits_planned"] > 0 for r in rows)
