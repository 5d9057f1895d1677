"""Ledger figures over a seeded ledger (three clients, Jan–Mar 2026), against hand-worked values.

The seed is tests/data/reports/ledger-seed.toml; it is written through the
real store (SQLite and PostgreSQL) and read back, so ids, dates and contact
times make the round trip the CLI makes. ``now`` is Thursday 2026-03-12 10:00.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.reports.conftest import AMS, load_seed, seed_clients
from va_engine.ledger import (
    LedgerParams,
    boundary_signals,
    client_ledger,
    entry_for_task,
    independence,
)
from va_engine.model import LedgerEntry, Mode, SupportLevel, Task
from va_engine.store import Store

NOW = datetime(2026, 3, 12, 10, 0, tzinfo=AMS)


@pytest.fixture
def seeded(store: Store) -> Store:
    load_seed(store, NOW)
    return store


def ledger_of(store: Store, client_id: str, **kwargs: object):  # type: ignore[no-untyped-def]
    cs = store.for_client(client_id)
    return client_ledger(
        seed_clients()[client_id],
        cs.entries(),
        now=NOW,
        starts=cs.entry_starts(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_hours_per_month_split_for_and_taught(seeded: Store) -> None:
    led = ledger_of(seeded, "hoeve")
    months = {m.month: m for m in led.months}
    # Jan for: Post 60 + Facturen 60 + Belastingmap 120 = 240
    #     taught: Agenda 30 + Post 45 + Boodschappen 20 = 95
    assert (months["2026-01"].for_minutes, months["2026-01"].taught_minutes) == (240, 95)
    # Feb for: Facturen 60 + Agenda 45 = 105
    #     taught: Post 30 + agenda 30 + Post 30 + Boodschappen 10 = 100
    assert (months["2026-02"].for_minutes, months["2026-02"].taught_minutes) == (105, 100)
    # Mar for: Facturen 90 + Archief 30 + Agenda 45 + Bellen 20 + Bellen 10 = 195
    #     taught: Post 20 + Bellen weekplanning 15 = 35; the assignment (20) is the client's own
    assert (months["2026-03"].for_minutes, months["2026-03"].taught_minutes) == (195, 35)
    assert months["2026-03"].client_own_minutes == 20
    assert months["2026-03"].billable_minutes == 230
    assert led.for_minutes == 540 and led.taught_minutes == 230


def test_support_level_per_kind_moves_down_the_ladder(seeded: Store) -> None:
    levels = {t.kind: t for t in ledger_of(seeded, "hoeve").levels}
    mail = levels["mail"]
    # last entry per month: Jan 21 instruct, Feb 18 coach, Mar 11 leave_to_client
    assert mail.levels == {
        "2026-01": SupportLevel.INSTRUCT,
        "2026-02": SupportLevel.COACH,
        "2026-03": SupportLevel.LEAVE_TO_CLIENT,
    }
    assert mail.progress == 4 - 1  # leave_to_client (4) − instruct (1)
    assert levels["finance"].progress == 0
    # planning went back up the ladder: instruct (1) in Jan → take_over (0) since Feb
    assert levels["planning"].progress == -1


def test_independence_index_and_trend(seeded: Store) -> None:
    points = ledger_of(seeded, "hoeve").independence
    # Recurring (≥ 2 days): Post sorteren, Facturen, Agenda plannen (two spellings),
    # Boodschappenlijst.
    # End Jan: Post instruct, Facturen take_over, Agenda instruct, Boodschappen coach → 0/4
    # End Feb: Boodschappen leave_to_client → 1/4
    # End Mar: Post leave_to_client (assignment Mar 11) too → 2/4
    assert [(p.month, p.recurring, p.alone, p.index) for p in points] == [
        ("2026-01", 4, 0, 0.0),
        ("2026-02", 4, 1, 0.25),
        ("2026-03", 4, 2, 0.5),
    ]


def test_independence_counts_only_started_tasks() -> None:
    def e(task: str, day: date, level: SupportLevel) -> LedgerEntry:
        return LedgerEntry(
            client_id="x", task=task, day=day, minutes=10, mode=Mode.TAUGHT, level=level
        )

    entries = [
        e("a", date(2026, 1, 5), SupportLevel.LEAVE_TO_CLIENT),
        e("a", date(2026, 1, 6), SupportLevel.LEAVE_TO_CLIENT),
        e("b", date(2026, 2, 2), SupportLevel.GUIDE),
        e("b", date(2026, 2, 9), SupportLevel.GUIDE),
        e("c", date(2026, 2, 9), SupportLevel.GUIDE),  # one day only: not recurring
    ]
    points = independence(entries)
    # Jan: only a has started → 1/1; Feb: a alone, b guided → 1/2
    assert [(p.month, p.index) for p in points] == [("2026-01", 1.0), ("2026-02", 0.5)]
    assert independence(entries, LedgerParams(recurring_min_days=3)) == [
        p.model_copy(update={"recurring": 0, "alone": 0, "index": 0.0}) for p in points
    ]


def test_budget_forecast_month_retainer_not_at_risk(seeded: Store) -> None:
    budget = ledger_of(seeded, "hoeve").budget
    assert budget is not None
    # March 1–12, billable assistant work:
    # Mar 4 (20+90+30) + Mar 7 15 + Mar 9 45 + Mar 10 (20+10) = 230
    assert (budget.start, budget.end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert (budget.budget_minutes, budget.used_minutes, budget.remaining_minutes) == (960, 230, 730)
    # 230 / 12 days = 19.17 min/day; 960 / 19.17 = 50.1 days > March → no exhaustion, no warning
    assert budget.minutes_per_day == pytest.approx(19.17)
    assert budget.exhaustion is None
    assert budget.warnings == ()


def test_budget_forecast_warns_at_80_percent(seeded: Store) -> None:
    budget = ledger_of(seeded, "bakkerij").budget
    assert budget is not None
    # March: 180 + 240 + 120 = 540 billable
    # (the 60-min meeting is not billable; February is another period)
    assert budget.used_minutes == 540 and budget.share == 0.9  # 540 / 600
    # 540 / 12 = 45 min/day; 600 / 45 = 13.3 → on day 14 = 2026-03-14
    assert budget.exhaustion == date(2026, 3, 14)
    assert budget.warnings == (
        "90% of the budget used",
        "at this pace the budget runs out on 2026-03-14",
    )


def test_budget_weekly_pgb_used_up(seeded: Store) -> None:
    budget = ledger_of(seeded, "lotje").budget
    assert budget is not None
    # ISO week Mon 9 – Sun 15 March: 90 + 60 + 60 = 210 of 180; Mar 3 is last week
    assert (budget.start, budget.end) == (date(2026, 3, 9), date(2026, 3, 15))
    assert (budget.used_minutes, budget.remaining_minutes) == (210, -30)
    # running total 90, 150, 210: the budget ran out on Wednesday 11 March
    assert budget.exhaustion == date(2026, 3, 11)
    assert budget.warnings == ("budget used up (117%)",)


def test_boundary_signals(seeded: Store) -> None:
    signals = ledger_of(seeded, "hoeve").signals
    assert [(s.code, s.day, s.subject, s.minutes) for s in signals] == [
        # Jan 14: Agenda 30 + Belastingmap 120 = 150 > 120
        ("overrun", date(2026, 1, 14), "session", 30),
        # Mar 4: 20 + 90 + 30 = 140 > 120 (Jan 7: 60 + 60 = 120 is not over)
        ("overrun", date(2026, 3, 4), "session", 20),
        ("unreachable", date(2026, 3, 7), "Bellen: weekplanning", 15),  # Saturday
        # taught Jan 14 and Feb 11, done for her again Feb 25 (45) and Mar 9 (45)
        ("handback", date(2026, 3, 9), "Agenda plannen", 90),
        ("unreachable", date(2026, 3, 10), "Bellen: facturen", 20),  # 13:30, window ends 12:00
    ]
    assert "13:30–13:50" in signals[-1].detail
    # bakkerij agreed no sessions or windows; lotje's admin was never done *for* her after teaching
    assert ledger_of(seeded, "bakkerij").signals == ()
    assert ledger_of(seeded, "lotje").signals == ()


def test_contact_time_keeps_wall_clock_across_dst() -> None:
    # Summer time starts 29 March 2026; a call at 11:30 local must still be inside 09–12.
    client = seed_clients()["hoeve"]
    entry = LedgerEntry(
        client_id="hoeve",
        task="Bellen",
        day=date(2026, 3, 30),
        minutes=20,
        mode=Mode.FOR,
        kind="call",
        id=1,
    )
    start = datetime(2026, 3, 30, 11, 30, tzinfo=AMS)
    assert boundary_signals([entry], client, starts={1: start}) == []
    late = start + timedelta(minutes=15)
    assert [s.code for s in boundary_signals([entry], client, starts={1: late})] == ["unreachable"]


def test_window_and_history(seeded: Store) -> None:
    led = ledger_of(seeded, "hoeve", start=date(2026, 2, 1), end=date(2026, 2, 28))
    assert [m.month for m in led.months] == ["2026-02"]
    # the Feb index still knows January's history: 1/4
    assert [(p.month, p.index) for p in led.independence] == [("2026-02", 0.25)]
    assert led.signals == ()  # nothing in February crosses a boundary


def test_clients_are_isolated(seeded: Store) -> None:
    assert {e.client_id for e in seeded.for_client("lotje").entries()} == {"lotje"}
    with pytest.raises(ValueError, match="other clients"):
        client_ledger(seed_clients()["lotje"], seeded.for_client("hoeve").entries(), now=NOW)


def test_completed_planned_task_follows_the_support_level() -> None:
    client = seed_clients()["hoeve"].model_copy(
        update={"support_levels": {"mail": SupportLevel.COACH}}
    )
    mail = Task(id="m", title="Post", client_id="hoeve", kind="mail", duration_minutes=20)
    tax = Task(id="t", title="Aangifte", client_id="hoeve", kind="tax", duration_minutes=90)
    coached = entry_for_task(client, mail, day=date(2026, 3, 2))
    assert (coached.mode, coached.level, coached.minutes, coached.source) == (
        Mode.TAUGHT, SupportLevel.COACH, 20, "plan",
    )  # fmt: skip
    done = entry_for_task(client, tax, day=date(2026, 3, 2), minutes=75, source="workflow")
    assert (done.mode, done.level, done.minutes) == (Mode.FOR, SupportLevel.TAKE_OVER, 75)
    with pytest.raises(ValueError, match="belongs to"):
        entry_for_task(client, mail.model_copy(update={"client_id": "lotje"}), day=date(2026, 3, 2))
