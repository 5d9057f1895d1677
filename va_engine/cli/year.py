"""``va-engine plan year``: the clients' recurring obligations levelled over the year."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from va_engine.cli.plan import PlanFormat, plan_app
from va_engine.cli.render import OutputFormat, emit
from va_engine.cli.state import get_state
from va_engine.cli.year_view import render_year
from va_engine.errors import ValidationError
from va_engine.planner.year import YearPlan, plan_year
from va_engine.planner.year_ics import year_plan_to_ics
from va_engine.workflows.planning import year_problem

__all__ = ["plan_year_command"]


@plan_app.command("year")
def plan_year_command(
    ctx: typer.Context,
    client: Annotated[
        list[str] | None, typer.Option("--client", help="Only these clients.")
    ] = None,
    year: Annotated[int | None, typer.Option(help="Calendar year (default: this year).")] = None,
    time_limit: Annotated[float, typer.Option("--time-limit")] = 5.0,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f")] = PlanFormat.TABLE,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write ICS here.")] = None,
) -> None:
    """Spread every obligation (tax returns, VAT, insurance reviews …) over the year's weeks."""
    state = get_state(ctx)
    config = state.config()
    now = state.now()
    chosen_year = year or now.year
    if not 1900 < chosen_year < 2200:
        raise ValidationError(f"--year {chosen_year} is out of range")
    occurrences, capacity, holidays, vacations, no_contact = year_problem(
        config, chosen_year, client_ids=client
    )
    if fmt is PlanFormat.TABLE:
        with state.console.status(f"levelling {len(occurrences)} obligation steps…"):
            result = plan_year(
                occurrences,
                capacity,
                year=chosen_year,
                holidays=holidays,
                vacations=vacations,
                no_contact=no_contact,
                time_limit_s=time_limit,
                now=now,
            )
    else:
        result = plan_year(
            occurrences,
            capacity,
            year=chosen_year,
            holidays=holidays,
            vacations=vacations,
            no_contact=no_contact,
            time_limit_s=time_limit,
            now=now,
        )
    if fmt is PlanFormat.ICS:
        data = year_plan_to_ics(result, config.engine.timezone, now=now)
        if out is None:
            typer.echo(data.decode("utf-8"), nl=False)
        else:
            out.write_bytes(data)
        return

    def render(console: Console) -> None:
        render_year(result, console)

    text_format = OutputFormat.TABLE if fmt is PlanFormat.TABLE else OutputFormat.JSON
    emit(state.console, text_format, _json(result), render)


def _json(result: YearPlan) -> object:
    return {"summary": result.summary(), "plan": result.model_dump(mode="json")}
