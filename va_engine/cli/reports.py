"""``va-engine log``, ``assign``, ``report ledger|session|delegate`` and ``handover``.

Thin: parse options, read the store and config, call the pure core
(:mod:`va_engine.ledger`, :mod:`va_engine.delegation`, :mod:`va_engine.handover`)
and render. JSON output is the core's models as they are (each report carries
its ``schema_id``); tables go through rich, charts through plotext (terminal)
and matplotlib (PNG inside HTML). Reports only ever read the named client's
rows, through :meth:`~va_engine.store.Store.for_client`.
"""

from __future__ import annotations

import base64
import csv
import io
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import ValidationError as PydanticValidationError
from rich.console import Console
from rich.text import Text

from va_engine.assignments import Assignment
from va_engine.cli.app import app
from va_engine.cli.render import OutputFormat, emit, make_table, to_jsonable
from va_engine.cli.state import get_state
from va_engine.delegation import (
    RECOMMENDATION_TEXT,
    DelegationReport,
    analyse,
    parse_questionnaire,
    parse_questionnaire_csv,
    questionnaire_from_history,
)
from va_engine.errors import ConfigError, ValidationError
from va_engine.handover import (
    TEMPLATES,
    HandoverContent,
    build_handover,
    write_handover,
)
from va_engine.ledger import SCHEMA as LEDGER_SCHEMA
from va_engine.ledger import ClientLedger, boundary_signals, client_ledger, parse_seed
from va_engine.model import Client, Habit, LedgerEntry, Mode, SupportLevel
from va_engine.obligations import Obligation
from va_engine.settings import ClientConfig, Config, HabitConfig
from va_engine.store import Store

__all__ = [
    "DemoReports",
    "demo_reports",
    "load_ledger_seed",
    "render_delegation",
    "render_demo_reports",
    "render_demo_summary",
    "render_ledger",
    "report_app",
]

report_app = typer.Typer(help="Reports: ledger, session, delegation.", no_args_is_help=True)
app.add_typer(report_app, name="report")

SESSION_SCHEMA = "va-engine/session/1"


class LedgerFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MD = "md"


class DocFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MD = "md"
    HTML = "html"


ClientOption = Annotated[str, typer.Option("--client", help="Client id.")]
LEVEL_SHORT = {
    SupportLevel.TAKE_OVER: "take over",
    SupportLevel.INSTRUCT: "instruct",
    SupportLevel.GUIDE: "guide",
    SupportLevel.COACH: "coach",
    SupportLevel.LEAVE_TO_CLIENT: "alone",
}


def _day(text: str | None, option: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option} {text!r} is not a date: use YYYY-MM-DD") from None


def _client(config: Config, client_id: str) -> tuple[ClientConfig, Client]:
    raw = config.client(client_id)
    return raw, raw.to_model(config.engine.timezone)


def _actor(config: Config) -> str:
    return config.assistants[0].id if config.assistants else "cli"


def _hours(minutes: float) -> str:
    return f"{minutes / 60:.1f} h"


def _print_text(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True, end="")


# --- log ----------------------------------------------------------------------------------


@app.command("log")
def log(
    ctx: typer.Context,
    client: ClientOption,
    task: Annotated[str | None, typer.Option("--task", help="What was done.")] = None,
    minutes: Annotated[int | None, typer.Option("--minutes", min=1)] = None,
    mode: Annotated[Mode, typer.Option("--mode", help="for: done for; taught: taught to.")] = (
        Mode.FOR
    ),
    level: Annotated[SupportLevel, typer.Option("--level")] = SupportLevel.TAKE_OVER,
    kind: Annotated[str, typer.Option("--kind")] = "admin",
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default today).")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="HH:MM local start (checks reachability).")
    ] = None,
    billable: Annotated[bool, typer.Option("--billable/--not-billable")] = True,
    note: Annotated[str, typer.Option("--note")] = "",
    delete: Annotated[
        int | None, typer.Option("--delete", help="Delete entry ID (kept in the audit trail).")
    ] = None,
) -> None:
    """Log work done for, or taught to, a client (or delete an entry with --delete)."""
    state = get_state(ctx)
    config = state.config()
    _, model = _client(config, client)
    now = state.now()
    with state.open_store() as store:
        cs = store.for_client(model.id)
        if delete is not None:
            cs.delete_entry(delete, actor=_actor(config), now=now)
            state.console.print(f"deleted ledger entry {delete} of {model.id} (audited)")
            return
        if task is None or minutes is None:
            raise ValidationError("log needs --task and --minutes (or --delete ID)")
        when = _day(day, "--date", now.astimezone(model.tz).date())
        entry = LedgerEntry(
            client_id=model.id,
            task=task,
            day=when,
            minutes=minutes,
            mode=mode,
            level=level,
            kind=kind,
            billable=billable,
            note=note,
        )
        entry_id = cs.add_entry(entry, actor=_actor(config), now=now)
        if at is not None and entry_id is not None:
            try:
                start = datetime.combine(when, time.fromisoformat(at), tzinfo=model.tz)
            except ValueError:
                raise ValidationError(f"--at {at!r} is not a time: use HH:MM") from None
            cs.set_entry_start(entry_id, start)
        # Say it at once when this entry crosses an agreed boundary (that day's view).
        signals = boundary_signals(
            cs.entries(start=when, end=when), model, starts=cs.entry_starts()
        )
    state.console.print(
        f"logged #{entry_id}: {model.id} {when.isoformat()} {minutes} min {mode.value} "
        f"({level.value}) {task}",
        highlight=False,
    )
    for signal in signals:
        if signal.code == "overrun" or signal.subject == task:
            state.console.print(
                f"[yellow]boundary:[/] {signal.code}: {signal.detail}", highlight=False
            )


# --- assign -------------------------------------------------------------------------------


@app.command("assign")
def assign(
    ctx: typer.Context,
    client: ClientOption,
    task: Annotated[str | None, typer.Option("--task", help="The assignment.")] = None,
    due: Annotated[str | None, typer.Option("--due", help="YYYY-MM-DD")] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="RRULE, e.g. FREQ=WEEKLY;BYDAY=FR")
    ] = None,
    kind: Annotated[str, typer.Option("--kind")] = "admin",
    minutes: Annotated[int, typer.Option("--minutes", min=1)] = 15,
    list_: Annotated[bool, typer.Option("--list", help="Show the assignments.")] = False,
    done: Annotated[int | None, typer.Option("--done", help="Assignment ID was done.")] = None,
    missed: Annotated[int | None, typer.Option("--missed", help="Assignment ID was not.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.TABLE,
) -> None:
    """Give the client an assignment, record done/not done, or list them."""
    state = get_state(ctx)
    config = state.config()
    _, model = _client(config, client)
    now = state.now()
    today = now.astimezone(model.tz).date()
    with state.open_store() as store:
        cs = store.for_client(model.id)
        if done is not None or missed is not None:
            number = done if done is not None else missed
            assert number is not None
            entry_id = cs.record_assignment(
                number, done=done is not None, day=today, actor=_actor(config), now=now
            )
            what = "done" if done is not None else "not done"
            extra = f" → ledger entry #{entry_id}" if entry_id else ""
            state.console.print(f"assignment {number}: {what}{extra}", highlight=False)
            return
        if not list_:
            if task is None or due is None:
                raise ValidationError("assign needs --task and --due (or --list/--done/--missed)")
            try:
                assignment = Assignment(
                    client_id=model.id,
                    task=task,
                    kind=kind,
                    due=_day(due, "--due", today),
                    every=every,
                    minutes=minutes,
                    level=model.level_for(kind)
                    if model.level_for(kind) is not SupportLevel.TAKE_OVER
                    else SupportLevel.LEAVE_TO_CLIENT,
                )
            except PydanticValidationError as exc:
                raise ValidationError(str(exc.errors()[0]["msg"])) from None
            number = cs.add_assignment(assignment, actor=_actor(config), now=now)
            state.console.print(
                f"assignment {number} for {model.id}: {task}, due {assignment.due.isoformat()}"
                + (f", repeats {assignment.every}" if assignment.every else ""),
                highlight=False,
            )
            return
        items = cs.assignments()

    def render(console: Console) -> None:
        console.print(
            make_table(
                f"Assignments of {model.name}",
                ["id", "task", "due", "repeats", "status", "done", "missed"],
                [
                    (a.id, a.task, a.due, a.every or "", a.status, a.done_count, a.missed_count)
                    for a in items
                ],
            )
        )

    emit(state.console, fmt, items, render)


# --- report ledger ------------------------------------------------------------------------


def _ledgers(
    config: Config,
    store: Store,
    client_ids: Sequence[str] | None,
    *,
    now: datetime,
    start: date | None,
    end: date | None,
) -> list[ClientLedger]:
    chosen = [config.client(c) for c in client_ids] if client_ids else list(config.clients)
    result = []
    for raw in chosen:
        model = raw.to_model(config.engine.timezone)
        cs = store.for_client(model.id)
        result.append(
            client_ledger(
                model, cs.entries(), now=now, start=start, end=end, starts=cs.entry_starts()
            )
        )
    return result


def render_ledger(
    console: Console, ledgers: Sequence[ClientLedger], *, short: bool = False
) -> None:
    """The ledger report as rich tables; ``short`` is the demo's one-screen summary."""
    rows = []
    for led in ledgers:
        index = {p.month: p for p in led.independence}
        for m in led.months:
            point = index.get(m.month)
            rows.append(
                (
                    led.client_id,
                    m.month,
                    _hours(m.for_minutes),
                    _hours(m.taught_minutes),
                    _hours(m.client_own_minutes) if m.client_own_minutes else "",
                    _hours(m.total_minutes),
                    f"{point.index:.0%} ({point.alone}/{point.recurring})"
                    if point and point.recurring
                    else "—",
                )
            )
    console.print(
        make_table(
            "Hours per month: done for vs taught",
            ["client", "month", "for", "taught", "client alone", "total", "independence"],
            rows[-6:] if short else rows,
        )
    )
    for led in ledgers:
        if not led.levels:
            continue
        months = sorted({m for t in led.levels for m in t.levels})
        if short:
            months = months[-4:]
        level_rows = [
            (
                t.kind,
                *(LEVEL_SHORT[t.levels[m]] if m in t.levels else "·" for m in months),
                f"↓{t.progress}" if t.progress > 0 else (f"↑{-t.progress}" if t.progress else "="),
            )
            for t in led.levels
        ]
        console.print(
            make_table(
                f"Support level per kind: {led.client_id}",
                ["kind", *months, "progress"],
                level_rows,
                caption="↓n: n steps down the ladder (towards alone)",
            )
        )
    budget_rows = []
    for led in ledgers:
        b = led.budget
        if b is None:
            continue
        warn = "; ".join(b.warnings)
        style = "red" if b.share >= 1 else ("yellow" if warn else "green")
        budget_rows.append(
            (
                led.client_id,
                f"{b.period} {b.start.isoformat()}",
                f"{_hours(b.used_minutes)} / {_hours(b.budget_minutes)}",
                _hours(b.remaining_minutes),
                f"[{style}]{b.share:.0%}[/]",
                b.exhaustion.isoformat() if b.exhaustion else "not this period",
                f"[{style}]{warn}[/]" if warn else "",
            )
        )
    if budget_rows:
        console.print(
            make_table(
                "Hour budgets",
                ["client", "period", "used", "remaining", "share", "runs out", "warning"],
                budget_rows,
            )
        )
    signal_rows = [
        (led.client_id, s.day.isoformat(), s.code, s.subject, s.detail)
        for led in ledgers
        for s in led.signals
    ]
    if short:
        signal_rows = signal_rows[-5:]
    if signal_rows:
        console.print(
            make_table(
                "Boundary signals", ["client", "day", "signal", "about", "detail"], signal_rows
            )
        )
    elif not short:
        console.print("No boundary signals.")


def _ledger_json(ledgers: Sequence[ClientLedger], now: datetime) -> dict[str, Any]:
    return {
        "schema_id": LEDGER_SCHEMA,
        "generated": now,
        "clients": [
            {
                **to_jsonable(led),
                "for_minutes": led.for_minutes,
                "taught_minutes": led.taught_minutes,
                "independence_index": led.current_index,
            }
            for led in ledgers
        ],
    }


def _ledger_csv(ledgers: Sequence[ClientLedger]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "client",
            "month",
            "for_hours",
            "taught_hours",
            "client_alone_hours",
            "billable_hours",
            "independence_index",
        ]
    )
    for led in ledgers:
        index = {p.month: p.index for p in led.independence}
        for m in led.months:
            writer.writerow(
                [
                    led.client_id,
                    m.month,
                    f"{m.for_minutes / 60:.2f}",
                    f"{m.taught_minutes / 60:.2f}",
                    f"{m.client_own_minutes / 60:.2f}",
                    f"{m.billable_minutes / 60:.2f}",
                    index.get(m.month, ""),
                ]
            )
    return out.getvalue()


def _ledger_md(ledgers: Sequence[ClientLedger]) -> str:
    lines: list[str] = ["# Ledger report", ""]
    for led in ledgers:
        lines += [f"## {led.name}", "", "| month | for | taught | client alone | independence |"]
        lines.append("|---|---|---|---|---|")
        index = {p.month: p.index for p in led.independence}
        for m in led.months:
            share = index.get(m.month)
            lines.append(
                f"| {m.month} | {_hours(m.for_minutes)} | {_hours(m.taught_minutes)} | "
                f"{_hours(m.client_own_minutes)} | {'' if share is None else f'{share:.0%}'} |"
            )
        lines.append("")
        for track in led.levels:
            path = " → ".join(f"{m} {LEVEL_SHORT[v]}" for m, v in track.levels.items())
            lines.append(f"- **{track.kind}**: {path}")
        if led.budget:
            b = led.budget
            lines += [
                "",
                f"Budget ({b.period} from {b.start.isoformat()}): {_hours(b.used_minutes)} of "
                f"{_hours(b.budget_minutes)} used, {_hours(b.remaining_minutes)} left"
                + (f"; runs out {b.exhaustion.isoformat()}" if b.exhaustion else "")
                + ("".join(f"\n- **{w}**" for w in b.warnings)),
            ]
        if led.signals:
            lines += ["", "Boundary signals:", ""]
            lines += [
                f"- {s.day.isoformat()} {s.code}: {s.subject}: {s.detail}" for s in led.signals
            ]
        lines.append("")
    return "\n".join(lines)


@report_app.command("ledger")
def report_ledger(
    ctx: typer.Context,
    client: Annotated[
        list[str] | None, typer.Option("--client", help="Only these clients.")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
    fmt: Annotated[LedgerFormat, typer.Option("--format", "-f")] = LedgerFormat.TABLE,
) -> None:
    """Hours for vs taught, support levels, independence, budgets and boundary signals."""
    state = get_state(ctx)
    config = state.config()
    now = state.now()
    start = _day(from_, "--from", date.min) if from_ else None
    end = _day(to, "--to", date.max) if to else None
    with state.open_store() as store:
        ledgers = _ledgers(config, store, client, now=now, start=start, end=end)
    if fmt is LedgerFormat.CSV:
        _print_text(state.console, _ledger_csv(ledgers))
    elif fmt is LedgerFormat.MD:
        _print_text(state.console, _ledger_md(ledgers))
    else:
        emit(
            state.console,
            OutputFormat(fmt.value),
            _ledger_json(ledgers, now),
            lambda console: render_ledger(console, ledgers),
        )


# --- report session -----------------------------------------------------------------------


def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def session_data(
    model: Client, entries: Sequence[LedgerEntry], assignments: Sequence[Assignment], day: date
) -> dict[str, Any]:
    """One session's what-was-done, what-was-taught, agreements, next steps and hours."""
    today = [e for e in entries if e.day == day and e.source != "assignment"]
    given = [a for a in assignments if a.created == day]
    upcoming = [a for a in assignments if a.status == "open" and a.due >= day]
    own = [e for e in entries if e.day == day and e.source == "assignment"]
    return {
        "schema_id": SESSION_SCHEMA,
        "client": {"id": model.id, "name": model.name},
        "date": day,
        "done": [
            {"task": e.task, "kind": e.kind, "minutes": e.minutes, "note": e.note}
            for e in today
            if e.mode is Mode.FOR
        ],
        "taught": [
            {
                "task": e.task,
                "kind": e.kind,
                "minutes": e.minutes,
                "level": e.level,
                "note": e.note,
            }
            for e in today
            if e.mode is Mode.TAUGHT
        ],
        "client_did": [{"task": e.task, "minutes": e.minutes} for e in own],
        "agreements": [{"task": a.task, "due": a.due, "every": a.every or ""} for a in given],
        "next_steps": [{"task": a.task, "due": a.due, "every": a.every or ""} for a in upcoming],
        "minutes": sum(e.minutes for e in today),
        "billable_minutes": sum(e.minutes for e in today if e.billable),
    }


@report_app.command("session")
def report_session(
    ctx: typer.Context,
    client: ClientOption,
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default today).")] = None,
    fmt: Annotated[DocFormat, typer.Option("--format", "-f")] = DocFormat.TABLE,
) -> None:
    """One session or visit: done, taught, agreements made, next steps, hours."""
    state = get_state(ctx)
    config = state.config()
    _, model = _client(config, client)
    now = state.now()
    when = _day(day, "--date", now.astimezone(model.tz).date())
    with state.open_store() as store:
        cs = store.for_client(model.id)
        data = session_data(model, cs.entries(start=when, end=when), cs.assignments(), when)
    if fmt in (DocFormat.MD, DocFormat.HTML):
        name = "session.md.j2" if fmt is DocFormat.MD else "session.html.j2"
        env = _templates()
        env.autoescape = fmt is DocFormat.HTML
        _print_text(state.console, env.get_template(name).render(s=data) + "\n")
        return

    def render(console: Console) -> None:
        console.print(
            f"[bold]Session {model.name}[/] — {when:%A %d %B %Y}, "
            f"{_hours(data['minutes'])} ({_hours(data['billable_minutes'])} billable)",
            highlight=False,
        )
        console.print(
            make_table(
                "Done for the client",
                ["task", "kind", "min", "note"],
                [(d["task"], d["kind"], d["minutes"], d["note"]) for d in data["done"]],
            )
        )
        console.print(
            make_table(
                "Taught",
                ["task", "kind", "min", "level", "note"],
                [
                    (d["task"], d["kind"], d["minutes"], LEVEL_SHORT[d["level"]], d["note"])
                    for d in data["taught"]
                ],
            )
        )
        steps = [("agreed", a["task"], a["due"], a["every"]) for a in data["agreements"]] + [
            ("next", a["task"], a["due"], a["every"]) for a in data["next_steps"]
        ]
        if steps:
            console.print(
                make_table("Agreements and next steps", ["", "task", "due", "repeats"], steps)
            )
        else:
            console.print("No agreements or next steps recorded (va-engine assign).")

    emit(state.console, OutputFormat(fmt.value), data, render)


# --- report delegate ----------------------------------------------------------------------


def _read_questionnaire(path: Path, **defaults: Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".csv":
            clean = {k: v for k, v in defaults.items() if v is not None}
            return parse_questionnaire_csv(text, origin=path.name, defaults=clean)
        data = tomllib.loads(text)
        head = dict(data.get("entrepreneur", {}))
        head.update({k: v for k, v in defaults.items() if v is not None})
        return parse_questionnaire({**data, "entrepreneur": head}, origin=path.name)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def delegation_for(
    config: Config,
    store: Store | None,
    *,
    client: str | None,
    input_file: Path | None,
    months: int,
    own_rate: float | None,
    va_rate: float | None,
    now: datetime,
) -> DelegationReport:
    """The delegation report from a questionnaire file, the client's own one, or history."""
    path = input_file
    model: Client | None = None
    if client is not None:
        _, model = _client(config, client)
        own_file = config.resolve_path(Path("data") / model.id / "delegation.toml")
        if path is None and own_file.exists():
            path = own_file
    if path is not None:
        questionnaire = _read_questionnaire(
            path,
            own_rate=own_rate,
            va_rate=va_rate if va_rate is not None else None,
        )
    elif model is not None and store is not None:
        cs = store.for_client(model.id)
        questionnaire = questionnaire_from_history(
            model,
            cs.task_history(),
            cs.entries(),
            now=now,
            months=months,
            own_rate=own_rate if own_rate is not None else 75.0,
            va_rate=va_rate,
        )
    else:
        raise ValidationError("report delegate needs --client C or --input FILE")
    return analyse(questionnaire, months=months)


def _bar_chart(report: DelegationReport, width: int) -> str:
    import plotext as plt  # type: ignore[import-untyped]

    cats = [c for c in report.categories if c.hours_per_month > 0]
    plt.clear_figure()
    plt.simple_bar(
        [c.category for c in cats],
        [round(c.hours_per_month, 1) for c in cats],
        width=min(width, 100),
        title="hours per month by category",
    )
    text = plt.build()
    plt.clear_figure()
    return str(text)


def render_delegation(
    console: Console, report: DelegationReport, *, chart: bool = True, short: bool = False
) -> None:
    """The delegation report as a table, a bar chart and the totals; ``short`` drops the why."""
    title = f"What to delegate: {report.name}" if report.name else "What to delegate"
    if not report.categories:
        console.print(
            f"{title}: nothing to analyse in the {report.source}; sync the client's "
            "calendars and mail first, or pass a questionnaire with --input FILE",
            highlight=False,
        )
        return
    cur = report.currency
    console.print(
        make_table(
            f"{title} ({report.source}; own rate {cur} {report.own_rate:g}/h, "
            f"VA {cur} {report.va_rate:g}/h)",
            ["category", "h/month", "costs you", "VA cost", "saves", "score", "advice", "why"][
                : 7 if short else 8
            ],
            [
                (
                    c.category,
                    f"{c.hours_per_month:.1f}",
                    f"{c.own_cost:,.0f}",
                    f"{c.va_cost:,.0f}",
                    f"{c.savings:,.0f}",
                    c.score,
                    RECOMMENDATION_TEXT[c.recommendation],
                    *(() if short else ("; ".join(c.reasons),)),
                )
                for c in report.categories
            ],
        )
    )
    if chart and report.categories:
        console.print(Text.from_ansi(_bar_chart(report, console.width)))
    console.print(f"[bold]{report.summary}[/]", highlight=False)
    if report.goals:
        console.print("Goals: " + "; ".join(report.goals), highlight=False)


def _png_chart(report: DelegationReport) -> str:
    """A horizontal bar chart (hours vs savings) as a base64 PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    cats = list(reversed(report.categories))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(cats) + 1.2), dpi=110)
    try:
        ax.barh([c.category for c in cats], [c.hours_per_month for c in cats], color="#9bb7a4")
        ax.barh(
            [c.category for c in cats],
            [c.delegable_hours for c in cats],
            color="#2b4c3f",
            label="delegable",
        )
        ax.set_xlabel("hours per month")
        ax.legend(loc="lower right")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def delegation_md(report: DelegationReport) -> str:
    return _templates().get_template("delegation.md.j2").render(r=report, text=RECOMMENDATION_TEXT)


def delegation_html(report: DelegationReport) -> str:
    return (
        _templates()
        .get_template("delegation.html.j2")
        .render(r=report, text=RECOMMENDATION_TEXT, chart=_png_chart(report))
    )


@report_app.command("delegate")
def report_delegate(
    ctx: typer.Context,
    client: Annotated[str | None, typer.Option("--client", help="Client id.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", help="Questionnaire (.toml or .csv).")
    ] = None,
    months: Annotated[int, typer.Option("--months", min=1, help="Period to look at.")] = 3,
    own_rate: Annotated[float | None, typer.Option("--own-rate", help="Your hourly value.")] = None,
    va_rate: Annotated[float | None, typer.Option("--va-rate", help="The VA's rate.")] = None,
    fmt: Annotated[DocFormat, typer.Option("--format", "-f")] = DocFormat.TABLE,
) -> None:
    """What should I delegate? Hours, cost, savings and advice per category."""
    state = get_state(ctx)
    config = state.config()
    now = state.now()
    store = state.store() if client is not None and input_file is None else None
    try:
        report = delegation_for(
            config,
            store,
            client=client,
            input_file=input_file,
            months=months,
            own_rate=own_rate,
            va_rate=va_rate,
            now=now,
        )
    finally:
        if store is not None:
            store.close()
    if fmt is DocFormat.MD:
        _print_text(state.console, delegation_md(report) + "\n")
    elif fmt is DocFormat.HTML:
        _print_text(state.console, delegation_html(report) + "\n")
    else:
        emit(
            state.console,
            OutputFormat(fmt.value),
            report,
            lambda console: render_delegation(console, report),
        )


# --- handover -----------------------------------------------------------------------------


def _handover_content(config: Config, client_id: str, path: Path | None) -> HandoverContent:
    target = path or config.resolve_path(Path("data") / client_id / "handover.toml")
    if not target.exists():
        if path is not None:
            raise ConfigError(f"{path} does not exist")
        return HandoverContent()
    try:
        return HandoverContent.model_validate(tomllib.loads(target.read_text(encoding="utf-8")))
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{target}: {str(exc).splitlines()[0]}") from None


def _handover_inputs(
    config: Config, raw: ClientConfig, model: Client, content: HandoverContent
) -> tuple[list[Habit], list[Obligation]]:
    from va_engine.catalogue import catalogue_obligations

    try:
        habits = [h.to_model(model.id) for h in raw.habits] + [
            HabitConfig.model_validate(h).to_model(model.id) for h in content.habits
        ]
        obligations = [Obligation.model_validate(o) for o in raw.obligations]
        obligations += catalogue_obligations(content.catalogue) if content.catalogue else []
        obligations += [Obligation.model_validate(o) for o in content.obligations]
    except ValueError as exc:
        raise ConfigError(
            f"handover input of {model.id}: {str(exc).splitlines()[0]}",
            hint=f"check data/{model.id}/handover.toml and the client file",
        ) from None
    # The client file and the binder may both name an obligation: the client file wins.
    unique = list({o.name: o for o in reversed(obligations)}.values())[::-1]
    return habits, unique


@app.command("handover")
def handover(
    ctx: typer.Context,
    client: ClientOption,
    out: Annotated[Path, typer.Option("--out", help="Directory for the files.")],
    weeks: Annotated[int, typer.Option("--weeks", min=1, help="Weeks the routine repeats.")] = 12,
    content: Annotated[
        Path | None,
        typer.Option("--content", help="Binder text (default data/<client>/handover.toml)."),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf")] = True,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.TABLE,
) -> None:
    """Hand over the finished schedule: schedule.ics, handover.md/.html/.pdf; plan aftercare."""
    state = get_state(ctx)
    config = state.config()
    raw, model = _client(config, client)
    now = state.now()
    text = _handover_content(config, model.id, content)
    habits, obligations = _handover_inputs(config, raw, model, text)
    assistant = next(
        (a for a in config.assistant_models() if a.id == raw.assistant),
        config.assistant_models()[0] if config.assistants else None,
    )
    with state.open_store() as store:
        cs = store.for_client(model.id)
        result = build_handover(
            model,
            habits=habits,
            obligations=obligations,
            entries=cs.entries(),
            content=text,
            now=now,
            weeks=weeks,
            assistant=assistant,
        )
        files = write_handover(result, out, now=now, pdf=pdf)
        added, _changed = cs.upsert_tasks(list(result.aftercare), now=now)
    data = {
        "client": model.id,
        "files": {k: str(v) for k, v in files.items()},
        "routine": len(result.routine),
        "obligations": len(result.obligations),
        "aftercare": [
            {"task": t.title, "from": t.release, "due": t.deadline} for t in result.aftercare
        ],
        "aftercare_added": added,
    }

    def render(console: Console) -> None:
        console.print(
            f"[bold]Handover for {model.name}[/]: {len(result.routine)} weekly slots × "
            f"{weeks} weeks, {len(result.obligations)} obligations, "
            f"{len(result.taught)} tasks taught",
            highlight=False,
        )
        for kind, path in files.items():
            console.print(f"  {kind:5} {path}", highlight=False)
        console.print(
            make_table(
                "Aftercare check-ins added to the assistant's plan",
                ["from", "due", "task"],
                [
                    (
                        t.release.date() if t.release else "",
                        t.deadline.date() if t.deadline else "",
                        t.title,
                    )
                    for t in result.aftercare
                ],
            )
        )

    emit(state.console, fmt, data, render)


# --- demo ---------------------------------------------------------------------------------


def load_ledger_seed(config: Config, store: Store, *, today: date, now: datetime) -> int:
    """Load every client's ``data/<id>/ledger-seed.toml`` into ``store``; returns rows written.

    The example seeds are dated before the reference week and move with it
    (:func:`va_engine.examples.week_shift`), like the example calendars. Run
    keys make a second load write nothing.
    """
    from va_engine.examples import week_shift

    written = 0
    for raw in config.clients:
        path = config.resolve_path(Path("data") / raw.id / "ledger-seed.toml")
        if not path.exists():
            continue
        model = raw.to_model(config.engine.timezone)
        try:
            rows = parse_seed(
                tomllib.loads(path.read_text(encoding="utf-8")),
                tz=model.tz,
                client_id=model.id,
                shift=week_shift(today),
            )
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        cs = store.for_client(model.id)
        for number, (entry, start) in enumerate(rows, start=1):
            entry_id = cs.add_entry(entry, actor="seed", now=now, run_key=f"seed:{number}")
            if entry_id is not None:
                written += 1
                if start is not None:
                    cs.set_entry_start(entry_id, start)
    return written


@dataclass(frozen=True)
class DemoReports:
    """What the demo shows at its end: the ledger of one client and its delegation report."""

    ledgers: tuple[ClientLedger, ...]
    delegation: DelegationReport
    now: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "ledger": _ledger_json(self.ledgers, self.now),
            "delegation": to_jsonable(self.delegation),
        }


def demo_reports(
    config: Config,
    store: Store,
    now: datetime,
    *,
    client_id: str = "hoefslag",
    seed: bool = True,
) -> DemoReports | None:
    """Load the example ledger seed (``seed=True``) and compute the demo's reports.

    None when the config has no such client (a user's own config in ``demo --config``).
    """
    if client_id not in {c.id for c in config.clients}:
        return None
    if seed:
        load_ledger_seed(config, store, today=now.date(), now=now)
    ledgers = _ledgers(config, store, [client_id], now=now, start=None, end=None)
    report = delegation_for(
        config,
        store,
        client=client_id,
        input_file=None,
        months=3,
        own_rate=None,
        va_rate=None,
        now=now,
    )
    return DemoReports(ledgers=tuple(ledgers), delegation=report, now=now)


def render_demo_summary(console: Console, reports: DemoReports) -> None:
    """The short ledger summary and the delegation report, as the demo's last screen."""
    console.rule(f"Ledger: {reports.ledgers[0].name}")
    render_ledger(console, reports.ledgers, short=True)
    console.rule("Delegation report")
    render_delegation(console, reports.delegation, chart=True, short=True)


def render_demo_reports(
    console: Console,
    config: Config,
    store: Store,
    now: datetime,
    *,
    client_id: str = "hoefslag",
    fmt: OutputFormat = OutputFormat.TABLE,
    seed: bool = True,
) -> dict[str, Any]:
    """:func:`demo_reports` + :func:`render_demo_summary` in one call (tables in TABLE mode).

    Returns the reports as JSON-ready data for the demo's JSON output, {} when
    the config has no such client.
    """
    reports = demo_reports(config, store, now, client_id=client_id, seed=seed)
    if reports is None:
        return {}
    if fmt is OutputFormat.TABLE:
        render_demo_summary(console, reports)
    return reports.to_json()
