"""``va-engine run | status | runs``: the daemon in the foreground, and what it has been doing."""

from __future__ import annotations

import enum
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from va_engine.cli.app import app
from va_engine.cli.render import OutputFormat, emit, make_table
from va_engine.cli.state import get_state
from va_engine.errors import ValidationError
from va_engine.workflows.jobs import Runtime, all_scopes, due_jobs, set_runtime
from va_engine.workflows.options import load_daemon_options

__all__ = ["run_command", "runs_command", "status_command"]

FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts")
]


class Role(enum.StrEnum):
    ALL = "all"
    CLOCK = "clock"
    WORKER = "worker"


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"--now {text!r} is not a date/time: use 2026-05-01T09:00+02:00"
        ) from None
    if value.tzinfo is None:
        raise ValidationError(f"--now {text!r} needs a UTC offset, e.g. 2026-05-01T09:00+02:00")
    return value


@app.command("run")
def run_command(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Run every due job once and exit (cron, tests).")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(
            "--now", help="With --once: act as if it were this moment (ISO, with offset)."
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    role: Annotated[
        Role,
        typer.Option(
            "--role",
            help="all: the single-process daemon. Multi-node (PostgreSQL): clock enqueues, "
            "worker runs (Celery); a second clock waits as standby.",
        ),
    ] = Role.ALL,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, help="--role worker: pool processes (default: cores)."
        ),
    ] = None,
) -> None:
    """Run the daemon in the foreground (SIGHUP reloads the config, SIGTERM stops)."""
    state = get_state(ctx)
    logging.basicConfig(
        level=logging.DEBUG if state.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if role is not Role.ALL:
        if once or now is not None:
            raise ValidationError("--once and --now only work with --role all")
        _run_role(state, role, concurrency)
        return
    if concurrency is not None:
        raise ValidationError("--concurrency only works with --role worker")
    if once:
        from va_engine.workflows.daemon import run_once, tune_store

        config = state.config()
        options = load_daemon_options(config)
        store = tune_store(state.store(), options)
        runtime = Runtime(config=config, options=options, store=store)
        set_runtime(runtime)
        moment = _parse_now(now) or state.now()
        try:
            results = run_once(runtime, now=moment, workers=min(4, options.workers))
        finally:
            set_runtime(None)
            store.close()
        rows = [
            {
                "scope": r.scope,
                "workflow": r.workflow,
                "status": r.status,
                "period": r.period,
                "error": r.error,
            }
            for r in results
        ]

        def render(console: Console) -> None:
            shown = [r for r in rows if r["status"] not in ("not_due", "skipped", "disabled")]
            console.print(
                make_table(
                    f"Ran {len(shown)} of {len(rows)} jobs",
                    ["scope", "workflow", "status", "period", "error"],
                    [tuple(r.values()) for r in shown],
                )
            )

        emit(state.console, fmt, rows, render)
        if any(r["status"] == "failed" for r in rows):
            raise typer.Exit(1)
        return
    if now is not None:
        raise ValidationError("--now only works with --once")
    from va_engine.workflows.daemon import Daemon

    daemon = Daemon(config_dir=state.config_dir)
    daemon.install_signals()
    daemon.start()
    state.console.print(
        f"va-engine daemon running: {len(daemon.scheduler.get_jobs())} jobs; Ctrl-C stops"
    )
    daemon.serve()


def _run_role(state: Any, role: Role, concurrency: int | None) -> None:
    """Multi-node roles; config problems (no PostgreSQL, bad cluster table) are ConfigErrors."""
    if role is Role.CLOCK:
        from va_engine.cluster.clock import Clock

        clock = Clock(config_dir=state.config_dir)
        clock.install_signals()
        state.console.print(f"va-engine clock {clock.name}: standby until it holds the lock")
        clock.serve()
        return
    if concurrency is not None and role is not Role.WORKER:
        raise ValidationError("--concurrency only works with --role worker")
    from va_engine.cluster.worker import run_worker

    run_worker(state.config_dir, concurrency=concurrency)


@app.command("status")
def status_command(
    ctx: typer.Context,
    fmt: FormatOption = OutputFormat.TABLE,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="Show the multi-node view (clocks, workers, queue) even without [daemon.cluster].",
        ),
    ] = False,
) -> None:
    """Per client and workflow: next run, last result, last error, heartbeat age.

    In multi-node mode (``[daemon.cluster]`` configured, or ``--cluster``) the
    active clock, standby clocks, live workers, queue depth and oldest waiting
    run come first.
    """
    from va_engine.workflows.daemon import next_runs

    state = get_state(ctx)
    config = state.config()
    now = state.now()
    options = load_daemon_options(config)
    store = state.store()
    cluster_view: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    try:
        if cluster or options.cluster:
            cluster_view = _cluster_view(store, options, now)
        upcoming = next_runs(store)
        for scope in all_scopes(config):
            client_store = store.for_client(scope)
            last: dict[str, Any] = {}
            for run in client_store.runs():
                last[run.workflow] = run
            failures = {f.workflow: f for f in client_store.failures()}
            beats = client_store.heartbeats()
            age = min((now - _aware(b.at)).total_seconds() for b in beats) if beats else None
            for job_scope, workflow in due_jobs(config):
                if job_scope != scope:
                    continue
                latest = last.get(workflow)
                failure = failures.get(workflow)
                rows.append(
                    {
                        "scope": scope,
                        "workflow": workflow,
                        "next_run": upcoming.get(f"{scope}:{workflow}"),
                        "last_status": latest.status if latest else None,
                        "last_period": latest.period if latest else None,
                        "last_error": failure.last_error
                        if failure
                        else (latest.error if latest else None),
                        "failures": failure.streak if failure else 0,
                        "heartbeat_age_s": round(age, 1) if age is not None else None,
                    }
                )
    finally:
        store.close()

    def render(console: Console) -> None:
        tz = now.tzinfo
        if cluster_view is not None:
            _render_cluster(console, cluster_view)
        console.print(
            make_table(
                "Daemon status",
                ["client", "workflow", "next run", "last", "failures", "last error", "heartbeat"],
                [
                    (
                        r["scope"],
                        r["workflow"],
                        r["next_run"].astimezone(tz).strftime("%a %d-%m %H:%M")
                        if r["next_run"]
                        else "—",
                        f"{r['last_status']} {r['last_period']}" if r["last_status"] else "never",
                        r["failures"] or "",
                        (r["last_error"] or "")[:60],
                        f"{r['heartbeat_age_s']:.0f} s ago"
                        if r["heartbeat_age_s"] is not None
                        else "",
                    )
                    for r in rows
                ],
            )
        )

    payload: Any = rows if cluster_view is None else {"cluster": cluster_view, "jobs": rows}
    emit(state.console, fmt, payload, render)


def _cluster_view(store: Any, options: Any, now: datetime) -> dict[str, Any]:
    from va_engine.cluster.celery_app import make_app
    from va_engine.cluster.status import cluster_status, queue_depth

    queue = options.cluster_or_default.queue
    return cluster_status(
        store, options, now=now, depth=lambda: queue_depth(make_app(options), queue)
    )


def _render_cluster(console: Console, view: dict[str, Any]) -> None:
    def who(entry: dict[str, Any] | None) -> str:
        return f"{entry['name']} ({entry['age_s']:.0f} s ago)" if entry else "—"

    waiting = view["oldest_waiting"]
    hour = view["last_hour"]
    rows = [
        ("active clock", who(view["active_clock"])),
        ("standby clocks", ", ".join(who(c) for c in view["standby_clocks"]) or "—"),
        ("live workers", ", ".join(who(w) for w in view["live_workers"]) or "—"),
        ("stale workers", ", ".join(who(w) for w in view["stale_workers"]) or "—"),
        ("queue", f"{view['queue']['name']}: {view['queue']['depth']}"),
        (
            "oldest waiting",
            f"{waiting['client']}/{waiting['workflow']} slot {waiting['slot']}, "
            f"{waiting['age_s']:.0f} s"
            if waiting
            else "—",
        ),
        ("last hour", ", ".join(f"{k} {v}" for k, v in hour.items())),
    ]
    console.print(make_table("Cluster", ["", ""], rows))


@app.command("runs")
def runs_command(
    ctx: typer.Context,
    client: Annotated[str | None, typer.Option("--client", help="Only this client.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed runs.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Run history: what ran when, how often it was tried, and how it ended."""
    state = get_state(ctx)
    config = state.config()
    scopes = [config.client(client).id] if client else all_scopes(config)
    store = state.store()
    rows: list[dict[str, Any]] = []
    try:
        for scope in scopes:
            for run in store.for_client(scope).runs():
                if failed and run.status != "failed":
                    continue
                rows.append(
                    {
                        "client": scope,
                        "workflow": run.workflow,
                        "period": run.period,
                        "status": run.status,
                        "attempts": run.attempts,
                        "started_at": _aware(run.started_at),
                        "finished_at": _aware(run.finished_at) if run.finished_at else None,
                        "error": run.error,
                        "result": run.result,
                    }
                )
    finally:
        store.close()
    rows.sort(key=lambda r: r["started_at"], reverse=True)
    rows = rows[:limit]

    def render(console: Console) -> None:
        tz = state.now().tzinfo
        console.print(
            make_table(
                f"Runs ({len(rows)})",
                ["client", "workflow", "period", "status", "tries", "started", "error"],
                [
                    (
                        r["client"],
                        r["workflow"],
                        r["period"],
                        r["status"],
                        r["attempts"],
                        r["started_at"].astimezone(tz).strftime("%d-%m %H:%M:%S"),
                        (r["error"] or "")[:60],
                    )
                    for r in rows
                ],
            )
        )

    emit(state.console, fmt, rows, render)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
