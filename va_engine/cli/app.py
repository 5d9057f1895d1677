"""Root of the ``va-engine`` command: global options, error handling, sub-commands.

Errors from the library arrive as :class:`~va_engine.errors.VaEngineError`
and leave as one red line plus the error's exit code; anything unexpected
becomes "internal error" with exit 70. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.exceptions import TyperException

from va_engine import __version__
from va_engine.catalogue import catalogue_obligations, render_obligations_toml
from va_engine.cli.render import OutputFormat, emit, make_table
from va_engine.cli.state import State, get_state
from va_engine.doctor import Outcome, run_checks
from va_engine.errors import ConfigError, VaEngineError, redact

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="va-engine",
    help="Plans, syncs and logs the work of virtual assistants and organizers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"va-engine {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config directory (default: $VA_ENGINE_CONFIG_DIR or ./config).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = State(config_dir=config, debug=debug)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the starter config.")],
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
    obligations: Annotated[
        str | None,
        typer.Option(
            help="Add catalogue obligations to the example client: household, business, "
            "all, or entry names separated by commas."
        ),
    ] = None,
) -> None:
    """Write a starter config directory with commented example files."""
    state = State()
    template = Path(__file__).resolve().parents[1] / "templates" / "init"
    written: list[Path] = []
    for relative in (
        "va-engine.toml",
        "clients/example-client.toml",
        "data/example-client/agenda.ics",
    ):
        target = directory / relative
        if target.exists() and not force:
            raise ConfigError(f"{target} exists", hint="use --force to overwrite it")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template / relative, target)
        written.append(target)
    if obligations:
        try:
            chosen = catalogue_obligations(obligations)
        except ValueError as exc:
            raise ConfigError(f"--obligations: {exc}") from None
        client_file = directory / "clients" / "example-client.toml"
        with client_file.open("a", encoding="utf-8") as handle:
            handle.write(
                "\n# Recurring obligations from the built-in catalogue; efforts are editable.\n"
            )
            handle.write(render_obligations_toml(chosen))
        state.console.print(f"added {len(chosen)} obligations to {client_file}")
    for path in written:
        state.console.print(f"[green]wrote[/] {path}")
    state.console.print(
        f"Next: edit the files, then run [bold]va-engine --config {directory} doctor[/]"
    )


@app.command()
def doctor(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Check config, time zones, database and every client's accounts."""
    state = get_state(ctx)
    checks = list(run_checks(state.config()))
    marks = {Outcome.OK: "[green]✓[/]", Outcome.WARN: "[yellow]![/]", Outcome.FAIL: "[red]✗[/]"}

    def render(console: Console) -> None:
        for check in checks:
            console.print(f"{marks[check.outcome]} {check.name}: {check.detail}", highlight=False)

    emit(state.console, fmt, checks, render)
    if any(check.outcome is Outcome.FAIL for check in checks):
        raise typer.Exit(1)


@app.command()
def clients(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """List the clients with a summary of their agreements."""
    state = get_state(ctx)
    config = state.config()
    models = config.client_models()
    rows: list[dict[str, Any]] = []
    for model, raw in zip(models, config.clients, strict=True):
        agreement = model.agreement
        budget = (
            f"{agreement.hours_per_period:g} h/{agreement.period}"
            if agreement.hours_per_period is not None
            else "—"
        )
        rows.append(
            {
                "id": model.id,
                "name": model.name,
                "timezone": model.timezone,
                "delegated": list(agreement.delegated_kinds),
                "budget": budget,
                "rate": agreement.hourly_rate,
                "currency": agreement.currency,
                "reachable": _reachability_summary(model.agreement.reachability),
                "calendars": len(raw.calendars),
                "mailboxes": len(raw.mailboxes),
            }
        )

    def render(console: Console) -> None:
        console.print(
            make_table(
                "Clients",
                ["id", "name", "delegated", "budget", "rate", "reachable", "accounts"],
                [
                    (
                        r["id"],
                        r["name"],
                        ", ".join(r["delegated"]) or "—",
                        r["budget"],
                        f"{r['rate']:g} {r['currency']}/h",
                        r["reachable"],
                        f"{r['calendars']} cal, {r['mailboxes']} mail",
                    )
                    for r in rows
                ],
            )
        )

    emit(state.console, fmt, rows, render)


def _reachability_summary(windows: tuple[object, ...]) -> str:
    from va_engine.model import DayWindow

    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    days: dict[str, list[str]] = {}
    for window in windows:
        assert isinstance(window, DayWindow)
        span = f"{window.start:%H:%M}–{window.end:%H:%M}"
        days.setdefault(span, []).append(names[window.weekday])
    if not days:
        return "any time"
    return "; ".join(f"{'/'.join(d)} {span}" for span, d in days.items())


def _register_commands() -> None:
    """Sub-command modules register themselves on import; kept in one place."""
    from va_engine.cli import connect, daemon, db, demo, plan, privacy, reports, year  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit status; only :func:`run` exits the process."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    err = Console(stderr=True)
    _register_commands()
    try:
        status = app(args=args, prog_name="va-engine", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err.print("[red]aborted[/]")
        return 1
    except TyperException as exc:  # usage errors: show them like click does
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        return int(getattr(exc, "exit_code", 2))
    except VaEngineError as exc:
        if debug:
            err.print_exception()
        err.print(f"[red]error:[/] {redact(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return 130
    except Exception as exc:
        if debug:
            err.print_exception()
        err.print(
            f"[red]internal error:[/] {type(exc).__name__}: {redact(str(exc))}\n"
            "  run again with --debug for the traceback, and please report it",
            highlight=False,
            soft_wrap=True,
        )
        return 70
    # click returns the exit code of typer.Exit instead of raising it here
    return status if isinstance(status, int) else 0


def run() -> None:
    sys.exit(main())
