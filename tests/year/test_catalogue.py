"""The built-in Dutch catalogue and its TOML rendering for ``va-engine init``."""

from __future__ import annotations

import tomllib
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from va_engine.catalogue import (
    BUSINESS,
    CATALOGUE,
    HOUSEHOLD,
    catalogue_obligations,
    render_obligations_toml,
)
from va_engine.obligations import EveryNWeeks, Obligation, Step, deadlines_in_year, expand

AMS = ZoneInfo("Europe/Amsterdam")


def test_sets_and_names() -> None:
    household = catalogue_obligations("household")
    business = catalogue_obligations("business")
    assert len(household) == len(HOUSEHOLD) and len(business) == len(BUSINESS)
    assert catalogue_obligations("all") == household + business
    assert catalogue_obligations("vat-return, bookkeeping") == [
        CATALOGUE["vat-return"],
        CATALOGUE["bookkeeping"],
    ]
    assert catalogue_obligations(["household", "income-tax"]) == household  # no duplicates
    with pytest.raises(ValueError, match=r"unknown obligation 'rent'.*household"):
        catalogue_obligations("rent")


def test_dutch_deadlines() -> None:
    assert deadlines_in_year(CATALOGUE["income-tax"], 2026, AMS) == [date(2026, 5, 1)]
    assert deadlines_in_year(CATALOGUE["health-insurance"], 2026, AMS) == [date(2026, 12, 31)]
    assert deadlines_in_year(CATALOGUE["vat-return"], 2026, AMS) == [
        date(2026, 1, 31),
        date(2026, 4, 30),
        date(2026, 7, 31),
        date(2026, 10, 31),
    ]
    assert len(deadlines_in_year(CATALOGUE["bookkeeping"], 2026, AMS)) == 12
    assert deadlines_in_year(CATALOGUE["birthday-gift"], 2026, AMS) == [date(2026, 3, 5)]


@pytest.mark.parametrize("year", [2026, 2027, 2028])
def test_whole_catalogue_expands_every_year(year: int) -> None:
    occurrences = expand(catalogue_obligations("all"), year, AMS)
    assert {o.obligation for o in occurrences} == {o.name for o in CATALOGUE.values()}
    assert all(o.occurrence_deadline.year == year and o.earliest <= o.deadline for o in occurrences)


def test_toml_round_trip() -> None:
    extra = [
        Obligation(
            name='Quote "this" \\ and tab\t',
            effort_hours=0.25,
            recurrence="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
        ),
        Obligation(
            name="Fortnightly",
            steps=(Step(name="a", hours=1, weeks_before_next=1), Step(name="b", hours=2)),
            recurrence=EveryNWeeks(weeks=2, weekday="mo", anchor=date(2026, 1, 5)),
            who="client",
            assistant_id="bob",
        ),
    ]
    obligations = catalogue_obligations("all") + extra
    text = render_obligations_toml(obligations)
    parsed = tomllib.loads(text)
    back = [Obligation.model_validate(item) for item in parsed["obligations"]]
    assert back == obligations
    assert render_obligations_toml([]) == ""
    assert text.count("[[obligations]]") == len(obligations)
