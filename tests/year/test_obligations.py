"""Recurrence expansion: RRULE and friendly forms, 29 February, year boundaries, DST."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from va_engine.model import Client, SupportLevel
from va_engine.obligations import (
    EveryNWeeks,
    Monthly,
    Obligation,
    Quarterly,
    Step,
    Yearly,
    deadlines_in_year,
    expand,
    resolve_who,
)

AMS = ZoneInfo("Europe/Amsterdam")


def ob(recurrence: object, **kw: object) -> Obligation:
    return Obligation.model_validate(
        {"name": "thing", "effort_hours": 1.0, "recurrence": recurrence, **kw}
    )


def test_rrule_string_and_friendly_yearly_agree() -> None:
    raw = ob("FREQ=YEARLY;BYMONTH=5;BYMONTHDAY=1")
    prefixed = ob("RRULE:FREQ=YEARLY;BYMONTH=5;BYMONTHDAY=1")
    friendly = ob({"every": "year", "month": 5, "day": 1})
    assert deadlines_in_year(raw, 2026, AMS) == [date(2026, 5, 1)]
    assert deadlines_in_year(prefixed, 2026, AMS) == [date(2026, 5, 1)]
    assert deadlines_in_year(friendly, 2026, AMS) == [date(2026, 5, 1)]


def test_quarterly_vat_is_end_of_month_after_quarter() -> None:
    vat = ob(Quarterly(months_after=1, day=-1))
    assert deadlines_in_year(vat, 2026, AMS) == [
        date(2026, 1, 31),
        date(2026, 4, 30),
        date(2026, 7, 31),
        date(2026, 10, 31),
    ]
    # The same quarter ends, without the month's delay.
    at_end = ob(Quarterly(months_after=0, day=-1))
    assert deadlines_in_year(at_end, 2026, AMS) == [
        date(2026, 3, 31),
        date(2026, 6, 30),
        date(2026, 9, 30),
        date(2026, 12, 31),
    ]


def test_monthly_day_31_clamps_to_month_end() -> None:
    got = deadlines_in_year(ob(Monthly(day=31)), 2026, AMS)
    assert len(got) == 12
    assert date(2026, 2, 28) in got and date(2026, 4, 30) in got and date(2026, 1, 31) in got
    assert date(2028, 2, 29) in deadlines_in_year(ob(Monthly(day=31)), 2028, AMS)
    assert deadlines_in_year(ob(Monthly(day=15)), 2026, AMS) == [
        date(2026, m, 15) for m in range(1, 13)
    ]


def test_every_n_weeks_keeps_weekday_and_spacing() -> None:
    got = deadlines_in_year(
        ob(EveryNWeeks(weeks=2, weekday="fr", anchor=date(2026, 1, 5))), 2026, AMS
    )
    assert got[0] == date(2026, 1, 9)
    assert all(d.weekday() == 4 for d in got)
    assert all((b - a).days == 14 for a, b in itertools.pairwise(got))
    assert len(got) == 26


def test_feb_29_friendly_falls_back_rrule_skips() -> None:
    birthday = ob(Yearly(month=2, day=29))
    assert deadlines_in_year(birthday, 2028, AMS) == [date(2028, 2, 29)]
    assert deadlines_in_year(birthday, 2026, AMS) == [date(2026, 2, 28)]
    strict = ob("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29")
    assert deadlines_in_year(strict, 2026, AMS) == []
    assert deadlines_in_year(strict, 2028, AMS) == [date(2028, 2, 29)]


def test_year_boundary_lead_time_reaches_into_december() -> None:
    early = ob(Yearly(month=1, day=8), start_weeks_before=4)
    (occ,) = expand([early], 2027, AMS)
    assert occ.deadline == date(2027, 1, 8)
    assert occ.earliest == date(2026, 12, 11)
    # Membership is by deadline: the 2026 plan holds only the 2026 occurrence.
    assert [o.deadline for o in expand([early], 2026, AMS)] == [date(2026, 1, 8)]


def test_negative_offset_moves_deadline_into_previous_year() -> None:
    gift = ob(Yearly(month=1, day=3), offset_days=-7)
    assert deadlines_in_year(gift, 2026, AMS) == [date(2026, 12, 27)]
    assert deadlines_in_year(gift, 2027, AMS) == [date(2027, 12, 27)]


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)]
)
def test_due_is_end_of_local_day_across_dst(day: date, hours: int) -> None:
    (occ,) = expand([ob(Yearly(month=day.month, day=day.day))], 2026, AMS)
    assert occ.due == datetime(day.year, day.month, day.day, tzinfo=AMS) + timedelta(days=1)
    start_of_day = datetime(day.year, day.month, day.day, tzinfo=AMS)
    assert (occ.due.astimezone(ZoneInfo("UTC")) - start_of_day.astimezone(ZoneInfo("UTC"))) == (
        timedelta(hours=hours)
    )


def test_dtstart_in_utc_is_read_as_local_date() -> None:
    late = ob("DTSTART:20260101T233000Z\nRRULE:FREQ=MONTHLY;COUNT=12")
    ams = deadlines_in_year(late, 2026, AMS)
    utc = deadlines_in_year(late, 2026, ZoneInfo("UTC"))
    assert utc[:3] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    # 23:30 UTC is already the next day in Amsterdam, in winter (+1) and summer (+2).
    assert ams[:3] == [date(2026, 1, 2), date(2026, 2, 2), date(2026, 3, 2)]
    assert date(2026, 7, 2) in ams


def test_dtstart_with_tzid_weekly_across_dst() -> None:
    rule = ob("DTSTART;TZID=Europe/Amsterdam:20260305T090000\nRRULE:FREQ=WEEKLY;COUNT=6")
    got = deadlines_in_year(rule, 2026, AMS)
    assert got == [date(2026, 3, 5) + timedelta(weeks=i) for i in range(6)]


@pytest.mark.parametrize(
    "bad",
    [
        "FREQ=BOGUS",
        "FREQ=YEARLY;BYMONTH=13",
        "",
        "FREQ=HOURLY",
        "FREQ=MONTHLY;BYMONTHDAY=x",
        "nonsense",
        "BYMONTH=5",
    ],
)
def test_invalid_rrule_names_the_obligation(bad: str) -> None:
    with pytest.raises(ValueError, match="obligation 'VAT Q': invalid recurrence"):
        Obligation(name="VAT Q", effort_hours=1, recurrence=bad)


def test_model_rules() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Obligation(name="x", effort_hours=1, steps=(Step(name="a", hours=1),), recurrence=Monthly())
    with pytest.raises(ValidationError, match="effort_hours or a list of steps"):
        Obligation(name="x", recurrence=Monthly())
    with pytest.raises(ValidationError, match="lead times add up to 5 weeks"):
        Obligation(
            name="x",
            steps=(Step(name="a", hours=1, weeks_before_next=5), Step(name="b", hours=1)),
            recurrence=Monthly(),
            start_weeks_before=4,
        )
    with pytest.raises(ValidationError, match="extra"):
        Obligation.model_validate(
            {"name": "x", "effort_hours": 1, "recurrence": "FREQ=DAILY", "typo": 1}
        )
    with pytest.raises(ValidationError, match="no such day"):
        Yearly(month=4, day=31)
    with pytest.raises(ValidationError):
        ob({"every": "fortnight"})


def test_steps_windows_follow_lead_times() -> None:
    tax = Obligation(
        name="Income tax",
        steps=(
            Step(name="collect", hours=2, weeks_before_next=3),
            Step(name="check", hours=1, weeks_before_next=1),
            Step(name="file", hours=3),
        ),
        recurrence=Yearly(month=5, day=1),
        start_weeks_before=9,
    )
    collect, check, file = expand([tax], 2026, AMS)
    deadline = date(2026, 5, 1)
    assert (collect.index, check.index, file.index) == (0, 1, 2)
    assert {o.group for o in (collect, check, file)} == {"income-tax/2026-05-01"}
    assert collect.earliest == deadline - timedelta(weeks=9)
    assert collect.deadline == deadline - timedelta(weeks=4)
    assert check.earliest == deadline - timedelta(weeks=6)
    assert check.deadline == deadline - timedelta(weeks=1)
    assert file.earliest == deadline - timedelta(weeks=5)
    assert file.deadline == deadline
    assert file.title == "Income tax: file"
    assert len({o.id for o in (collect, check, file)}) == 3


def test_support_level_leave_to_client_means_client_does_it() -> None:
    gift = ob(Yearly(month=3, day=1), kind="gifts")
    client = Client(
        id="lotte", name="Lotte", support_levels={"gifts": SupportLevel.LEAVE_TO_CLIENT}
    )
    other = Client(id="sanne", name="Sanne", support_levels={"gifts": SupportLevel.COACH})
    assert resolve_who(gift, client) == "client"
    assert resolve_who(gift, other) == "assistant"
    (occ,) = expand([gift], 2026, AMS, client=client)
    assert (occ.who, occ.resource, occ.client_id) == ("client", "client:lotte", "lotte")
    assert occ.id.startswith("lotte/")


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        expand([ob(Monthly()), ob(Monthly())], 2026, AMS)
