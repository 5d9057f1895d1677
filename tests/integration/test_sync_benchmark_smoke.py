"""Smoke test of benchmarks/sync.py on a tiny instance (real servers, started by the runner)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.servers import ServerUnavailable

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sync.py"


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sync", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_sync"] = module
    spec.loader.exec_module(module)
    return module


def test_tiny_sync_benchmark_meets_the_round_trip_target() -> None:
    bench = load_runner()
    try:
        rows = bench.run(messages=40, events=12)
    except ServerUnavailable as exc:
        from tests.conftest import server_unavailable

        server_unavailable(str(exc))
    by_name = {row.scenario: row for row in rows}
    assert list(by_name) == ["full", "nochange", "one_percent"]
    # 2 folders + 1 collection: at most one request each when nothing changed
    assert by_name["nochange"].round_trips <= 3
    assert by_name["nochange"].detail.startswith("0 items")
    # 1 % of 40 messages / 12 events rounds up to 4 changes each, all of them seen
    assert by_name["one_percent"].detail.startswith("8 items")
