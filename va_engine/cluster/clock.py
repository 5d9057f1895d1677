"""The clock (``va-engine run --role clock``): one active scheduler that only enqueues.

APScheduler 3 must never share its job store between schedulers, so exactly
one clock is active: the one holding a PostgreSQL session-level advisory lock
on a dedicated connection. Others wait as standby and retry every
``STANDBY_POLL_S``; when the active clock dies its connection closes, the
server frees the lock and a standby takes over. The active clock checks its
lock connection every tick and stops scheduling the moment it is gone.

Its jobs are those of the single daemon (:func:`desired_jobs`, same job
store table) but call :func:`enqueue` with the job's scheduled fire time (the
*slot*): insert the ``va_dispatch`` row, then publish ``va_engine.run(scope,
workflow, slot)``. Nothing else runs here.

APScheduler updates a job's next run time only after submitting it, so a clock
killed in between loses that slot. :meth:`Clock.reconcile` (on becoming active
and every ``reconcile_s``) therefore dispatches every fire time of the recent
past that has no row, never further back than the job's first dispatched slot
(a fresh install does not replay history), re-publishes rows whose
message seems lost, and re-queues failed slots whose backoff has passed (the
single daemon's one-off retry job; at most ``max_retries`` per slot).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from va_engine.cluster import dispatch
from va_engine.cluster.locks import AdvisoryLock, lock_engine
from va_engine.cluster.status import CLUSTER_SCOPE
from va_engine.errors import ConfigError
from va_engine.settings import Config, load_config
from va_engine.store import Store
from va_engine.workflows.daemon import desired_jobs, persistent_scheduler, sync_job_store
from va_engine.workflows.jobs import format_slot
from va_engine.workflows.options import DaemonOptions, load_daemon_options

__all__ = ["JOB_FUNC", "Clock", "Publisher", "enqueue", "fire_times", "require_postgres"]

log = logging.getLogger(__name__)

JOB_FUNC = "va_engine.cluster.clock:enqueue"
STANDBY_POLL_S = 1.5
#: seconds between publish attempts while the broker is down (one log line each)
BROKER_RETRY_S = 5.0
#: interval jobs are never reconciled further back than this
MAX_RECONCILE = timedelta(hours=1)

#: publishes (scope, workflow, slot) to the broker; raises when it cannot
Publisher = Callable[[str, str, str], None]

_current: Clock | None = None


def require_postgres(config: Config) -> str:
    """The database URL, or a clear error: the clock and workers coordinate through PostgreSQL."""
    url = config.engine.resolved_database_url()
    if not url.startswith("postgresql"):
        raise ConfigError(
            "multi-node mode needs PostgreSQL: set database_url = "
            '"postgresql+psycopg://user@host/db" in va-engine.toml',
            hint="the clock's election, the scope locks and va_dispatch live there",
        )
    return url


def enqueue(scope: str, workflow: str, slot: datetime | None = None) -> bool:
    """The job function of every clock job: dispatch one slot through the active clock.

    ``slot`` is optional only for APScheduler's signature check at ``add_job``;
    :class:`EnqueueExecutor` always passes the fire time.
    """
    if _current is None or slot is None:
        raise RuntimeError("enqueue() runs only inside an active clock, with a slot")
    return _current.dispatch(scope, workflow, slot)


class EnqueueExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs a job's function in the scheduler thread, with the fire time it was due at.

    APScheduler's own executors do not pass the scheduled time; this one hands
    each of ``run_times`` to the job as ``slot`` (a dispatch is one insert and
    one publish, cheap enough to do inline and in order).
    """

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        events = []
        now = datetime.now(UTC)
        for run_time in run_times:
            grace = job.misfire_grace_time
            if grace is not None and now - run_time > timedelta(seconds=grace):
                log.info("%s: slot %s missed its grace; skipped", job.id, format_slot(run_time))
                events.append(
                    JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time)
                )
                continue
            try:
                job.func(*job.args, slot=run_time, **job.kwargs)
            except Exception as exc:
                log.error("%s: cannot dispatch %s: %s", job.id, format_slot(run_time), exc)
                events.append(
                    JobExecutionEvent(
                        EVENT_JOB_ERROR, job.id, job._jobstore_alias, run_time, exception=exc
                    )
                )
            else:
                events.append(
                    JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time)
                )
        self._run_job_success(job.id, events)


def fire_times(trigger: Any, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time of an APScheduler 3 trigger in ``[start, end]``."""
    times: list[datetime] = []
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment <= end and len(times) < 10_000:
        times.append(moment)
        moment = trigger.get_next_fire_time(moment, moment)
    return times


@dataclass
class Clock:
    """The process behind ``va-engine run --role clock``: standby until elected, then active."""

    config_dir: Path | None = None
    publisher: Publisher | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    tick_s: float = 1.0
    reconcile_s: float = 60.0
    config: Config = field(init=False)
    options: DaemonOptions = field(init=False)
    store: Store = field(init=False)
    name: str = field(init=False)
    scheduler: BackgroundScheduler | None = field(default=None, init=False)
    _lock: AdvisoryLock = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _queue_depth: Callable[[], int | None] | None = None
    _outgoing: queue.SimpleQueue[tuple[str, str, str] | None] = field(
        default_factory=queue.SimpleQueue
    )
    _publisher_thread: threading.Thread | None = None
    _publisher_stop: threading.Event = field(default_factory=threading.Event)
    _broker_down: bool = False

    def __post_init__(self) -> None:
        self.config = load_config(self.config_dir)
        self.options = load_daemon_options(self.config)
        url = require_postgres(self.config)
        self.store = Store(url)
        self.name = f"clock:{socket.gethostname()}:{os.getpid()}"
        self._lock = AdvisoryLock(lock_engine(url), self.options.cluster_or_default.clock_lock_key)
        if self.publisher is None:
            self.publisher, self._queue_depth = _celery_publisher(self.options)

    @property
    def active(self) -> bool:
        return self.scheduler is not None

    # -- dispatch -------------------------------------------------------------------
    def dispatch(self, scope: str, workflow: str, slot: datetime) -> bool:
        """Insert the slot's row, then have it published; False when it was dispatched before.

        Publishing happens on a thread of its own, so a broker that is down
        (each attempt can take seconds) never holds up the scheduler: the
        rows keep being written on time and are published, in order, when
        the broker is back. Should this clock die meanwhile, the rows are
        ``queued`` with no delivery, and the next clock's reconcile publishes
        them.
        """
        key = format_slot(slot)
        if not dispatch.insert_slot(self.store, scope, workflow, key, now=self.clock()):
            return False
        self._outgoing.put((scope, workflow, key))
        return True

    def _publish_loop(self, stop: threading.Event) -> None:
        """Publish in order; while the broker is down, retry the head every ``BROKER_RETRY_S``."""
        while True:
            item = self._outgoing.get()
            if item is None:
                return
            while not self._publish(*item):
                self._broker_down = True
                if stop.wait(BROKER_RETRY_S):
                    return  # stepping down: the rows stay queued for the next clock
            self._broker_down = False

    def _publish(self, scope: str, workflow: str, slot: str) -> bool:
        assert self.publisher is not None
        try:
            self.publisher(scope, workflow, slot)
        except Exception as exc:
            log.warning("broker: cannot publish %s/%s %s yet: %s", scope, workflow, slot, exc)
            return False
        return True

    def _windows(self, now: datetime) -> dict[tuple[str, str], list[datetime]]:
        """(client, workflow) → the job's fire times that are still worth running: those of
        its misfire grace (interval jobs at most ``MAX_RECONCILE``) up to ``now``."""
        assert self.scheduler is not None
        windows: dict[tuple[str, str], list[datetime]] = {}
        for job in self.scheduler.get_jobs():
            if job.func_ref != JOB_FUNC or len(job.args) < 2:
                continue
            back = timedelta(seconds=job.misfire_grace_time or 0)
            if isinstance(job.trigger, IntervalTrigger):
                back = min(back, MAX_RECONCILE)
            times = fire_times(job.trigger, now - back, now)
            if times:
                windows[(str(job.args[0]), str(job.args[1]))] = times
        return windows

    def reconcile(self) -> dict[str, int]:
        """Dispatch recent fire times that have no row; re-publish rows whose message was lost;
        re-queue failed slots whose backoff has passed.

        Reads only the window each workflow can need (interval jobs one hour,
        calendar jobs their grace) and, for the few jobs with a missing slot,
        their first dispatched slot: a job never dispatched before is new,
        not missed.
        """
        now = self.clock()
        candidates = self._windows(now)
        since: dict[str, datetime] = {}
        for (_, workflow), times in candidates.items():
            since[workflow] = min(since.get(workflow, times[0]), times[0])
        seen = dispatch.dispatched_slots(
            self.store, since={w: format_slot(t) for w, t in since.items()}
        )
        missing = {
            job: [t for t in times if (*job, format_slot(t)) not in seen]
            for job, times in candidates.items()
        }
        missing = {job: times for job, times in missing.items() if times}
        first = dispatch.first_slots(self.store, list(missing))
        filled = 0
        for (scope, workflow), times in missing.items():
            oldest = first.get((scope, workflow))
            if oldest is None:
                continue  # never dispatched: nothing a previous clock could have missed
            for moment in times:
                if format_slot(moment) > oldest and self.dispatch(scope, workflow, moment):
                    filled += 1
        republished = self._republish(now)
        retried = self._retry(now, candidates)
        if filled or republished or retried:
            log.info(
                "reconcile: %d missed slots dispatched, %d re-published, %d failed retried",
                filled,
                republished,
                retried,
            )
        return {"filled": filled, "republished": republished, "retried": retried}

    def _retry(self, now: datetime, windows: dict[tuple[str, str], list[datetime]]) -> int:
        """Failed slots still in their window whose backoff has passed go out once more.

        The single daemon's one-off retry job, done here because the clock is
        the only scheduler: the row goes back to ``queued`` and out through
        the publisher thread like a new dispatch (in order, retried while the
        broker is down). The worker runs the same slot's period again; the
        ``va_runs`` row ``failed`` is handed out with attempts + 1.
        """
        due = dispatch.retry_failed(
            self.store,
            windows={job: format_slot(times[0]) for job, times in windows.items()},
            now=now,
            max_retries=self.options.cluster_or_default.max_retries,
        )
        for scope, workflow, slot in due:
            log.info("%s/%s: retrying failed slot %s after its backoff", scope, workflow, slot)
            self._outgoing.put((scope, workflow, slot))
        return len(due)

    def _republish(self, now: datetime) -> int:
        """Rows queued for a while that no worker received, when the broker's queue is empty.

        An empty queue means their message is gone (a clock died before
        publishing, the broker lost it); with messages waiting they are
        probably among them, and re-publishing would only multiply a backlog.
        Nor while this clock's own publisher still has rows to send.
        """
        if self._broker_down or not self._outgoing.empty():
            return 0
        depth = self._queue_depth() if self._queue_depth is not None else 0
        if depth != 0:
            return 0
        cluster = self.options.cluster_or_default
        stale = dispatch.stale_queued(
            self.store, older_than=now - timedelta(seconds=2 * cluster.heartbeat_s)
        )
        lost = dispatch.stale_running(
            self.store,
            older_than=now
            - timedelta(seconds=cluster.visibility_timeout(self.options.job_timeout_s))
            - timedelta(seconds=2 * cluster.heartbeat_s),
        )
        count = 0
        for scope, workflow, slot in [*stale, *lost]:
            if not self._publish(scope, workflow, slot):
                break
            count += 1
        return count

    # -- leadership -----------------------------------------------------------------
    def become_active(self, *, resume: bool = True) -> None:
        """Start the scheduler on the shared job store, reconcile, then schedule
        (``resume=False`` leaves it paused: tests drive reconcile by hand)."""
        global _current
        scheduler = persistent_scheduler(self.store, EnqueueExecutor())
        _current = self
        self.scheduler = scheduler
        self._outgoing = queue.SimpleQueue()
        self._publisher_stop = threading.Event()
        self._publisher_thread = threading.Thread(
            target=self._publish_loop,
            args=(self._publisher_stop,),
            name="va-clock-publish",
            daemon=True,
        )
        self._publisher_thread.start()
        scheduler.start(paused=True)
        sync_job_store(
            scheduler, desired_jobs(self.config, self.options, now=self.clock()), func=JOB_FUNC
        )
        self.reconcile()
        if resume:
            scheduler.resume()
        log.info("%s: active, %d jobs", self.name, len(scheduler.get_jobs()))
        self.beat()

    def step_down(self) -> None:
        """Stop scheduling now (lost lock, or exit); the job store rows stay for the next clock."""
        global _current
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            with contextlib.suppress(Exception):
                scheduler.pause()
                scheduler.remove_jobstore("default", shutdown=False)
            with contextlib.suppress(Exception):
                scheduler.shutdown(wait=False)
        if _current is self:
            _current = None
        if self._publisher_thread is not None:
            # rows still waiting here stay queued: the next active clock publishes them
            self._publisher_stop.set()
            self._outgoing.put(None)
            self._publisher_thread.join(timeout=10)
            self._publisher_thread = None
        self._lock.release()

    def beat(self) -> None:
        detail = "active" if self.active else "standby"
        try:
            self.store.for_client(CLUSTER_SCOPE).beat(self.name, now=self.clock(), detail=detail)
        except Exception as exc:  # the database is away: the lock check handles leadership
            log.warning("%s: heartbeat failed: %s", self.name, exc)

    # -- lifecycle ------------------------------------------------------------------
    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())

    def request_stop(self) -> None:
        self._stop.set()

    def serve(self) -> None:
        """Standby until the lock is ours, then schedule until stopped or the lock is lost."""
        cluster = self.options.cluster_or_default
        last_beat = last_reconcile = self.clock() - timedelta(days=1)
        log.info("%s: waiting for the clock lock", self.name)
        try:
            while not self._stop.is_set():
                now = self.clock()
                if not self.active:
                    if self._lock.try_acquire():
                        try:
                            self.become_active()
                        except Exception as exc:  # e.g. the database went away meanwhile
                            log.error("%s: cannot become active: %s", self.name, exc)
                            self.step_down()
                            self._stop.wait(STANDBY_POLL_S)
                            continue
                        last_beat = last_reconcile = self.clock()
                        continue
                    wait = STANDBY_POLL_S
                elif not self._lock.alive():
                    log.error("%s: lost the clock lock; back to standby", self.name)
                    self.step_down()
                    continue
                else:
                    wait = self.tick_s
                    if (now - last_reconcile).total_seconds() >= self.reconcile_s:
                        last_reconcile = now
                        try:
                            self.reconcile()
                        except Exception as exc:  # the next sweep tries again
                            log.error("%s: reconcile failed: %s", self.name, exc)
                if (now - last_beat).total_seconds() >= cluster.heartbeat_s:
                    last_beat = now
                    self.beat()
                self._stop.wait(wait)
        finally:
            self.step_down()
            with contextlib.suppress(Exception):
                self.store.for_client(CLUSTER_SCOPE).beat(
                    self.name, now=self.clock(), detail="stopped"
                )
            self.store.close()


def _celery_publisher(options: DaemonOptions) -> tuple[Publisher, Callable[[], int | None]]:
    from va_engine.cluster.celery_app import TASK_NAME, make_app
    from va_engine.cluster.status import queue_depth

    app = make_app(options)
    queue = options.cluster_or_default.queue

    def publish(scope: str, workflow: str, slot: str) -> None:
        # retry=False: fail fast; the publisher thread retries, in order
        app.send_task(TASK_NAME, args=[scope, workflow, slot], queue=queue, retry=False)

    def depth() -> int | None:
        value = queue_depth(app, queue)
        return value if isinstance(value, int) else None

    return publish, depth
