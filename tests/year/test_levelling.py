"""Levelling: deadlines met when feasible, peak optimal (by brute force), bad input reported."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from va_engine.model import Client, PlanStatus, SupportLevel
from va_engine.obligations import Obligation, ObligationOccurrence, Step, Yearly, expand
from va_engine.planner.year import YearPlan, baseline_year, monday, plan_year, week_tasks

AMS = ZoneInfo("Europe/Amsterdam")


def check_plan(
    plan: YearPlan, occurrences: Sequence[ObligationOccurrence], capacity: Mapping[str, float]
) -> None:
    """Every placed step in its window, steps in order with their lead times, capacity respected."""
    weeks = {p.occurrence.id: p.week for p in plan.placements}
    for p in plan.placements:
        occ = p.occurrence
        assert monday(occ.earliest) <= p.week <= monday(occ.deadline), occ.id
    for occ in occurrences:
        if occ.index and occ.id in weeks:
            before = f"{occ.group}#{occ.index}"
            gap = next(o.weeks_before_next for o in occurrences if o.id == before)
            assert weeks[occ.id] >= weeks[before] + timedelta(weeks=gap)
    for resource in plan.resources:
        for week in resource.weeks:
            if resource.resource in capacity:
                assert week.hours <= capacity[resource.resource] + 1e-9
    placed = {p.occurrence.id for p in plan.placements}
    unplaced = {u.occurrence.id for u in plan.unplanned}
    assert placed | unplaced == {o.id for o in occurrences}
    assert not placed & unplaced


def brute_force_peak(occurrences: Sequence[ObligationOccurrence], capacity: float) -> float | None:
    """Smallest achievable peak over every assignment of steps to weeks (None: infeasible)."""
    domains = [
        [
            monday(o.earliest) + timedelta(weeks=i)
            for i in range((monday(o.deadline) - monday(o.earliest)).days // 7 + 1)
        ]
        for o in occurrences
    ]
    position = {o.id: i for i, o in enumerate(occurrences)}
    best: float | None = None
    for choice in itertools.product(*domains):
        ok = True
        for i, occ in enumerate(occurrences):
            if occ.index:
                j = position[f"{occ.group}#{occ.index}"]
                if choice[i] < choice[j] + timedelta(weeks=occurrences[j].weeks_before_next):
                    ok = False
                    break
        if not ok:
            continue
        load: dict[date, float] = {}
        for occ, week in zip(occurrences, choice, strict=True):
            load[week] = load.get(week, 0.0) + occ.hours
        peak = max(load.values())
        if peak <= capacity + 1e-9 and (best is None or peak < best):
            best = peak
    return best


def brute_force_kept_hours(occurrences: Sequence[ObligationOccurrence], capacity: float) -> float:
    """Most hours of whole occurrences that fit at all (the best partial plan)."""
    groups: dict[str, list[ObligationOccurrence]] = {}
    for occ in occurrences:
        groups.setdefault(occ.group, []).append(occ)
    options: list[list[list[tuple[date, float]] | None]] = []
    for steps in groups.values():
        choices: list[list[tuple[date, float]] | None] = [None]
        domains = [
            [
                monday(o.earliest) + timedelta(weeks=i)
                for i in range((monday(o.deadline) - monday(o.earliest)).days // 7 + 1)
            ]
            for o in steps
        ]
        for combo in itertools.product(*domains):
            if all(
                combo[i + 1] >= combo[i] + timedelta(weeks=steps[i].weeks_before_next)
                for i in range(len(steps) - 1)
            ):
                choices.append([(w, o.hours) for w, o in zip(combo, steps, strict=True)])
        options.append(choices)
    best = 0.0
    for pick in itertools.product(*options):
        load: dict[date, float] = {}
        for chosen in pick:
            for week, hours in chosen or ():
                load[week] = load.get(week, 0.0) + hours
        if all(v <= capacity + 1e-9 for v in load.values()):
            best = max(best, sum(load.values()))
    return best


def random_instance(seed: int) -> list[Obligation]:
    """5–8 small items due within two weeks of October 2026, windows of 0–2 weeks."""
    rng = random.Random(seed)
    obligations = []
    steps = 0
    for k in range(rng.randint(5, 8)):
        base = date(2026, 10, 5) + timedelta(days=rng.randint(0, 11))
        window = rng.randint(0, 2)
        rule = Yearly(month=base.month, day=base.day)
        if steps < 7 and rng.random() < 0.25:
            lead = rng.randint(0, 1)
            obligations.append(
                Obligation(
                    name=f"o{k}",
                    steps=(
                        Step(name="a", hours=rng.choice([0.5, 1.0]), weeks_before_next=lead),
                        Step(name="b", hours=rng.choice([0.5, 1.0, 1.5])),
                    ),
                    recurrence=rule,
                    start_weeks_before=window + lead,
                )
            )
            steps += 2
        else:
            hours = rng.choice([0.5, 1.0, 1.5, 2.0])
            obligations.append(
                Obligation(
                    name=f"o{k}", effort_hours=hours, recurrence=rule, start_weeks_before=window
                )
            )
            steps += 1
        if steps >= 9:
            break
    return obligations


@pytest.mark.parametrize("seed", range(30))
def test_peak_equals_brute_force_optimum(seed: int) -> None:
    occurrences = expand(random_instance(seed), 2026, AMS)
    assert len(occurrences) <= 10
    capacity = random.Random(seed).choice([2.5, 3.0, 4.0, 100.0])
    optimum = brute_force_peak(occurrences, capacity)
    plan = plan_year(occurrences, {"assistant": capacity}, year=2026, time_limit_s=5)
    check_plan(plan, occurrences, {"assistant": capacity})
    if optimum is None:
        # Infeasible as a whole: reported, and the partial plan keeps the most work possible.
        assert plan.unplanned
        assert all(u.code == "capacity" and u.reason for u in plan.unplanned)
        kept = sum(p.occurrence.hours for p in plan.placements)
        assert kept == pytest.approx(brute_force_kept_hours(occurrences, capacity))
        return
    assert not plan.unplanned, "a deadline was missed although the brute force found a plan"
    assert plan.status is PlanStatus.OPTIMAL
    assert plan.peak_hours == pytest.approx(optimum)
    assert plan.bound_hours <= plan.peak_hours + 1e-9


def same_week_pile(n: int, hours: float, window: int) -> list[Obligation]:
    return [
        Obligation(
            name=f"task {i}",
            effort_hours=hours,
            recurrence=Yearly(month=10, day=16),
            start_weeks_before=window,
        )
        for i in range(n)
    ]


def test_deadline_forced_bound_is_reached() -> None:
    # Eight 2 h items due Friday 16 Oct 2026, each may start 3 weeks earlier: 4 weeks, 16 h.
    occurrences = expand(same_week_pile(8, 2.0, 3), 2026, AMS)
    plan = plan_year(occurrences, {"assistant": 40}, year=2026)
    assert plan.bound_hours == pytest.approx(4.0)
    assert plan.peak_hours == pytest.approx(plan.bound_hours)
    naive = baseline_year(occurrences, {"assistant": 40}, year=2026, rule="at_deadline")
    assert naive.peak_hours == pytest.approx(16.0)
    assert plan.resources[0].total_hours == pytest.approx(16.0)


def test_earlier_weeks_preferred_when_peak_is_equal() -> None:
    (occ,) = expand(same_week_pile(1, 2.0, 3), 2026, AMS)
    plan = plan_year([occ], {"assistant": 40}, year=2026)
    assert plan.week_of(occ.id) == monday(occ.earliest)


def test_steps_respect_lead_time_and_order() -> None:
    tax = Obligation(
        name="Income tax",
        steps=(Step(name="collect", hours=2, weeks_before_next=3), Step(name="file", hours=3)),
        recurrence=Yearly(month=5, day=1),
        start_weeks_before=5,
    )
    occurrences = expand([tax], 2026, AMS)
    # A pile of other work due in the same window pushes the steps around.
    occurrences += expand(same_week_pile(4, 3.0, 4)[:4], 2026, AMS)
    plan = plan_year(occurrences, {"assistant": 6}, year=2026)
    check_plan(plan, occurrences, {"assistant": 6})
    collect = plan.week_of("income-tax/2026-05-01#1")
    file = plan.week_of("income-tax/2026-05-01#2")
    assert collect is not None and file is not None
    assert file - collect >= timedelta(weeks=3)


def test_capacity_conflict_reports_reason_and_keeps_the_rest() -> None:
    # Two 6 h items in one possible week with 8 h capacity: one must go.
    important = Obligation(
        name="VAT",
        effort_hours=6,
        recurrence=Yearly(month=10, day=16),
        start_weeks_before=0,
        priority=9,
    )
    minor = Obligation(
        name="Archive", effort_hours=6, recurrence=Yearly(month=10, day=15), start_weeks_before=0
    )
    other = Obligation(name="Gift", effort_hours=1, recurrence=Yearly(month=11, day=20))
    occurrences = expand([important, minor, other], 2026, AMS)
    plan = plan_year(occurrences, {"assistant": 8}, year=2026, time_limit_s=5)
    check_plan(plan, occurrences, {"assistant": 8})
    (left,) = plan.unplanned
    assert left.occurrence.obligation == "Archive"
    assert left.code == "capacity"
    assert "Archive" in left.reason and "capacity" in left.reason
    assert {p.occurrence.obligation for p in plan.placements} == {"VAT", "Gift"}


def test_step_too_big_for_any_week_is_reported() -> None:
    huge = Obligation(name="Annual accounts", effort_hours=30, recurrence=Yearly(month=5, day=31))
    fine = Obligation(name="Small", effort_hours=1, recurrence=Yearly(month=5, day=31))
    occurrences = expand([huge, fine], 2026, AMS)
    plan = plan_year(occurrences, {"assistant": 24}, year=2026)
    (left,) = plan.unplanned
    assert left.code == "too_big"
    assert "30.0 h" in left.reason and "24.0 h" in left.reason
    assert [p.occurrence.obligation for p in plan.placements] == ["Small"]


def test_overdue_when_now_is_past_the_deadline() -> None:
    occurrences = expand(
        [
            Obligation(name="Early", effort_hours=1, recurrence=Yearly(month=2, day=1)),
            Obligation(name="Late", effort_hours=1, recurrence=Yearly(month=9, day=1)),
        ],
        2026,
        AMS,
    )
    now = datetime(2026, 3, 2, 9, tzinfo=AMS)
    plan = plan_year(occurrences, {"assistant": 8}, year=2026, now=now)
    (left,) = plan.unplanned
    assert (left.occurrence.obligation, left.code) == ("Early", "overdue")
    assert all(p.week >= monday(now) for p in plan.placements)


def test_year_boundary_planned_in_december() -> None:
    vat = Obligation(
        name="VAT Q4", effort_hours=3, recurrence=Yearly(month=1, day=8), start_weeks_before=4
    )
    occurrences = expand([vat], 2027, AMS)
    # The first January week is a vacation: the work must land in December 2026.
    plan = plan_year(
        occurrences,
        {"assistant": 20},
        year=2027,
        vacations={"assistant": [(date(2027, 1, 4), date(2027, 1, 8))]},
    )
    (placed,) = plan.placements
    assert placed.week.year == 2026 and placed.week.month == 12
    assert plan.weeks[0] <= placed.week


def test_client_work_is_levelled_on_its_own_row() -> None:
    client = Client(
        id="lotte", name="Lotte", support_levels={"gifts": SupportLevel.LEAVE_TO_CLIENT}
    )
    obligations = [
        Obligation(
            name="Gift A",
            kind="gifts",
            effort_hours=1,
            recurrence=Yearly(month=10, day=16),
            start_weeks_before=1,
        ),
        Obligation(
            name="Gift B",
            kind="gifts",
            effort_hours=1,
            recurrence=Yearly(month=10, day=16),
            start_weeks_before=1,
        ),
        Obligation(name="Tax", kind="tax", effort_hours=2, recurrence=Yearly(month=10, day=16)),
    ]
    occurrences = expand(obligations, 2026, AMS, client=client)
    plan = plan_year(occurrences, {"assistant": 8}, year=2026)
    rows = {r.resource: r for r in plan.resources}
    assert set(rows) == {"assistant", "client:lotte"}
    assert rows["client:lotte"].peak_hours == pytest.approx(1.0)  # one gift per week
    assert all(w.capacity is None for w in rows["client:lotte"].weeks)
    week = plan.week_of("lotte/tax/2026-10-16#1")
    assert week is not None
    assert [t.title for t in week_tasks(plan, week, AMS)] == ["Tax"]


def test_week_tasks_hand_off() -> None:
    obligation = Obligation(
        name="VAT",
        kind="tax",
        steps=(Step(name="book", hours=2), Step(name="file", hours=1.5)),
        recurrence=Yearly(month=10, day=14),  # a Wednesday
        start_weeks_before=0,
        priority=3,
    )
    occurrences = expand([obligation], 2026, AMS)
    plan = plan_year(occurrences, {"assistant": 8}, year=2026)
    tasks = week_tasks(plan, date(2026, 10, 14), AMS)
    book, file = tasks
    assert (book.duration_minutes, file.duration_minutes) == (120, 90)
    assert file.predecessors == (book.id,) and book.predecessors == ()
    # The deadline inside the week wins over the week's end, and is then hard.
    assert file.deadline == datetime(2026, 10, 15, tzinfo=AMS)
    assert file.hard_deadline
    assert book.release == datetime(2026, 10, 14, tzinfo=AMS)  # earliest start is the 14th
    assert book.kind == "tax" and book.weight == 3
    assert week_tasks(plan, date(2026, 10, 21), AMS) == []


def test_week_tasks_week_end_across_dst() -> None:
    occurrences = expand(
        [
            Obligation(
                name="Review",
                effort_hours=1,
                recurrence=Yearly(month=11, day=6),
                start_weeks_before=2,
            )
        ],
        2026,
        AMS,
    )
    plan = plan_year(occurrences, {"assistant": 8}, year=2026, now=date(2026, 10, 19))
    (placement,) = plan.placements
    assert placement.week == date(2026, 10, 19)  # the week in which summer time ends
    (task,) = week_tasks(plan, placement.week, AMS)
    assert task.deadline == datetime(2026, 10, 26, tzinfo=AMS)
    assert task.deadline.utcoffset() == timedelta(hours=1)
    assert not task.hard_deadline
    assert task.release == datetime(2026, 10, 23, tzinfo=AMS)  # its earliest start
