"""``va-engine plan day|week``: plan an assistant's (or a client business's) day or week."""

from __future__ import annotations

import sys
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from va_engine.cli.agenda import plan_to_json, render_plan
from va_engine.cli.app import app
from va_engine.cli.planning import collect_all, solve
from va_engine.cli.render import OutputFormat, emit
from va_engine.cli.state import State, get_state
from va_engine.connectors.ics import build_plan_calendar, plan_to_events
from va_engine.errors import ValidationError
from va_engine.model import Plan, PlanningProblem
from va_engine.planner import PlanLimits
from va_engine.workflows.planning import (
    build_problem,
    business_problem,
    horizon,
    year_tasks_for_week,
)

__all__ = ["plan_app"]

plan_app = typer.Typer(help="Plan a day, a week or a year.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")


class PlanFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    ICS = "ics"


DateOption = Annotated[
    str | None,
    typer.Option("--date", "-d", help="A day in the period (YYYY-MM-DD; default today)."),
]
AssistantOption = Annotated[
    list[str] | None, typer.Option("--assistant", "-a", help="Plan only these assistants.")
]
BusinessOption = Annotated[
    str | None,
    typer.Option("--business", help="Plan this client's own field work instead (staff + visits)."),
]
ClientOption = Annotated[
    list[str] | None, typer.Option("--client", help="Only these clients' tasks.")
]
TimeLimitOption = Annotated[
    float, typer.Option("--time-limit", help="Seconds the solver may search.")
]
PlanFormatOption = Annotated[PlanFormat, typer.Option("--format", "-f")]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write the ICS/JSON here instead of stdout.")
]


YearOption = Annotated[
    bool,
    typer.Option(
        "--year-plan/--no-year-plan",
        help="Add this week's items from the year plan (obligations) as tasks.",
    ),
]


@plan_app.command("day")
def plan_day(
    ctx: typer.Context,
    day: DateOption = None,
    assistant: AssistantOption = None,
    business: BusinessOption = None,
    client: ClientOption = None,
    time_limit: TimeLimitOption = 10.0,
    fmt: PlanFormatOption = PlanFormat.TABLE,
    out: OutOption = None,
    with_year: YearOption = True,
) -> None:
    """Plan one day."""
    _plan(get_state(ctx), "day", day, assistant, business, client, time_limit, fmt, out, with_year)


@plan_app.command("week")
def plan_week(
    ctx: typer.Context,
    day: DateOption = None,
    assistant: AssistantOption = None,
    business: BusinessOption = None,
    client: ClientOption = None,
    time_limit: TimeLimitOption = 10.0,
    fmt: PlanFormatOption = PlanFormat.TABLE,
    out: OutOption = None,
    with_year: YearOption = True,
) -> None:
    """Plan the ISO week (Monday–Sunday) that contains the date."""
    _plan(get_state(ctx), "week", day, assistant, business, client, time_limit, fmt, out, with_year)


def _plan(
    state: State,
    kind: str,
    day_text: str | None,
    assistants: list[str] | None,
    business: str | None,
    clients: list[str] | None,
    time_limit: float,
    fmt: PlanFormat,
    out: Path | None,
    with_year: bool,
) -> None:
    config = state.config()
    now = state.now()
    day = _parse_day(day_text) if day_text else now.date()
    start, end = horizon(kind, day, config.assistant_models()[0].tz)
    planning_now = max(now, start)
    text_format = OutputFormat.TABLE if fmt is PlanFormat.TABLE else OutputFormat.JSON
    limits = PlanLimits(time_limit_s=time_limit)
    with state.open_store() as store:
        if business:
            problem = business_problem(config, business, start=start, end=end)
            scope = f"business:{business}"
        else:
            intakes, busy = collect_all(
                config,
                store,
                state.console,
                text_format,
                start=start,
                end=end,
                now=planning_now,
                client_ids=clients,
            )
            year_items = (
                year_tasks_for_week(config, start.date(), now=planning_now, client_ids=clients)
                if with_year
                else []
            )
            problem = build_problem(
                config,
                intakes,
                busy,
                start=start,
                end=end,
                assistant_ids=assistants,
                extra_tasks=year_items,
            )
            scope = "assistants:" + ",".join(a.id for a in problem.assistants)
        previous = store.load_plan(f"{scope}:{kind}:{start.date()}")
        result = solve(
            problem,
            limits,
            now=planning_now,
            console=state.console,
            fmt=text_format,
            previous=previous,
            frozen_until=planning_now if previous else None,
        )
        store.save_plan(f"{scope}:{kind}:{start.date()}", result, now=now)
    if fmt is PlanFormat.ICS:
        _write(out, _to_ics(problem, result, scope=scope, stamp=now))
        return
    if out is not None and fmt is PlanFormat.JSON:
        console = Console(file=out.open("w"), width=200)
        emit(console, OutputFormat.JSON, plan_to_json(problem, result), lambda c: None)
        return

    def render(console: Console) -> None:
        render_plan(console, problem, result)

    emit(state.console, text_format, plan_to_json(problem, result), render)


def _to_ics(problem: PlanningProblem, result: Plan, *, scope: str, stamp: datetime) -> bytes:
    titles = {t.id: t.title for t in problem.tasks} | {h.id: h.title for h in problem.habits}
    events = plan_to_events(result, scope=scope.replace(":", "-"), titles=titles)
    return build_plan_calendar(events, stamp=stamp)


def _write(out: Path | None, data: bytes) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--date {text!r} is not a date: use YYYY-MM-DD") from None
