"""Public holidays, vacations and no-contact periods shape weekly capacity."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from va_engine.model import Client
from va_engine.obligations import Obligation, Yearly, expand
from va_engine.planner.year import Period, monday, plan_year, public_holidays

AMS = ZoneInfo("Europe/Amsterdam")


def test_dutch_holidays_from_the_package() -> None:
    nl = public_holidays("NL", [2026])
    assert date(2026, 4, 27) in nl  # King's Day
    assert date(2026, 12, 25) in nl
    assert date(2026, 7, 21) not in nl
    be = public_holidays("BE", [2026])
    assert date(2026, 7, 21) in be  # Belgian national day


def test_two_holidays_leave_three_fifths_of_capacity() -> None:
    occurrences = expand(
        [Obligation(name="x", effort_hours=1, recurrence=Yearly(month=3, day=1))], 2025, AMS
    )
    plan = plan_year(
        occurrences, {"assistant": 40}, year=2025, holidays=public_holidays("NL", [2025])
    )
    weeks = {w.week: w for w in plan.resources[0].weeks}
    christmas = weeks[date(2025, 12, 22)]  # Thu 25 and Fri 26 December
    assert christmas.capacity == pytest.approx(24.0)
    assert christmas.workdays == 3
    assert len(christmas.holidays) == 2
    # Easter Monday (21 April) costs a day; King's Day on Saturday 26 April costs none.
    easter = weeks[monday(date(2025, 4, 26))]
    assert easter.capacity == pytest.approx(32.0)
    assert (easter.workdays, len(easter.holidays)) == (4, 2)
    assert weeks[date(2025, 6, 9)].capacity == pytest.approx(32.0)  # Whit Monday


def test_country_per_client_changes_capacity() -> None:
    occurrences = expand(
        [Obligation(name="x", effort_hours=1, recurrence=Yearly(month=3, day=1))], 2026, AMS
    )
    nl = plan_year(
        occurrences, {"assistant": 40}, year=2026, holidays=public_holidays("NL", [2026])
    )
    be = plan_year(
        occurrences, {"assistant": 40}, year=2026, holidays=public_holidays("BE", [2026])
    )
    week = date(2026, 7, 20)
    assert {w.week: w.capacity for w in nl.resources[0].weeks}[week] == pytest.approx(40.0)
    assert {w.week: w.capacity for w in be.resources[0].weeks}[week] == pytest.approx(32.0)


def test_holiday_weeks_are_avoided_when_capacity_is_short() -> None:
    # Four 7 h items due Friday 8 Jan 2027, allowed from 11 December; 8 h/week means one item
    # per week, but Christmas week (Fri 25 Dec) and New Year's week (Fri 1 Jan) keep 6.4 h.
    items = [
        Obligation(
            name=f"item {i}",
            effort_hours=7,
            recurrence=Yearly(month=1, day=8),
            start_weeks_before=4,
        )
        for i in range(4)
    ]
    occurrences = expand(items, 2027, AMS)
    plan = plan_year(
        occurrences, {"assistant": 8}, year=2027, holidays=public_holidays("NL", [2026, 2027])
    )
    weeks = sorted(p.week for p in plan.placements)
    assert weeks == [date(2026, 12, 7), date(2026, 12, 14), date(2027, 1, 4)]
    assert len(plan.unplanned) == 1  # three usable weeks for four items
    assert plan.unplanned[0].code == "capacity"


def test_vacation_blocks_weeks_and_reports_when_nothing_is_left() -> None:
    items = [
        Obligation(
            name="Inside", effort_hours=2, recurrence=Yearly(month=8, day=7), start_weeks_before=1
        ),
        Obligation(
            name="Around", effort_hours=2, recurrence=Yearly(month=8, day=21), start_weeks_before=3
        ),
    ]
    occurrences = expand(items, 2026, AMS)
    vacation = Period(start=date(2026, 7, 27), end=date(2026, 8, 14), label="summer")
    plan = plan_year(occurrences, {"assistant": 20}, year=2026, vacations={"assistant": [vacation]})
    (left,) = plan.unplanned
    assert left.occurrence.obligation == "Inside"
    assert left.code == "no_capacity"
    assert "vacation" in left.reason
    (placed,) = plan.placements
    assert placed.week == date(2026, 8, 17)
    weeks = {w.week: w for w in plan.resources[0].weeks}
    assert weeks[date(2026, 8, 3)].capacity == 0
    # A vacation of someone else does not touch this assistant.
    other = plan_year(occurrences, {"assistant": 20}, year=2026, vacations={"bob": [vacation]})
    assert not other.unplanned


def test_no_contact_blocks_only_work_that_needs_the_client() -> None:
    client = Client(id="lotte", name="Lotte")
    items = [
        Obligation(
            name="Collect papers",
            effort_hours=1,
            recurrence=Yearly(month=9, day=25),
            start_weeks_before=3,
            needs_client=True,
        ),
        Obligation(
            name="Desk work",
            effort_hours=1,
            recurrence=Yearly(month=9, day=25),
            start_weeks_before=3,
        ),
    ]
    occurrences = expand(items, 2026, AMS, client=client)
    away = {
        "lotte": [(date(2026, 8, 31), date(2026, 9, 13)), (date(2026, 9, 21), date(2026, 9, 25))]
    }
    plan = plan_year(occurrences, {"assistant": 20}, year=2026, no_contact=away)
    assert plan.week_of("lotte/collect-papers/2026-09-25#1") == date(2026, 9, 14)
    assert plan.week_of("lotte/desk-work/2026-09-25#1") == date(2026, 8, 31)  # earliest week
    fully_away = {"lotte": [(date(2026, 8, 1), date(2026, 9, 30))]}
    blocked = plan_year(occurrences, {"assistant": 20}, year=2026, no_contact=fully_away)
    (left,) = blocked.unplanned
    assert left.code == "no_contact"


def test_period_validation() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Period(start=date(2026, 2, 1), end=date(2026, 1, 1))
