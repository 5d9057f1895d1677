"""Delegation analysis against hand-worked figures (tests/data/reports/questionnaire.*).

A month is 52/12 weeks, so x min/week = x × 52 / 720 h/month.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime

import pytest

from tests.reports.conftest import AMS, DATA
from va_engine.delegation import (
    Questionnaire,
    QuestionnaireTask,
    analyse,
    parse_questionnaire,
    parse_questionnaire_csv,
    questionnaire_from_history,
    score_task,
)
from va_engine.examples import example_config_dir
from va_engine.model import Agreement, Client, LedgerEntry, Mode, SupportLevel, Task

L = SupportLevel


def questionnaire() -> Questionnaire:
    return parse_questionnaire(tomllib.loads((DATA / "questionnaire.toml").read_text()))


def test_scores_and_reasons() -> None:
    by_name = {t.name: score_task(t) for t in questionnaire().tasks}
    # finance: 50 − 15 (confidential) + 20 (energy −2) + 15 (goal) + 15 (routine) = 85,
    # capped at "after instruction" because it is confidential
    assert by_name["Facturen maken en versturen"][0] == 85
    assert by_name["Facturen maken en versturen"][2] is L.INSTRUCT
    # appointments: 50 + 10 + 15 + 15 = 90 → delegate fully
    assert by_name["Behandelafspraken inplannen en bevestigen"][0:3:2] == (90, L.TAKE_OVER)
    # mail: 50 + 10 + 15 = 75
    assert by_name["Mail en voicemail bijhouden"][0:3:2] == (75, L.TAKE_OVER)
    # bookkeeping: 50 − 15 + 20 + 15 = 70 → take_over, capped → instruct
    assert by_name["Boekhouding bijwerken"][0:3:2] == (70, L.INSTRUCT)
    # reports: 50 − 40 − 15 = −5 → clamped to 0 → keep
    score, reasons, level = by_name["Behandelverslagen voor eigenaren en dierenarts"]
    assert (score, level) == (0, L.LEAVE_TO_CLIENT)
    assert reasons[0] == "needs your own expertise"
    # social media: 50 − 20 (gives energy) + 15 = 45 → keep, get coached
    assert by_name["Foto's en posts voor social media"][0:3:2] == (45, L.COACH)
    # shopping: 50 + 15 = 65 → after instruction
    assert by_name["Voer en tapes bestellen"][0:3:2] == (65, L.INSTRUCT)


def test_categories_sorted_by_savings_with_totals() -> None:
    report = analyse(questionnaire(), months=3)
    assert [c.category for c in report.categories] == [
        # 90 min/week → 6.5 h/month × (85 − 42) = 279.50 each; equal: by name
        "appointments",
        "mail",
        "finance",  # 60 → 4.33 h × 43 = 186.33
        "bookkeeping",  # 45 → 3.25 h × 43 = 139.75
        "shopping",  # 30 → 2.17 h × 43 = 93.17
        "reports",  # kept: no savings; 4.33 h before social media's 3.25 h
        "social_media",
    ]
    savings = {c.category: c.savings for c in report.categories}
    assert savings == {
        "appointments": 279.5,
        "mail": 279.5,
        "finance": 186.33,
        "bookkeeping": 139.75,
        "shopping": 93.17,
        "reports": 0.0,
        "social_media": 0.0,
    }
    finance = next(c for c in report.categories if c.category == "finance")
    assert finance.own_cost == pytest.approx(368.33)  # 4.333 h × 85
    assert finance.va_cost == pytest.approx(182.0)  # 4.333 h × 42
    # total 420 min/week → 30.33 h; delegable 60+90+90+45+30 = 315 → 22.75 h/month
    assert report.total_hours == 30.33
    assert report.freed_hours == 22.75
    assert report.savings_per_month == 978.25  # 22.75 × 43
    assert report.savings_total == 2934.75  # × 3 months
    assert report.revenue_opportunity == 1933.75  # 22.75 × 85
    assert report.extra_appointments == 18  # 22.75 h × 60 / 75 = 18.2
    assert report.delegate_categories == 5
    assert "frees 22.8 h" in report.summary and "18 more client appointments" in report.summary


def test_csv_gives_the_same_report() -> None:
    head = tomllib.loads((DATA / "questionnaire.toml").read_text())["entrepreneur"]
    from_csv = parse_questionnaire_csv((DATA / "questionnaire.csv").read_text(), defaults=head)
    assert analyse(from_csv).categories == analyse(questionnaire()).categories


def test_bad_questionnaire_names_the_place() -> None:
    with pytest.raises(ValueError, match=r"tasks\.0\.energy"):
        parse_questionnaire(
            {"task": [{"name": "x", "category": "mail", "minutes_per_week": 5, "energy": 7}]}
        )
    with pytest.raises(ValueError, match="line 2"):
        parse_questionnaire_csv("name,category,minutes_per_week\nx,mail,lots\n")


def test_shipped_example_parses() -> None:
    path = example_config_dir() / "data" / "hoefslag" / "delegation.toml"
    report = analyse(parse_questionnaire(tomllib.loads(path.read_text())))
    assert report.categories and report.freed_hours > 0


def test_from_history() -> None:
    client = Client(
        id="shop",
        name="Shop",
        agreement=Agreement(hourly_rate=40, out_of_scope=("legal",)),
    )
    now = datetime(2026, 3, 31, 12, tzinfo=AMS)

    def task(n: int, kind: str, minutes: int, day: date | None) -> Task:
        when = datetime(day.year, day.month, day.day, 9, tzinfo=AMS) if day else None
        return Task(
            id=f"t{n}",
            title=kind,
            client_id="shop",
            kind=kind,
            duration_minutes=minutes,
            release=when,
        )

    tasks = [
        task(1, "mail", 390, date(2026, 2, 10)),
        task(2, "mail", 390, date(2026, 3, 10)),
        task(3, "visit", 520, None),  # undated: counted
        task(4, "mail", 999, date(2025, 10, 1)),  # before the 2-month window
    ]
    entries = [
        LedgerEntry(
            client_id="shop",
            task="Legal",
            day=date(2026, 3, 2),
            minutes=260,
            mode=Mode.FOR,
            kind="legal",
        ),
    ]
    q = questionnaire_from_history(client, tasks, entries, now=now, months=2, own_rate=90)
    # 2 months = 104/12 weeks = 8.667 weeks:
    # mail 780 / 8.667 = 90.0; visit 520 → 60.0; legal 260 → 30.0
    lines = {t.category: t for t in q.tasks}
    assert {k: v.minutes_per_week for k, v in lines.items()} == {
        "legal": 30.0,
        "mail": 90.0,
        "visit": 60.0,
    }
    assert lines["visit"].expertise and lines["legal"].expertise and not lines["mail"].expertise
    assert (q.own_rate, q.va_rate) == (90, 40)
    report = analyse(q, months=2)
    # only mail is delegable (50 + 15 routine = 65 → instruct): 90 min → 6.5 h × (90 − 40) = 325
    assert report.freed_hours == 6.5
    assert report.savings_per_month == 325.0
    with pytest.raises(ValueError, match="other"):
        questionnaire_from_history(
            client,
            [],
            [entries[0].model_copy(update={"client_id": "other"})],
            now=now,
        )


def test_task_validation() -> None:
    with pytest.raises(ValueError):
        QuestionnaireTask(name="x", category="mail", minutes_per_week=-1)
