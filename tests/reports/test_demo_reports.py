"""The demo's closing reports on the shipped example (hoefslag), rendered into a string."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from pathlib import Path

from rich.console import Console

from tests.reports.conftest import AMS
from va_engine.cli.render import OutputFormat
from va_engine.cli.reports import load_ledger_seed, render_demo_reports
from va_engine.examples import materialise
from va_engine.settings import load_config
from va_engine.store import Store

MONDAY = date(2026, 11, 23)


def test_demo_reports_for_the_equestrian_client(tmp_path: Path) -> None:
    config = load_config(materialise(tmp_path / "config", today=MONDAY))
    now = datetime.combine(MONDAY, time(), tzinfo=AMS)
    store = Store(f"sqlite:///{tmp_path / 'demo.db'}")
    out = io.StringIO()
    try:
        data = render_demo_reports(Console(file=out, width=120), config, store, now)
        # the seed moved with the reference week: its last entry (Friday 2 January 2026,
        # before the reference Monday 5 January) is now the Friday before MONDAY
        entries = store.for_client("hoefslag").entries()
        assert entries[-1].day == MONDAY - timedelta(days=3)
        assert load_ledger_seed(config, store, today=MONDAY, now=now) == 0  # idempotent
        quiet = render_demo_reports(
            Console(file=io.StringIO()), config, store, now, fmt=OutputFormat.JSON
        )
    finally:
        store.close()
    text = out.getvalue()
    assert "Ledger: Stal De Hoefslag" in text and "Delegation report" in text
    assert "delegate fully" in text and "▇" in text
    (ledger,) = data["ledger"]["clients"]
    index = [p["index"] for p in ledger["independence"]]
    assert index[-1] > index[0]  # the example client is becoming independent
    assert {s["code"] for s in ledger["signals"]} >= {"handback", "unreachable"}
    assert data["delegation"]["source"] == "delegation.toml"
    assert quiet["ledger"]["clients"][0]["months"] == ledger["months"]  # nothing written twice


def test_demo_reports_skip_a_config_without_the_client(tmp_path: Path) -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "data" / "reports" / "config")
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        now = datetime.combine(MONDAY, time(), tzinfo=AMS)
        assert render_demo_reports(Console(file=io.StringIO()), config, store, now) == {}
    finally:
        store.close()
