"""Turn config + collected client data into a planning problem, for the CLI and the daemon."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from va_engine.errors import NotFoundError
from va_engine.model import Busy, PlanningProblem, Task
from va_engine.obligations import DEFAULT_RESOURCE, ObligationOccurrence, expand
from va_engine.planner.year import Period, plan_year, public_holidays, week_tasks
from va_engine.settings import Config
from va_engine.workflows.intake import ClientIntake

__all__ = [
    "build_problem",
    "business_problem",
    "horizon",
    "week_start",
    "year_problem",
    "year_tasks_for_week",
]


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
    extra_tasks: Sequence[Task] = (),
) -> PlanningProblem:
    """The assistants' problem: every client's tasks, habits and busy time in one week.

    ``extra_tasks`` are added as they are: e.g. the year plan's items for the week.
    Busy time of other assistants is left out; a client's own busy time stays (it
    blocks only that client's client-facing tasks, see :class:`~va_engine.model.Busy`).
    """
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
    for task in (*(t for intake in intakes for t in intake.tasks), *extra_tasks):
        if task.release and task.release >= end:
            continue  # not yet released this period
        if task.assistant_id and task.assistant_id not in ids:
            continue  # someone else's work
        tasks.append(task)
    # an assistant's busy time counts for her; a client's own busy time (no
    # assistant) is kept too: it blocks that client's calls, meetings and visits
    busy = [
        b
        for b in (*assistant_busy, *(b for intake in intakes for b in intake.busy))
        if b.end > start
        and b.start < end
        and (b.assistant_id in ids or (b.assistant_id is None and b.client_id is not None))
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


def year_problem(
    config: Config, year: int, *, client_ids: list[str] | None = None
) -> tuple[
    list[ObligationOccurrence],
    dict[str, float],
    dict[date, str],
    dict[str, list[Period]],
    dict[str, list[Period]],
]:
    """Occurrences, capacities, holidays, vacations and no-contact periods from the config."""
    chosen = [config.client(c) for c in client_ids] if client_ids else list(config.clients)
    occurrences: list[ObligationOccurrence] = []
    capacity: dict[str, float] = {DEFAULT_RESOURCE: config.engine.year_hours_per_week}
    no_contact: dict[str, list[Period]] = {}
    countries: set[str] = set()
    for client_config in chosen:
        client = client_config.to_model(config.engine.timezone)
        occurrences.extend(expand(client_config.obligations, year, client.timezone, client=client))
        own = f"client:{client.id}"
        if any(o.resource == own for o in occurrences):
            capacity[own] = client_config.own_hours_per_week
        no_contact[client.id] = [Period(start=r.start, end=r.end) for r in client_config.no_contact]
        countries.add(client_config.country)
    holidays: dict[date, str] = {}
    for country in sorted(countries or {"NL"}):
        holidays.update(public_holidays(country, (year - 1, year, year + 1)))
    vacations = {
        DEFAULT_RESOURCE: [
            Period(start=r.start, end=r.end) for a in config.assistants for r in a.vacations
        ]
    }
    return occurrences, capacity, holidays, vacations, no_contact


def year_tasks_for_week(
    config: Config,
    week_monday: date,
    *,
    now: datetime,
    client_ids: Sequence[str] | None = None,
    time_limit_s: float = 2.0,
) -> list[Task]:
    """The year plan's items for one week, as tasks: the hand-off from year to week.

    The year containing the week's Thursday (ISO rule) is levelled, so the last
    days of December plan against the right year.
    """
    year = (week_monday + timedelta(days=3)).year
    occurrences, capacity, holidays, vacations, no_contact = year_problem(
        config, year, client_ids=list(client_ids) if client_ids else None
    )
    if not occurrences:
        return []
    plan = plan_year(
        occurrences,
        capacity,
        year=year,
        holidays=holidays,
        vacations=vacations,
        no_contact=no_contact,
        time_limit_s=time_limit_s,
        now=now,
    )
    return week_tasks(plan, week_monday, config.engine.timezone)
