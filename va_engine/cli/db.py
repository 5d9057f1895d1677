"""``va-engine db current|upgrade|history``: the database schema and its migrations.

Every process upgrades the schema when it opens the store, so ``upgrade`` is
never required; it lets an operator migrate before starting the services, and
``current`` shows where a database stands without touching it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from va_engine.cli.app import app
from va_engine.cli.render import OutputFormat, emit, make_table
from va_engine.cli.state import get_state
from va_engine.errors import redact
from va_engine.migrations import head, revisions
from va_engine.store import peek_revision

__all__ = ["db_app"]

db_app = typer.Typer(
    name="db",
    help="The database schema: where it stands, upgrade in place, the migrations.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")

FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts")
]


def _state_of(revision: str | None) -> str:
    if revision is None:
        return "empty (created on first use)"
    if revision == head():
        return "up to date"
    if revision in dict(revisions()):
        return f"behind: upgrade to {head()}"
    return "newer than this va-engine: upgrade va-engine"


@db_app.command("current")
def current_command(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The database's schema revision and this va-engine's, without changing anything."""
    state = get_state(ctx)
    url = state.config().engine.resolved_database_url()
    revision = peek_revision(url)
    data = {
        "database": redact(url),
        "revision": revision,
        "head": head(),
        "state": _state_of(revision),
    }
    emit(state.console, fmt, data, lambda console: _render_pairs(console, data))


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Bring the database to this va-engine's schema now (services do it on start anyway)."""
    state = get_state(ctx)
    url = state.config().engine.resolved_database_url()
    before = peek_revision(url)
    with state.open_store() as store:  # opening migrates, under the schema lock
        after = store.schema_revision()
    data = {"database": redact(url), "from": before, "to": after, "changed": before != after}

    def render(console: Console) -> None:
        if before == after:
            console.print(f"schema already at rev {after}")
        else:
            console.print(f"schema upgraded: rev {before or '(empty)'} → rev {after}")

    emit(state.console, fmt, data, render)


@db_app.command("history")
def history_command(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The migrations this va-engine carries, oldest first."""
    state = get_state(ctx)
    rows = [{"revision": revision, "does": doc} for revision, doc in revisions()]
    emit(
        state.console,
        fmt,
        rows,
        lambda console: console.print(
            make_table("Schema migrations", ["revision", "does"], [list(r.values()) for r in rows])
        ),
    )


def _render_pairs(console: Console, data: dict[str, Any]) -> None:
    console.print(make_table(None, ["", ""], list(data.items())))
