"""Steps shared by ``demo`` and ``plan``: read clients with a progress bar, solve with a spinner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from va_engine.cli.render import OutputFormat
from va_engine.model import Busy, Plan, PlanningProblem
from va_engine.planner import PlanLimits, plan
from va_engine.settings import Config
from va_engine.store import Store
from va_engine.workflows.intake import ClientIntake, collect_assistant_busy, collect_client

__all__ = ["collect_all", "solve"]


def collect_all(
    config: Config,
    store: Store,
    console: Console,
    fmt: OutputFormat,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    client_ids: Sequence[str] | None = None,
) -> tuple[list[ClientIntake], list[Busy]]:
    """Read every (or the named) client's accounts, store the tasks, return intakes + own busy."""
    chosen = [config.client(c) for c in client_ids] if client_ids else list(config.clients)
    intakes: list[ClientIntake] = []
    steps = sum(len(c.calendars) + len(c.mailboxes) for c in chosen) + len(config.assistants)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=fmt is not OutputFormat.TABLE,
    ) as progress:
        bar = progress.add_task("reading calendars and mailboxes", total=steps)
        for client_config in chosen:

            def advance(account: str, client_id: str = client_config.id) -> None:
                progress.update(bar, advance=1, description=f"read {client_id}/{account}")

            intake = collect_client(
                config, client_config, start=start, end=end, now=now, progress=advance
            )
            client_store = store.for_client(intake.client.id)
            client_store.upsert_tasks(intake.tasks, now=now)
            for item in intake.quarantined:
                client_store.quarantine(str(item.origin), item.reason, now=now)
            intakes.append(intake)
        busy: list[Busy] = []
        for assistant in config.assistants:
            own, _reports = collect_assistant_busy(config, assistant, start=start, end=end)
            busy.extend(own)
            progress.update(bar, advance=1, description=f"read {assistant.id}'s calendar")
    return intakes, busy


def solve(
    problem: PlanningProblem,
    limits: PlanLimits,
    *,
    now: datetime,
    console: Console,
    fmt: OutputFormat,
    previous: Plan | None = None,
    frozen_until: datetime | None = None,
) -> Plan:
    """Run the planner; people see the best objective and bound improve while it searches."""
    if fmt is not OutputFormat.TABLE:
        return plan(problem, limits, now=now, previous=previous, frozen_until=frozen_until)
    with console.status("planning…", spinner="dots") as status:

        def progress(objective: float, bound: float | None) -> None:
            shown = f", bound {bound:g}" if bound is not None else ""
            status.update(f"planning… best objective {objective:g}{shown}")

        return plan(
            problem,
            limits,
            now=now,
            previous=previous,
            frozen_until=frozen_until,
            progress=progress,
        )
