from __future__ import annotations

import tomllib
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from va_engine.ledger import parse_seed
from va_engine.model import Agreement, Client, DayWindow
from va_engine.store import Store

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"
AMS = ZoneInfo("Europe/Amsterdam")


def seed_data() -> dict[str, object]:
    return tomllib.loads((DATA / "ledger-seed.toml").read_text())


def seed_clients() -> dict[str, Client]:
    """The agreements the hand-worked figures in test_ledger.py assume."""
    weekdays = tuple(DayWindow(weekday=d, start=time(9), end=time(12)) for d in range(5))
    return {
        "hoeve": Client(
            id="hoeve",
            name="Familie Hoeve",
            agreement=Agreement(
                hours_per_period=16, period="month", session_minutes=120, reachability=weekdays
            ),
        ),
        "bakkerij": Client(
            id="bakkerij",
            name="Bakkerij Brood",
            agreement=Agreement(hours_per_period=10, period="month", hourly_rate=45),
        ),
        "lotje": Client(
            id="lotje",
            name="Lotje Smit",
            agreement=Agreement(hours_per_period=3, period="week"),
        ),
    }


def load_seed(store: Store, now: datetime) -> None:
    """Write the seeded ledger through the real store, contact times included."""
    for entry, start in parse_seed(seed_data(), tz=AMS):
        cs = store.for_client(entry.client_id)
        entry_id = cs.add_entry(entry, actor="seed", now=now)
        assert entry_id is not None
        if start is not None:
            cs.set_entry_start(entry_id, start)
