"""``va-engine client data|export|import|erase|purge``: the client's rights over their data."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from va_engine.cli.app import app
from va_engine.cli.render import OutputFormat, emit, make_table
from va_engine.cli.state import State, get_state
from va_engine.errors import NotFoundError
from va_engine.privacy import (
    ErasureReport,
    erase_client,
    export_client,
    import_client,
    inventory,
    purge_expired,
)
from va_engine.settings import ClientConfig

__all__ = ["client_app"]

client_app = typer.Typer(
    name="client",
    help="A client's data: what is held, export, import (hand-off), erasure, retention, audit.",
    no_args_is_help=True,
)
app.add_typer(client_app, name="client")

FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts")
]
ClientOption = Annotated[str, typer.Option("--client", help="The client id.")]


def _actor() -> str:
    """Who ran the command, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _client_config(state: State, client_id: str) -> ClientConfig | None:
    try:
        return state.config().client(client_id)
    except NotFoundError:
        return None


@client_app.command("data")
def data_command(
    ctx: typer.Context, client: ClientOption, fmt: FormatOption = OutputFormat.TABLE
) -> None:
    """List every kind of data held for the client, with counts, oldest item and retention."""
    state = get_state(ctx)
    config = state.config()
    with state.open_store() as store:
        found = inventory(
            store,
            client,
            retention=config.engine.retention,
            data_dir=config.engine.resolved_data_dir(),
        )
    if not found.total and _client_config(state, client) is None:
        raise NotFoundError(f"no data and no config for client {client!r}")
    data: dict[str, Any] = {
        "client": found.client_id,
        "kinds": found.kinds,
        "plan_blocks": found.plan_blocks,
        "jobs": found.jobs,
        "files": found.files,
    }

    def render(console: Console) -> None:
        console.print(
            make_table(
                f"Data held for {client}",
                ["kind", "table", "count", "oldest", "retention"],
                [
                    (
                        k.kind,
                        k.table,
                        k.count,
                        k.oldest.isoformat() if k.oldest else "—",
                        k.retention,
                    )
                    for k in found.kinds
                ],
            )
        )
        console.print(
            f"planned blocks: {found.plan_blocks}; scheduled jobs: {len(found.jobs)}; "
            f"generated files: {len(found.files)}",
            highlight=False,
        )

    emit(state.console, fmt, data, render)


@client_app.command("export")
def export_command(
    ctx: typer.Context,
    client: ClientOption,
    out: Annotated[Path, typer.Option("--out", help="The zip file to write.")],
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Write everything held for the client to a zip (JSON, ICS, EML, CSV, README)."""
    state = get_state(ctx)
    config = state.config()
    with state.open_store() as store:
        summary = export_client(
            store,
            client,
            out,
            now=state.now(),
            actor=_actor(),
            client_config=_client_config(state, client),
            retention=config.engine.retention,
        )
    data = {"client": client, "file": summary.path, "tables": summary.tables}

    def render(console: Console) -> None:
        rows = sum(summary.tables.values())
        console.print(f"[green]wrote[/] {summary.path}: {rows} rows", highlight=False)

    emit(state.console, fmt, data, render)


@client_app.command("import")
def import_command(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(help="A zip written by 'client export'.")],
    only_open: Annotated[
        bool,
        typer.Option(
            "--only-open",
            help="Referral hand-off: open tasks, the agreement and the plan, not the history.",
        ),
    ] = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Recreate a client from an export (another installation, or a colleague's)."""
    state = get_state(ctx)
    config = state.config()
    if not archive.is_file():
        raise NotFoundError(f"{archive}: no such file")
    with state.open_store() as store:
        summary = import_client(
            store,
            archive,
            now=state.now(),
            actor=_actor(),
            only_open=only_open,
            config_dir=config.config_dir,
        )
    data = {
        "client": summary.client_id,
        "only_open": summary.only_open,
        "tables": summary.tables,
        "skipped": summary.skipped,
        "plans": summary.plans,
        "config": summary.config_note,
    }

    def render(console: Console) -> None:
        console.print(
            make_table(
                f"Imported {summary.client_id}" + (" (open work only)" if only_open else ""),
                ["table", "rows"],
                sorted(summary.tables.items()),
            )
        )
        for name, why in sorted(summary.skipped.items()):
            console.print(f"skipped {name}: {why}", highlight=False)
        console.print(f"plans: {summary.plans}; config: {summary.config_note}", highlight=False)

    emit(state.console, fmt, data, render)


@client_app.command("erase")
def erase_command(
    ctx: typer.Context,
    client: ClientOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be removed and kept; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Erase the client's data; billing records are kept, minimised, for the fiscal period."""
    state = get_state(ctx)
    config = state.config()
    configured = _client_config(state, client) is not None
    if not dry_run and not yes and not typer.confirm(f"Erase all data of client {client!r}?"):
        raise typer.Abort()
    with state.open_store() as store:
        if not configured and not inventory(store, client).total:
            raise NotFoundError(f"no data and no config for client {client!r}")
        report = erase_client(
            store,
            client,
            now=state.now(),
            actor=_actor(),
            retention=config.engine.retention,
            dry_run=dry_run,
            data_dir=config.engine.resolved_data_dir(),
            still_configured=configured,
        )
    _emit_report(state, fmt, report)


def _emit_report(state: State, fmt: OutputFormat, report: ErasureReport) -> None:
    def render(console: Console) -> None:
        verb = "would remove" if report.dry_run else "removed"
        console.print(
            make_table(
                f"{report.client_id}: {verb}",
                ["what", "count", "why"],
                [(i.what, i.count, i.reason) for i in report.removed],
            )
        )
        console.print(
            make_table(
                "kept", ["what", "count", "why"], [(i.what, i.count, i.reason) for i in report.kept]
            )
        )

    emit(state.console, fmt, report, render)


@client_app.command("purge")
def purge_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; delete nothing.")] = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Delete data older than its retention period, for every client (the daily purge)."""
    state = get_state(ctx)
    config = state.config()
    with state.open_store() as store:
        counts = purge_expired(
            store,
            config.engine.retention,
            state.now(),
            actor=_actor(),
            data_dir=config.engine.resolved_data_dir(),
            dry_run=dry_run,
        )

    def render(console: Console) -> None:
        title = "would purge" if dry_run else "purged"
        console.print(make_table(title, ["table", "rows"], sorted(counts.items())))

    emit(state.console, fmt, counts, render)


@client_app.command("audit")
def audit_command(
    ctx: typer.Context, client: ClientOption, fmt: FormatOption = OutputFormat.TABLE
) -> None:
    """The client's audit trail: who changed what, and when (append-only)."""
    state = get_state(ctx)
    with state.open_store() as store:
        rows: list[dict[str, Any]] = [
            {
                "at": row.at,
                "actor": row.actor,
                "action": row.action,
                "subject": row.subject,
                "before": row.before,
                "after": row.after,
            }
            for row in store.for_client(client).audit()
        ]

    def render(console: Console) -> None:
        console.print(
            make_table(
                f"Audit trail of {client}",
                ["at", "actor", "action", "subject"],
                [(r["at"].isoformat(), r["actor"], r["action"], r["subject"]) for r in rows],
            )
        )

    emit(state.console, fmt, rows, render)
