"""Turn config + collected client data into a planning problem, for the CLI and the daemon."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from va_engine.errors import NotFoundError
from va_engine.model import Busy, PlanningProblem, Task
from va_engine.settings import Config
from va_engine.workflows.intake import ClientIntake

__all__ = ["build_problem", "business_problem", "horizon", "week_start"]


def week_start(day: date) -> date:
    """Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def horizon(kind: str, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of the day or the ISO week containing ``day``, as local midnights.

    Built from wall-clock midnights, so a week that crosses a DST change is
    167 or 169 hours long, as it really is.
    """
    if kind == "day":
        first, days = day, 1
    elif kind == "week":
        first, days = week_start(day), 7
    else:
        raise ValueError(f"unknown horizon {kind!r}: use 'day' or 'week'")
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(first + timedelta(days=days), time(0), tzinfo=tz)
    return start, end


def build_problem(
    config: Config,
    intakes: Sequence[ClientIntake],
    assistant_busy: Sequence[Busy],
    *,
    start: datetime,
    end: datetime,
    assistant_ids: Sequence[str] | None = None,
) -> PlanningProblem:
    """The assistants' problem: every client's tasks, habits and busy time in one week."""
    assistants = config.assistant_models()
    if assistant_ids:
        known = {a.id for a in assistants}
        unknown = [a for a in assistant_ids if a not in known]
        if unknown:
            raise NotFoundError(
                f"unknown assistant {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        assistants = [a for a in assistants if a.id in assistant_ids]
    ids = {a.id for a in assistants}
    tasks: list[Task] = []
    for intake in intakes:
        for task in intake.tasks:
            if task.release and task.release >= end:
                continue  # not yet released this period
            if task.assistant_id and task.assistant_id not in ids:
                continue  # someone else's work
            tasks.append(task)
    busy = [
        b
        for b in (*assistant_busy, *(b for intake in intakes for b in intake.busy))
        if b.end > start and b.start < end and b.assistant_id in ids
    ]
    return PlanningProblem(
        start=start,
        end=end,
        assistants=tuple(assistants),
        tasks=tuple(tasks),
        busy=tuple(busy),
        clients=tuple(intake.client for intake in intakes),
        habits=tuple(h for intake in intakes for h in intake.habits),
    )


def business_problem(
    config: Config, client_id: str, *, start: datetime, end: datetime
) -> PlanningProblem:
    """A client's own field work: its staff visit its customers (``plan --business``)."""
    client_config = config.client(client_id)
    business = client_config.business
    if business is None or not business.staff:
        raise NotFoundError(
            f"client {client_id!r} has no [business] staff in its config",
            hint="add [business] staff = [...] and visits = [...] to the client file",
        )
    tz_name = client_config.timezone or config.engine.timezone
    staff = [member.to_model(tz_name) for member in business.staff]
    # The client is the one planning here, so their own reachability windows do
    # not apply: the problem carries no Client, only staff and visits.
    return PlanningProblem(
        start=start,
        end=end,
        assistants=tuple(staff),
        tasks=tuple(_visit_tasks(config, client_id)),
    )


def _visit_tasks(config: Config, client_id: str) -> list[Task]:
    client_config = config.client(client_id)
    assert client_config.business is not None
    scratch = client_config.model_copy(update={"tasks": client_config.business.visits})
    return scratch.manual_tasks(config.engine.timezone)
