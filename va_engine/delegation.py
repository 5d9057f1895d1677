"""The entrepreneur's delegation analysis: where the hours go, what they cost, what to hand over.

Pure: a :class:`Questionnaire` (from a CSV/TOML file, or derived from the
client's task and ledger history by :func:`questionnaire_from_history`) goes
in, a :class:`DelegationReport` comes out. No files, no clock.

How a task is scored (0–100, higher = hand it over), each term a reason:

* start at 50;
* needs the entrepreneur's own expertise: −40;
* confidential: −15, and at most "delegate after instruction";
* energy: −10 per point (−2 drains … +2 gives energy), so draining work rises;
* distracts from one of the entrepreneur's goals: +15;
* routine work in :data:`ROUTINE_CATEGORIES`: +15.

Score ≥ 70: delegate fully (``take_over``); 50–69: delegate after instruction
(``instruct``); 30–49: keep but get coached (``coach``); below 30: keep
(``leave_to_client``). A category's score is the minutes-weighted mean of its
tasks; its delegable hours are those of tasks recommended ``take_over`` or
``instruct``; monthly savings = delegable hours × (own rate − VA rate). The
freed hours are worth ``own_rate`` each in billable work, or so many extra
appointments of ``appointment_minutes``.

JSON schema (stable, ``schema_id = "va-engine/delegation/1"``): the fields of
:class:`DelegationReport`, money rounded to cents, hours to 2 decimals.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from va_engine.model import Client, LedgerEntry, SupportLevel, Task

__all__ = [
    "RECOMMENDATION_TEXT",
    "ROUTINE_CATEGORIES",
    "SCHEMA",
    "CategoryAdvice",
    "DelegationParams",
    "DelegationReport",
    "Questionnaire",
    "QuestionnaireTask",
    "TaskScore",
    "analyse",
    "parse_questionnaire",
    "parse_questionnaire_csv",
    "questionnaire_from_history",
    "score_task",
]

SCHEMA = "va-engine/delegation/1"

#: Work a VA does every day; delegating it is the classic first step.
ROUTINE_CATEGORIES: frozenset[str] = frozenset(
    {
        "admin",
        "appointments",
        "bookkeeping",
        "finance",
        "invoicing",
        "mail",
        "planning",
        "phone",
        "shopping",
        "social_media",
        "travel",
    }
)

RECOMMENDATION_TEXT: dict[SupportLevel, str] = {
    SupportLevel.TAKE_OVER: "delegate fully",
    SupportLevel.INSTRUCT: "delegate after instruction",
    SupportLevel.GUIDE: "delegate with guidance",
    SupportLevel.COACH: "keep, get coached",
    SupportLevel.LEAVE_TO_CLIENT: "keep",
}

_DELEGATED = frozenset({SupportLevel.TAKE_OVER, SupportLevel.INSTRUCT})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class DelegationParams:
    """Scoring weights and thresholds; the defaults are the ones documented above."""

    base: int = 50
    expertise: int = -40
    confidential: int = -15
    energy_per_point: int = -10
    distracts: int = 15
    routine: int = 15
    delegate_at: int = 70
    instruct_at: int = 50
    coach_at: int = 30
    weeks_per_month: float = 52 / 12
    routine_categories: frozenset[str] = ROUTINE_CATEGORIES


class QuestionnaireTask(_Frozen):
    """One line of the questionnaire: a recurring piece of the entrepreneur's own work."""

    name: str = Field(min_length=1)
    category: str = Field(min_length=1)
    minutes_per_week: float = Field(ge=0)
    energy: int = Field(default=0, ge=-2, le=2)
    expertise: bool = False
    confidential: bool = False
    distracts_from: str = ""


class Questionnaire(_Frozen):
    """The entrepreneur's goals, rates and tasks."""

    name: str = ""
    goals: tuple[str, ...] = ()
    own_rate: float = Field(default=75.0, ge=0)
    va_rate: float = Field(default=40.0, ge=0)
    appointment_minutes: PositiveInt = 60
    currency: str = "EUR"
    tasks: tuple[QuestionnaireTask, ...] = ()
    source: str = "questionnaire"


class TaskScore(_Frozen):
    name: str
    category: str
    hours_per_month: float
    score: int
    reasons: tuple[str, ...]
    recommendation: SupportLevel


class CategoryAdvice(_Frozen):
    category: str
    hours_per_month: float
    delegable_hours: float
    own_cost: float
    va_cost: float
    savings: float
    score: int
    recommendation: SupportLevel
    advice: str
    reasons: tuple[str, ...]
    tasks: tuple[TaskScore, ...]


class DelegationReport(_Frozen):
    schema_id: str = SCHEMA
    name: str
    source: str
    months: int
    currency: str
    own_rate: float
    va_rate: float
    goals: tuple[str, ...]
    categories: tuple[CategoryAdvice, ...]
    total_hours: float
    delegate_categories: int
    freed_hours: float
    savings_per_month: float
    savings_total: float
    revenue_opportunity: float
    extra_appointments: int
    appointment_minutes: int
    summary: str


def score_task(
    task: QuestionnaireTask, params: DelegationParams | None = None
) -> tuple[int, tuple[str, ...], SupportLevel]:
    """The task's delegability score, the reasons behind it, and the recommendation."""
    p = params or DelegationParams()
    score = p.base
    reasons: list[str] = []
    if task.expertise:
        score += p.expertise
        reasons.append("needs your own expertise")
    if task.confidential:
        score += p.confidential
        reasons.append("confidential: instruct first")
    if task.energy:
        score += p.energy_per_point * task.energy
        reasons.append("costs you energy" if task.energy < 0 else "gives you energy")
    if task.distracts_from:
        score += p.distracts
        reasons.append(f"distracts from: {task.distracts_from}")
    if task.category in p.routine_categories:
        score += p.routine
        reasons.append("routine VA work")
    score = max(0, min(100, score))
    level = _level_for(score, p)
    if task.confidential and level is SupportLevel.TAKE_OVER:
        level = SupportLevel.INSTRUCT
    return score, tuple(reasons), level


def _level_for(score: int, p: DelegationParams) -> SupportLevel:
    if score >= p.delegate_at:
        return SupportLevel.TAKE_OVER
    if score >= p.instruct_at:
        return SupportLevel.INSTRUCT
    if score >= p.coach_at:
        return SupportLevel.COACH
    return SupportLevel.LEAVE_TO_CLIENT


def analyse(
    questionnaire: Questionnaire, *, months: int = 1, params: DelegationParams | None = None
) -> DelegationReport:
    """Hours, cost, score and advice per category, sorted by monthly savings (largest first)."""
    if months < 1:
        raise ValueError("months must be at least 1")
    p = params or DelegationParams()
    q = questionnaire
    per_category: dict[str, list[tuple[QuestionnaireTask, TaskScore]]] = defaultdict(list)
    for task in q.tasks:
        score, reasons, level = score_task(task, p)
        hours = task.minutes_per_week * p.weeks_per_month / 60
        per_category[task.category].append(
            (
                task,
                TaskScore(
                    name=task.name,
                    category=task.category,
                    hours_per_month=round(hours, 2),
                    score=score,
                    reasons=reasons,
                    recommendation=level,
                ),
            )
        )
    margin = q.own_rate - q.va_rate
    categories: list[CategoryAdvice] = []
    for category, items in per_category.items():
        minutes = sum(t.minutes_per_week for t, _ in items)
        hours = minutes * p.weeks_per_month / 60
        delegable = (
            sum(t.minutes_per_week for t, s in items if s.recommendation in _DELEGATED)
            * p.weeks_per_month
            / 60
        )
        weighted = (
            sum(s.score * t.minutes_per_week for t, s in items) / minutes
            if minutes
            else sum(s.score for _, s in items) / len(items)
        )
        score = round(weighted)
        level = _level_for(score, p)
        if level is SupportLevel.TAKE_OVER and any(t.confidential for t, _ in items):
            level = SupportLevel.INSTRUCT
        unique = list(dict.fromkeys(r for _, s in items for r in s.reasons))
        categories.append(
            CategoryAdvice(
                category=category,
                hours_per_month=round(hours, 2),
                delegable_hours=round(delegable, 2),
                own_cost=round(hours * q.own_rate, 2),
                va_cost=round(delegable * q.va_rate, 2),
                savings=round(delegable * margin, 2),
                score=score,
                recommendation=level,
                advice=RECOMMENDATION_TEXT[level],
                reasons=tuple(unique),
                tasks=tuple(sorted((s for _, s in items), key=lambda s: -s.hours_per_month)),
            )
        )
    categories.sort(key=lambda c: (-c.savings, -c.hours_per_month, c.category))
    total = sum(t.minutes_per_week for t in q.tasks) * p.weeks_per_month / 60
    freed = (
        sum(
            t.minutes_per_week
            for items in per_category.values()
            for t, s in items
            if s.recommendation in _DELEGATED
        )
        * p.weeks_per_month
        / 60
    )
    delegate_categories = sum(1 for c in categories if c.delegable_hours > 0)
    savings = freed * margin
    extra = math.floor(freed * 60 / q.appointment_minutes + 1e-9)
    summary = (
        f"You spend {total:.1f} h/month on this work; delegating the top "
        f"{delegate_categories} categories frees {freed:.1f} h and saves "
        f"{q.currency} {savings:,.0f} a month"
        + (f" ({q.currency} {savings * months:,.0f} over {months} months)" if months > 1 else "")
        + f". Those hours are worth {extra} more client appointments a month."
    )
    return DelegationReport(
        name=q.name,
        source=q.source,
        months=months,
        currency=q.currency,
        own_rate=q.own_rate,
        va_rate=q.va_rate,
        goals=q.goals,
        categories=tuple(categories),
        total_hours=round(total, 2),
        delegate_categories=delegate_categories,
        freed_hours=round(freed, 2),
        savings_per_month=round(savings, 2),
        savings_total=round(savings * months, 2),
        revenue_opportunity=round(freed * q.own_rate, 2),
        extra_appointments=extra,
        appointment_minutes=q.appointment_minutes,
        summary=summary,
    )


def parse_questionnaire(data: Mapping[str, Any], *, origin: str = "questionnaire") -> Questionnaire:
    """A questionnaire from parsed TOML: ``[entrepreneur]`` (name, goals, rates), ``[[task]]``."""
    head = dict(data.get("entrepreneur", {}))
    try:
        return Questionnaire.model_validate(
            {**head, "tasks": list(data.get("task", [])), "source": origin}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{origin}: {where}: {first['msg']}") from None


_TRUE = {"1", "true", "yes", "y", "ja", "x"}


def parse_questionnaire_csv(
    text: str,
    *,
    origin: str = "questionnaire.csv",
    defaults: Mapping[str, Any] | None = None,
) -> Questionnaire:
    """A questionnaire from CSV with a header row.

    Columns: ``name, category, minutes_per_week, energy, expertise,
    confidential, distracts_from`` (the last four optional; yes/no, ja/nee,
    true/false or 1/0). Name, goals and rates come from ``defaults``.
    """
    reader = csv.DictReader(io.StringIO(text))
    tasks: list[dict[str, Any]] = []
    for number, row in enumerate(reader, start=2):
        clean = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        try:
            tasks.append(
                {
                    "name": clean["name"],
                    "category": clean["category"],
                    "minutes_per_week": float(clean["minutes_per_week"]),
                    "energy": int(clean.get("energy") or 0),
                    "expertise": clean.get("expertise", "").lower() in _TRUE,
                    "confidential": clean.get("confidential", "").lower() in _TRUE,
                    "distracts_from": clean.get("distracts_from", ""),
                }
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{origin} line {number}: bad or missing value ({exc})") from None
    return parse_questionnaire({"entrepreneur": dict(defaults or {}), "task": tasks}, origin=origin)


#: Kinds that are the entrepreneur's own craft (field visits, treatments):
#: kept, whatever else the history says.
_OWN_CRAFT = frozenset({"visit", "treatment", "consult"})
#: Kinds that hold other people's money or health data: delegated after instruction.
_CONFIDENTIAL = frozenset({"finance", "tax", "health_insurance", "bookkeeping"})


def _task_day(task: Task) -> date | None:
    when: datetime | None = task.release or task.deadline
    return when.date() if when else None


def questionnaire_from_history(
    client: Client,
    tasks: Iterable[Task],
    entries: Sequence[LedgerEntry],
    *,
    now: datetime,
    months: int = 3,
    own_rate: float = 75.0,
    va_rate: float | None = None,
    weeks_per_month: float = 52 / 12,
) -> Questionnaire:
    """Derive the questionnaire from what the history shows, one line per task kind.

    Counts the client's tasks (from calendars and mail rules) dated in the last
    ``months`` months (undated ones too) and the ledger work logged for them in
    that time. Expertise and confidentiality follow the agreement's
    out-of-scope list and the kinds above; energy is unknown (0).
    """
    today = now.astimezone(client.tz).date()
    since = today - timedelta(days=round(months * 30.44))
    minutes: dict[str, float] = defaultdict(float)
    for task in tasks:
        day = _task_day(task)
        if task.client_id not in (None, client.id) or (
            day is not None and not since <= day <= today
        ):
            continue
        minutes[task.kind] += task.duration_minutes
    for entry in entries:
        if entry.client_id != client.id:
            raise ValueError(f"ledger entry of client {entry.client_id!r} passed for {client.id!r}")
        if since <= entry.day <= today and entry.source != "assignment":
            minutes[entry.kind] += entry.minutes
    weeks = months * weeks_per_month
    out_of_scope = {k.casefold() for k in client.agreement.out_of_scope}
    lines = [
        QuestionnaireTask(
            name=kind.replace("_", " "),
            category=kind,
            minutes_per_week=round(total / weeks, 1),
            expertise=kind in _OWN_CRAFT or kind.casefold() in out_of_scope,
            confidential=kind in _CONFIDENTIAL,
        )
        for kind, total in sorted(minutes.items())
    ]
    return Questionnaire(
        name=client.name,
        own_rate=own_rate,
        va_rate=client.agreement.hourly_rate if va_rate is None else va_rate,
        currency=client.agreement.currency,
        tasks=tuple(lines),
        source=f"history of {months} months",
    )
