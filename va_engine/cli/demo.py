"""``va-engine demo``: the main job on the shipped example clients, no server needed.

It copies the example config to a scratch directory (dates moved to this
week), reads every client's local calendars and Maildirs, stores the tasks,
plans the assistant's week with the real planner, and prints the agenda and
a summary per client. Nothing is canned: change a file in ``config/`` and the
output changes.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from va_engine.cli.agenda import plan_to_json, render_plan
from va_engine.cli.app import FormatOption, app
from va_engine.cli.planning import collect_all, solve
from va_engine.cli.render import OutputFormat, emit, make_table
from va_engine.cli.reports import demo_reports, render_demo_summary
from va_engine.cli.state import get_state
from va_engine.examples import materialise
from va_engine.model import Plan, PlanningProblem
from va_engine.planner import PlanLimits, validate_plan
from va_engine.settings import Config, load_config
from va_engine.store import Store
from va_engine.workflows.intake import ClientIntake
from va_engine.workflows.planning import build_problem, horizon, year_tasks_for_week

__all__ = ["demo"]


@app.command()
def demo(
    ctx: typer.Context,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Seconds the planner may search.")
    ] = 10.0,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep the demo's config, data and database here (default: a temp dir)."),
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Plan this week for the example clients, from local calendars and mailboxes.

    With --config, the demo runs on that directory instead (read in place).
    """
    state = get_state(ctx)
    console = state.console
    with tempfile.TemporaryDirectory(prefix="va-engine-demo-") as scratch:
        root = workdir or Path(scratch)
        wall_clock = datetime.now().astimezone()
        # On a weekend the current week is over: show the coming one.
        day = wall_clock.date()
        if day.weekday() >= 5:
            day += timedelta(days=7 - day.weekday())
        if state.config_dir is None:
            config_dir = materialise(root / "config", today=day)
        else:
            config_dir = state.config_dir  # the user's own files: read, never shifted
        config = _with_data_dir(load_config(config_dir), root / "data")
        tz = config.assistant_models()[0].tz
        start, end = horizon("week", day, tz)
        # The demo plans the whole week as seen on Monday morning, so every day shows.
        now = start
        store = Store(config.engine.resolved_database_url())
        try:
            intakes, busy = collect_all(config, store, console, fmt, start=start, end=end, now=now)
            reports = demo_reports(config, store, now)
        finally:
            store.close()
        year_items = year_tasks_for_week(config, start.date(), now=now)
        problem = build_problem(config, intakes, busy, start=start, end=end, extra_tasks=year_items)
        result = solve(
            problem, PlanLimits(time_limit_s=time_limit), now=now, console=console, fmt=fmt
        )
        violations = validate_plan(problem, result)
        clients = [_client_summary(intake, result, problem) for intake in intakes]
        data = {
            "week": {"start": start, "end": end},
            "workdir": str(root) if workdir else None,
            "plan": plan_to_json(problem, result),
            "clients": clients,
            "violations": [str(v) for v in violations],
            "reports": reports.to_json() if reports else None,
        }

        def render(out: Console) -> None:
            out.print(
                f"[bold]va-engine demo[/] — {len(intakes)} clients, {len(problem.tasks)} tasks, "
                f"{len(problem.habits)} routines, week of {start:%A %d %B %Y}",
                highlight=False,
            )
            render_plan(out, problem, result)
            _render_clients(out, clients)
            if reports:
                render_demo_summary(out, reports)
            if violations:
                out.print(f"[red]plan check found {len(violations)} problems:[/]")
                for violation in violations:
                    out.print(f"  {violation}")
            out.print(
                "\nNext: [bold]va-engine init my-config[/] to start with your own clients.",
                highlight=False,
            )

        emit(console, fmt, data, render)
        if violations:
            raise typer.Exit(5)


def _with_data_dir(config: Config, data_dir: Path) -> Config:
    """The demo writes its state next to its scratch config, never into the user's data dir."""
    engine = config.engine.model_copy(
        update={"data_dir": data_dir, "database_url": f"sqlite:///{data_dir / 'demo.db'}"}
    )
    return config.model_copy(update={"engine": engine})


def _client_summary(intake: ClientIntake, result: Plan, problem: PlanningProblem) -> dict[str, Any]:
    task_ids = {t.id for t in problem.tasks if t.client_id == intake.client.id}
    planned = sum(b.minutes for b in result.blocks if b.task_id in task_ids)
    habit_ids = {h.id for h in intake.habits}
    habit_minutes = sum(b.minutes for b in result.blocks if b.task_id in habit_ids)
    agreement = intake.client.agreement
    return {
        "client": intake.client.id,
        "name": intake.client.name,
        "tasks": len(task_ids),
        "planned_hours": round((planned + habit_minutes) / 60, 2),
        "unplanned": sum(1 for u in result.unplanned if u.task_id in task_ids),
        "budget": (
            f"{agreement.hours_per_period:g} h/{agreement.period}"
            if agreement.hours_per_period is not None
            else None
        ),
        "accounts": [
            {
                "account": r.account,
                "events": r.events,
                "todos": r.todos,
                "messages": r.messages,
                "tasks": r.tasks,
                "quarantined": [f"{q.origin}: {q.reason}" for q in r.quarantined],
                "error": r.error,
            }
            for r in intake.accounts
        ],
        "rules": intake.rule_hits,
    }


def _render_clients(console: Console, clients: list[dict[str, Any]]) -> None:
    rows = []
    for c in clients:
        read = ", ".join(
            f"{a['account']}: "
            + (
                f"[red]{a['error']}[/]"
                if a["error"]
                else f"{a['events'] + a['todos'] + a['messages']} items → {a['tasks']} tasks"
            )
            for a in c["accounts"]
        )
        rules = ", ".join(f"{name} ×{n}" for name, n in sorted(c["rules"].items())) or "—"
        rows.append(
            (
                c["name"],
                c["tasks"],
                f"{c['planned_hours']:.1f} h",
                c["budget"] or "—",
                c["unplanned"],
                read,
                rules,
            )
        )
    console.print(
        make_table(
            "Per client",
            ["client", "tasks", "planned", "budget", "not planned", "read", "mail rules"],
            rows,
        )
    )
