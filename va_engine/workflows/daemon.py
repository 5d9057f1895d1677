"""The composition root: APScheduler 3 with a persistent job store, one job set per client.

This is the only place that knows *how* workflows are triggered; *what*
they do is :mod:`.jobs`. The job store is a ``SQLAlchemyJobStore`` in the
same database as the store (SQLite by default, PostgreSQL by URL), and every
job refers to ``va_engine.workflows.jobs:run_workflow`` by its import path
with plain arguments ``(scope, workflow)``, so jobs survive restarts.

Per workflow: interval jobs (sync, triage, replan) coalesce missed runs into
one catch-up; daily/weekly jobs (cron in the client's own time zone, so
DST-safe) may start late up to their ``misfire_grace_s`` and are skipped
after that, because a morning brief at 4 p.m. or yesterday's confirmations
help nobody. The workflows' own period keys make a catch-up run at most once.

Signals: SIGHUP re-reads the config and adds/removes/changes jobs; SIGTERM
and SIGINT stop taking new work, wait ``shutdown_grace_s`` for running jobs
and exit. A run cut off by the exit is left ``started`` and resumes on the
next start, which its keys make safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import signal
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import event, inspect, text

from va_engine.errors import VaEngineError
from va_engine.settings import Config, load_config
from va_engine.store import Store
from va_engine.workflows import jobs
from va_engine.workflows.jobs import (
    WORKFLOWS,
    RunResult,
    Runtime,
    all_scopes,
    due_jobs,
    execute,
    kick_period,
    recover,
)
from va_engine.workflows.options import DaemonOptions, load_daemon_options

__all__ = [
    "JOB_FUNC",
    "JOB_TABLE",
    "Daemon",
    "JobSpec",
    "desired_jobs",
    "next_runs",
    "persistent_scheduler",
    "run_once",
    "sync_job_store",
    "tune_store",
]

log = logging.getLogger(__name__)

JOB_FUNC = "va_engine.workflows.jobs:run_workflow"
JOB_TABLE = "va_scheduler_jobs"
#: a sync that saw changes asks for a re-plan this much later (debounce)
REPLAN_DELAY = timedelta(seconds=30)


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job as plain data: what the config says should exist."""

    id: str
    scope: str
    workflow: str
    trigger: IntervalTrigger | CronTrigger
    misfire_grace_s: int
    coalesce: bool
    signature: str


def _offset(scope: str, workflow: str, seconds: int) -> int:
    """A stable spread of interval jobs over their interval: 500 syncs do not start at once."""
    digest = hashlib.sha256(f"{scope}\x1f{workflow}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % max(1, seconds)


def desired_jobs(config: Config, options: DaemonOptions, *, now: datetime) -> list[JobSpec]:
    """Every job the config asks for, with its trigger in the scope's own time zone."""
    specs: list[JobSpec] = []
    for scope, name in due_jobs(config):
        settings = options.workflow(scope, name)
        if not settings.enabled:
            continue
        spec = WORKFLOWS[name]
        tz = _scope_tz(config, scope)
        if spec.trigger == "interval":
            minutes = settings.every_minutes or 15
            anchor = datetime.fromtimestamp(
                int(now.timestamp()) // 60 * 60 + _offset(scope, name, minutes * 60), UTC
            )
            trigger: IntervalTrigger | CronTrigger = IntervalTrigger(
                minutes=minutes, start_date=anchor, timezone=tz
            )
            signature = f"every {minutes} min"
        else:
            hour, minute = (int(p) for p in (settings.at or "00:00").split(":"))
            # Spread clients over the next minutes, to the second (a whole-minute
            # spread still starts hundreds of jobs in the same instant), never past
            # midnight: the workflow's own period check uses ``at`` and must say "due".
            spread = _offset(scope, name, options.spread_minutes * 60)
            total = min((hour * 60 + minute) * 60 + spread, 24 * 3600 - 1)
            hour, rest = divmod(total, 3600)
            minute, second = divmod(rest, 60)
            day = "*" if spec.trigger == "daily" else str(settings.weekday or 0)
            trigger = CronTrigger(
                day_of_week=day, hour=hour, minute=minute, second=second, timezone=tz
            )
            signature = f"cron {day} {hour:02d}:{minute:02d}:{second:02d} {tz.key}"
        grace = settings.misfire_grace_s or 3600
        specs.append(
            JobSpec(
                id=f"{scope}:{name}",
                scope=scope,
                workflow=name,
                trigger=trigger,
                misfire_grace_s=grace,
                coalesce=spec.coalesce,
                signature=f"{signature}; grace {grace}s",
            )
        )
    return specs


def sync_job_store(
    scheduler: BaseScheduler,
    specs: list[JobSpec],
    *,
    func: str,
    keep_transient: set[str] | None = None,
) -> dict[str, int]:
    """Make a scheduler's job store hold exactly ``specs``, calling ``func``.

    A job whose trigger and function did not change is left alone, so its next
    run time (and a pending catch-up) survives a restart, a reload, or a clock
    taking over from another. One-off ``retry:``/``kick:`` jobs of the scopes
    in ``keep_transient`` stay; without it they go.
    """
    wanted = {spec.id: spec for spec in specs}
    added = changed = removed = 0
    for job in scheduler.get_jobs():
        if job.id in wanted:
            continue
        scope = job.args[0] if job.args else ""
        if job.id.startswith(("retry:", "kick:")) and scope in (keep_transient or set()):
            continue
        job.remove()
        removed += 1
    existing = {job.id: job for job in scheduler.get_jobs()}
    for spec in wanted.values():
        job = existing.get(spec.id)
        if job is not None and job.name == spec.signature and job.func_ref == func:
            continue
        scheduler.add_job(
            func,
            trigger=spec.trigger,
            args=[spec.scope, spec.workflow],
            id=spec.id,
            name=spec.signature,
            misfire_grace_time=spec.misfire_grace_s,
            coalesce=spec.coalesce,
            replace_existing=True,
        )
        if job is None:
            added += 1
        else:
            changed += 1
    log.info("jobs: %d added, %d changed, %d removed", added, changed, removed)
    return {"added": added, "changed": changed, "removed": removed}


def _scope_tz(config: Config, scope: str) -> ZoneInfo:
    if scope.startswith("@"):
        for assistant in config.assistants:
            if assistant.id == scope[1:]:
                return ZoneInfo(assistant.timezone or config.engine.timezone)
    else:
        for client in config.clients:
            if client.id == scope:
                return ZoneInfo(client.timezone or config.engine.timezone)
    return ZoneInfo(config.engine.timezone)


def tune_store(store: Store, options: DaemonOptions) -> Store:
    """Daemon-specific database settings, applied to every new connection.

    On SQLite the daemon commits many small transactions from several threads;
    with one fsync per commit they queue behind the single writer and jobs
    start late. WAL with ``synchronous=NORMAL`` keeps every commit across a
    killed process (what the restart tests check) and only risks the last
    ones on power loss.
    """
    if store.dialect != "sqlite" or options.sqlite_synchronous == "full":
        return store

    def pragma(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(store.engine, "connect", pragma)
    store.engine.dispose()  # connections opened before the listener get replaced
    return store


def persistent_scheduler(store: Store, executor: Any) -> BackgroundScheduler:
    """APScheduler 3 with its job store in ``store``'s database: the single daemon's
    (thread pool) and the cluster clock's (enqueue only) differ in the executor alone."""
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOB_TABLE)},
        executors={"default": executor},
        job_defaults={"max_instances": 1},
        timezone=UTC,
    )


def run_once(runtime: Runtime, *, now: datetime, workers: int = 1) -> list[RunResult]:
    """Run every due job once (cron mode, tests): recover, sync, re-plan, then the rest.

    Re-plans are run for the assistants whose clients' sync saw changes.
    """
    changed: set[str] = set()
    previous = runtime.on_changed
    runtime.on_changed = changed.add
    results: list[RunResult] = []
    try:
        results.extend(recover(runtime, all_scopes(runtime.config), now=now))
        plan = due_jobs(runtime.config)
        order = ["sync", "replan", "triage", "payment_reminders", "confirmations"]
        order += [n for n in WORKFLOWS if n not in order]
        for name in order:
            # a re-plan just run because something changed covers this slot's as well
            batch = [
                (s, wf) for s, wf in plan if wf == name and not (wf == "replan" and s in changed)
            ]
            results.extend(_run_batch(runtime, batch, now=now, workers=workers))
            if name == "sync":
                for scope in sorted(changed):
                    results.append(
                        execute(runtime, scope, "replan", now=now, period=kick_period(now))
                    )
    finally:
        runtime.on_changed = previous
    return results


def _run_batch(
    runtime: Runtime, batch: list[tuple[str, str]], *, now: datetime, workers: int
) -> list[RunResult]:
    if workers <= 1 or len(batch) <= 1:
        return [execute(runtime, scope, wf, now=now) for scope, wf in batch]
    from concurrent.futures import ThreadPoolExecutor as Pool

    with Pool(max_workers=workers) as pool:
        return list(pool.map(lambda job: execute(runtime, job[0], job[1], now=now), batch))


def next_runs(store: Store) -> dict[str, datetime | None]:
    """Job id → next run time, read straight from the job store table (no scheduler needed)."""
    if not inspect(store.engine).has_table(JOB_TABLE):
        return {}
    with store.engine.connect() as connection:
        rows = connection.execute(text(f"SELECT id, next_run_time FROM {JOB_TABLE}"))
        return {
            str(job_id): datetime.fromtimestamp(float(stamp), UTC) if stamp is not None else None
            for job_id, stamp in rows
        }


@dataclass
class Daemon:
    """The long-running process behind ``va-engine run``."""

    config_dir: Path | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    shutdown_grace_s: float = 30.0
    config: Config = field(init=False)
    options: DaemonOptions = field(init=False)
    store: Store = field(init=False)
    runtime: Runtime = field(init=False)
    scheduler: BackgroundScheduler = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _reload: threading.Event = field(default_factory=threading.Event)
    _watchers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config = load_config(self.config_dir)
        self.options = load_daemon_options(self.config)
        self.store = tune_store(Store(self.config.engine.resolved_database_url()), self.options)
        self.runtime = Runtime(
            config=self.config,
            options=self.options,
            store=self.store,
            on_changed=self._replan_soon,
            on_failure=self._retry_at,
            clock=self.clock,
        )
        jobs.set_runtime(self.runtime)
        self.scheduler = persistent_scheduler(self.store, ThreadPoolExecutor(self.options.workers))

    # -- jobs -----------------------------------------------------------------------
    def sync_jobs(self) -> dict[str, int]:
        """Make the job store match the config: add new jobs, change changed ones, drop old ones.

        A job whose trigger did not change is left alone, so its next run time
        (and a pending catch-up) survives a restart or a SIGHUP.
        """
        return sync_job_store(
            self.scheduler,
            desired_jobs(self.config, self.options, now=self.clock()),
            func=JOB_FUNC,
            keep_transient=set(all_scopes(self.config)),
        )

    def _replan_soon(self, scope: str) -> None:
        if self._stop.is_set():
            return
        self.scheduler.add_job(
            JOB_FUNC,
            trigger=DateTrigger(run_date=self.clock() + REPLAN_DELAY),
            args=[scope, "replan", "changed"],
            id=f"kick:{scope}:replan",
            name="re-plan after a change",
            misfire_grace_time=3600,
            replace_existing=True,
        )

    def _retry_at(self, scope: str, workflow: str, when: datetime) -> None:
        if self._stop.is_set():
            return  # the failure row keeps the backoff; the next start schedules normally
        self.scheduler.add_job(
            JOB_FUNC,
            trigger=DateTrigger(run_date=when),
            args=[scope, workflow, "retry"],
            id=f"retry:{scope}:{workflow}",
            name="retry after failure",
            misfire_grace_time=24 * 3600,
            replace_existing=True,
        )

    def reload(self) -> dict[str, int]:
        """Re-read the config (SIGHUP); a broken config keeps the old one running."""
        try:
            config = load_config(self.config_dir)
            options = load_daemon_options(config)
        except VaEngineError as exc:
            log.error("config not reloaded, keeping the running one: %s", exc)
            return {}
        self.config, self.options = config, options
        self.runtime.config, self.runtime.options = config, options
        result = self.sync_jobs()
        self._start_watchers()
        return result

    # -- watchers -------------------------------------------------------------------
    def _start_watchers(self) -> None:
        if not self.options.idle:
            return
        from va_engine.workflows.watchers import IdleWatcher, watched_folders

        wanted = {w.name: w for w in watched_folders(self.config)}
        for name, watcher in list(self._watchers.items()):
            if name not in wanted:
                watcher.stop()
                del self._watchers[name]
        for name, target in wanted.items():
            if name not in self._watchers:
                watcher = IdleWatcher(
                    target, self.runtime, timeout=self.options.idle_timeout_s, on_change=self.kick
                )
                watcher.start()
                self._watchers[name] = watcher

    def supervise(self) -> list[str]:
        """Restart watchers whose heartbeat is stale (a silently dead IDLE connection)."""
        restarted: list[str] = []
        now = self.clock()
        limit = timedelta(seconds=2 * self.options.idle_timeout_s + 30)
        for name, watcher in list(self._watchers.items()):
            if watcher.stale(now, limit):
                log.warning("watcher %s silent for more than %s; restarting it", name, limit)
                watcher.stop()
                fresh = watcher.restarted()
                fresh.start()
                self._watchers[name] = fresh
                restarted.append(name)
        return restarted

    def kick(self, scope: str, workflow: str) -> None:
        """Run ``workflow`` for ``scope`` now (e.g. new mail seen by IDLE)."""
        if self._stop.is_set():
            return
        self.scheduler.add_job(
            JOB_FUNC,
            trigger=DateTrigger(run_date=self.clock()),
            args=[scope, workflow, "changed"],
            id=f"kick:{scope}:{workflow}",
            misfire_grace_time=3600,
            replace_existing=True,
        )

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        """Recover crashed runs, start the scheduler and sync the job set to the config."""
        recover(self.runtime, all_scopes(self.config), now=self.clock())
        self.scheduler.start(paused=True)
        self.sync_jobs()
        self.scheduler.resume()
        self._start_watchers()
        self.beat()

    def beat(self) -> None:
        self.store.for_client("@daemon").beat("daemon", now=self.clock(), detail="running")

    def install_signals(self) -> None:
        """SIGHUP reloads; SIGTERM/SIGINT stop. Only valid on the main thread."""
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def serve(self, *, tick_s: float = 1.0) -> None:
        """Run until stopped; handles reloads, heartbeats and watcher supervision."""
        last_supervise = _time.monotonic()
        while not self._stop.wait(tick_s):
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if _time.monotonic() - last_supervise >= min(60.0, self.options.idle_timeout_s):
                last_supervise = _time.monotonic()
                self.beat()
                self.supervise()
        self.shutdown()

    def _stop_scheduler(self) -> None:
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=True)

    def shutdown(self) -> None:
        """Stop scheduling; give running jobs ``shutdown_grace_s`` to finish, then leave them."""
        self._stop.set()
        for watcher in self._watchers.values():
            watcher.stop()
        with contextlib.suppress(Exception):
            # Detach the job store first: APScheduler 3 may still run one round of
            # due jobs after shutdown() flips its state (its loop checks only for
            # "paused"), which would submit to a closed executor and move next-run
            # times. Detaching waits for a round in progress and keeps the rows.
            self.scheduler.pause()
            # shutdown=False: the job store shares the store's engine, which must not be
            # disposed under running jobs (their connections would be orphaned)
            self.scheduler.remove_jobstore("default", shutdown=False)
        # shutdown(wait=True) waits for the executor's threads (jobs already handed
        # to the pool included); bounded by the grace period, after which they are left.
        closer = threading.Thread(target=self._stop_scheduler, name="va-shutdown", daemon=True)
        closer.start()
        closer.join(self.shutdown_grace_s)
        deadline = _time.monotonic() + 1.0
        while self.runtime.active and _time.monotonic() < deadline:
            _time.sleep(0.05)
        if closer.is_alive() or self.runtime.active:
            log.warning(
                "%d jobs still running at exit; they resume on restart", self.runtime.active
            )
        jobs.set_runtime(None)
        self.store.close()
