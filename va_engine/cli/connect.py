"""``va-engine sync`` and ``inspect ics|mail``: bring data in, or see what one file means."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from va_engine.cli.app import FormatOption, app
from va_engine.cli.render import OutputFormat, emit, make_table
from va_engine.cli.state import State, get_state
from va_engine.connectors.base import (
    MailMessage,
    Origin,
    SyncSummary,
    event_to_busy,
    todo_to_task,
)
from va_engine.connectors.ics import parse_calendar
from va_engine.connectors.mail import try_parse_message
from va_engine.connectors.rules import apply_rules, rules_with_defaults
from va_engine.errors import ConfigError, NotFoundError
from va_engine.workflows.sync import sync_client

__all__ = ["inspect_app"]

inspect_app = typer.Typer(help="Show what va-engine makes of one file.", no_args_is_help=True)
app.add_typer(inspect_app, name="inspect")


@app.command()
def sync(
    ctx: typer.Context,
    client: Annotated[
        list[str] | None, typer.Option("--client", help="Only these clients.")
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Fetch what changed in every client's calendars and mailboxes into the store."""
    state = get_state(ctx)
    config = state.config()
    now = state.now()
    chosen = [config.client(c) for c in client] if client else list(config.clients)
    store = state.store()
    results: dict[str, list[SyncSummary]] = {}
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=state.console,
            transient=True,
            disable=fmt is not OutputFormat.TABLE,
        ) as progress:
            total = sum(len(c.calendars) + len(c.mailboxes) for c in chosen)
            bar = progress.add_task("syncing", total=total)
            for client_config in chosen:

                def advance(account: str, client_id: str = client_config.id) -> None:
                    progress.update(bar, advance=1, description=f"synced {client_id}/{account}")

                results[client_config.id] = sync_client(
                    config,
                    client_config,
                    store.for_client(client_config.id),
                    now=now,
                    progress=advance,
                )
    finally:
        store.close()
    rows = [
        {"client": client_id, **summary.model_dump(mode="json")}
        for client_id, summaries in results.items()
        for summary in summaries
    ]

    def render(console: Console) -> None:
        console.print(
            make_table(
                "Sync",
                ["client", "account", "added", "changed", "removed", "quarantined", "error"],
                [
                    (
                        r["client"],
                        r["account"],
                        r["added"],
                        r["changed"],
                        r["removed"],
                        len(r["quarantined"]),
                        r["error"] or "",
                    )
                    for r in rows
                ],
            )
        )
        for r in rows:
            for item in r["quarantined"]:
                console.print(f"[yellow]quarantined[/] {_origin(item)}: {item['reason']}")

    emit(state.console, fmt, rows, render)
    if any(r["error"] for r in rows):
        raise typer.Exit(4)


@inspect_app.command("ics")
def inspect_ics(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An .ics file.")],
    days: Annotated[int, typer.Option(help="Expand recurrences this many days ahead.")] = 60,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Events, todos and quarantined items in an .ics file, as the planner would see them."""
    state = get_state(ctx)
    data = _read(path)
    tz = _zone(state)
    now = datetime.now(tz)
    start, end = now - timedelta(days=7), now + timedelta(days=days)
    parsed = parse_calendar(
        data, origin=Origin(account="file", collection=path.name), start=start, end=end, tz=tz
    )
    busy = [b for b in (event_to_busy(e) for e in parsed.events) if b is not None]
    tasks = [t for t in (todo_to_task(t, tz=tz) for t in parsed.todos) if t is not None]
    result = {
        "file": str(path),
        "range": {"start": start, "end": end},
        "events": parsed.events,
        "todos": parsed.todos,
        "busy": busy,
        "tasks": tasks,
        "quarantined": parsed.quarantined,
        "warnings": parsed.warnings,
    }

    def render(console: Console) -> None:
        console.print(
            make_table(
                f"{path.name}: {len(parsed.events)} occurrences {start:%d %b}–{end:%d %b %Y}",
                ["start", "end", "summary", "busy?", "location"],
                [
                    (
                        f"{e.start.astimezone(tz):%a %d %b %H:%M}"
                        if not e.all_day
                        else f"{e.start:%a %d %b} (all day)",
                        f"{e.end.astimezone(tz):%H:%M}" if not e.all_day else "",
                        e.summary,
                        "no" if e.transparent else "yes",
                        e.location,
                    )
                    for e in parsed.events
                ],
            )
        )
        if tasks:
            console.print(
                make_table(
                    "Todos → tasks",
                    ["task", "minutes", "deadline", "weight"],
                    [(t.title, t.duration_minutes, t.deadline or "", t.weight) for t in tasks],
                )
            )
        _render_problems(console, parsed.quarantined, parsed.warnings)

    emit(state.console, fmt, result, render)


@inspect_app.command("mail")
def inspect_mail(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An e-mail message (.eml or a Maildir file).")],
    client: Annotated[
        str | None, typer.Option("--client", help="Apply this client's rules (else the defaults).")
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Headers, attachments, invitations and the tasks the mail rules make of one message."""
    state = get_state(ctx)
    data = _read(path)
    tz = _zone(state)
    now = datetime.now(tz)
    own_rules = state.config().client(client).rules if client else []
    parsed = try_parse_message(
        data, origin=Origin(account="file", item=path.name), id=path.name, tz=tz
    )
    result: dict[str, Any] = {"file": str(path)}
    if isinstance(parsed, MailMessage):
        outcome = apply_rules(
            parsed, rules_with_defaults(own_rules), client_id=client, now=now, tz=tz
        )
        result.update(message=parsed, rules=outcome, quarantined=None)
    else:
        outcome = None
        result.update(message=None, rules=None, quarantined=parsed)

    def render(console: Console) -> None:
        if not isinstance(parsed, MailMessage):
            console.print(f"[yellow]quarantined[/]: {parsed.reason}")
            return
        header = make_table(
            path.name,
            ["field", "value"],
            [
                ("from", f"{parsed.sender_name or ''} <{parsed.sender}>"),
                ("to", ", ".join(parsed.to)),
                ("subject", parsed.subject),
                ("date", parsed.date or "(missing)"),
                ("flags", " ".join(sorted(parsed.flags)) or "—"),
                (
                    "attachments",
                    ", ".join(f"{a.filename} ({a.content_type})" for a in parsed.attachments)
                    or "—",
                ),
                (
                    "invitations",
                    ", ".join(f"{e.summary} {e.start:%d %b %H:%M}" for e in parsed.invitations)
                    or "—",
                ),
                ("defects", "; ".join(parsed.defects) or "—"),
                ("snippet", parsed.snippet),
            ],
        )
        console.print(header)
        assert outcome is not None
        console.print(f"matched rules: {', '.join(outcome.matched_rule_names) or 'none'}")
        if outcome.tasks:
            console.print(
                make_table(
                    "Tasks",
                    ["task", "kind", "minutes", "deadline"],
                    [
                        (t.title, t.kind, t.duration_minutes, t.deadline or "")
                        for t in outcome.tasks
                    ],
                )
            )
        for busy in outcome.busy:
            console.print(
                f"tentative busy: {busy.title} {busy.start:%a %d %b %H:%M}–{busy.end:%H:%M}"
            )

    emit(state.console, fmt, result, render)


def _render_problems(console: Console, quarantined: Any, warnings: Any) -> None:
    for item in quarantined:
        console.print(f"[yellow]quarantined[/] {item.origin}: {item.reason}")
    for warning in warnings:
        console.print(f"[dim]note: {warning}[/]")


def _origin(item: dict[str, Any]) -> str:
    origin = item.get("origin", {})
    return "/".join(str(origin.get(k)) for k in ("account", "collection", "item") if origin.get(k))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    except OSError as exc:
        raise NotFoundError(f"{path} cannot be read: {exc.strerror}") from None


def _zone(state: State) -> ZoneInfo:
    """The configured zone when a config exists, else Europe/Amsterdam (inspect needs no config)."""
    try:
        return ZoneInfo(state.config().engine.timezone)
    except ConfigError:
        return ZoneInfo("Europe/Amsterdam")
