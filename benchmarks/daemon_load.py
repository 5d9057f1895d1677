"""Daemon load: N clients × 8 workflows with local connectors, a time-compressed schedule.

    python benchmarks/daemon_load.py --clients 500 --json benchmarks/results/daemon_load.json

What runs is the real thing: the daemon's own job set (:func:`desired_jobs`,
with its per-client spread), APScheduler 3 with the SQLAlchemy job store in
a SQLite file, a thread pool, and every job going through
``va_engine.workflows.jobs`` (idempotency keys, outbox, ledger) against
per-client ``.ics`` calendars, Maildirs and invoice files.

Time compression: the simulated window (default Monday 09:28–09:38, which
holds the daily burst of reminders, confirmations, deadline watches and the
weekly review, plus the interval syncs and triages) is played ``--speed``
times faster. Each fire time of each job in the window is computed from its
real trigger, mapped to wall-clock time and added as a date job; the
workflows see the simulated clock. *Lag* is the wall-clock delay between a
job's due moment and the moment its function starts (queueing in the
executor included), in real seconds.

Re-planning is switched off (it is the planner benchmark's subject, and one
assistant with 500 clients is not a daemon-latency question).
"""

from __future__ import annotations

import argparse
import json
import mailbox
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from benchmarks._common import machine, print_table, write_results
from va_engine.settings import load_config
from va_engine.store import Store
from va_engine.workflows import jobs
from va_engine.workflows.daemon import JOB_TABLE, desired_jobs, tune_store
from va_engine.workflows.options import load_daemon_options

AMS = ZoneInfo("Europe/Amsterdam")
SIM_START = datetime(2026, 11, 30, 9, 28, tzinfo=AMS)  # a Monday

_lags: list[float] = []
_durations: list[float] = []
_lags_lock = threading.Lock()
_t0_real = 0.0
_speed = 1.0


def sim_clock() -> datetime:
    """The simulated 'now' the workflows see: the window played ``_speed`` times faster."""
    return SIM_START + timedelta(seconds=(time.time() - _t0_real) * _speed)


def timed_job(scope: str, workflow: str, due_real: float) -> dict[str, Any]:
    """The job function: records the start lag, then runs the workflow as the daemon does."""
    started = time.time()
    with _lags_lock:
        _lags.append(started - due_real)
    try:
        return jobs.run_workflow(scope, workflow)
    finally:
        with _lags_lock:
            _durations.append(time.time() - started)


def build(root: Path, clients: int, workers: int, database_url: str | None = None) -> Path:
    """A config dir with ``clients`` clients, each with an agenda, a Maildir and invoices."""
    (root / "clients").mkdir(parents=True)
    data = root / "data"
    tomorrow = SIM_START + timedelta(days=1)
    for n in range(clients):
        cid = f"c{n:04d}"
        home = data / cid
        home.mkdir(parents=True)
        start = tomorrow.replace(hour=10 + n % 6).astimezone(UTC)
        (home / "agenda.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{cid}-a\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\n"
            f"SUMMARY:Visit {cid}\r\nATTENDEE:mailto:guest-{cid}@example.org\r\nEND:VEVENT\r\n"
            "BEGIN:VTODO\r\nUID:{cid}-t\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Bookkeeping\r\n"
            f"DUE:{(SIM_START + timedelta(days=1)).astimezone(UTC):%Y%m%dT%H%M%SZ}\r\nEND:VTODO\r\n"
            "END:VCALENDAR\r\n"
        )
        box = mailbox.Maildir(home / "mail", create=True)
        box.add_folder("Drafts")
        box.add_folder("Sent")
        box.add(
            f"From: supplier@example.org\r\nTo: {cid}@example.org\r\nSubject: Invoice {n}\r\n"
            f"Message-ID: <inv-{cid}@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\n"
            "Please pay invoice 123 before 2026-12-12.\r\n"
        )
        due = SIM_START.date() - timedelta(days=n % 20)
        (home / "invoices.csv").write_text(
            "number,customer,email,amount,currency,due,paid\n"
            f"{cid}-1,Customer,pay-{cid}@example.org,100,EUR,{due},no\n"
        )
        (root / "clients" / f"{cid}.toml").write_text(
            f'id = "{cid}"\nname = "Client {n}"\nemail = "{cid}@client.example"\nlanguage = "en"\n\n'
            '[agreement]\nhours_per_period = 8\n\n[agreement.reachability]\nweekdays = "08:00-18:00"\n\n'
            f'[[calendars]]\nname = "agenda"\ntype = "ics"\npath = "{home / "agenda.ics"}"\nrole = "busy+todo"\n\n'
            f'[[mailboxes]]\nname = "mail"\ntype = "maildir"\npath = "{home / "mail"}"\n'
        )
    daily = "\n".join(
        f'[daemon.workflows.{name}]\nat = "09:30"\n'
        for name in ("payment_reminders", "confirmations", "deadline_watch", "morning_brief")
    )
    invoices = "\n".join(
        f'[daemon.clients.c{n:04d}]\ninvoices = "{data / f"c{n:04d}" / "invoices.csv"}"\n'
        for n in range(clients)
    )
    url = database_url or f"sqlite:///{root / 'var' / 'va.db'}"
    (root / "va-engine.toml").write_text(
        f'timezone = "Europe/Amsterdam"\nlanguage = "en"\ndata_dir = "{root / "var"}"\n'
        f'database_url = "{url}"\n\n'
        '[[assistants]]\nid = "sanne"\nname = "Sanne"\nemail = "sanne@va.example"\n\n'
        f"[daemon]\nworkers = {workers}\nspread_minutes = 10\n\n"
        "[daemon.workflows.replan]\nenabled = false\n\n"
        '[daemon.workflows.weekly_review]\nat = "09:30"\nweekday = 0\n\n'
        f"{daily}\n{invoices}"
    )
    return root


def run(
    clients: int, minutes: float, speed: float, workers: int, database_url: str | None = None
) -> dict[str, Any]:
    global _t0_real, _speed
    with tempfile.TemporaryDirectory(prefix="va-daemon-load-") as tmp:
        root = build(Path(tmp), clients, workers, database_url)
        config = load_config(root)
        options = load_daemon_options(config)
        store = tune_store(Store(config.engine.resolved_database_url()), options)
        runtime = jobs.Runtime(config=config, options=options, store=store, clock=sim_clock)
        jobs.set_runtime(runtime)
        specs = desired_jobs(config, options, now=SIM_START)
        sim_end = SIM_START + timedelta(minutes=minutes)
        fires: list[tuple[datetime, str, str]] = []
        for spec in specs:
            previous = None
            moment = spec.trigger.get_next_fire_time(None, SIM_START)
            while moment is not None and moment < sim_end:
                fires.append((moment, spec.scope, spec.workflow))
                previous = moment
                moment = spec.trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"max_instances": 1, "misfire_grace_time": 3600, "coalesce": True},
            timezone=UTC,
        )
        scheduler.start(paused=True)
        # seconds to load the job store before the window opens (SQLite inserts)
        lead = 5.0 + 0.02 * len(fires)
        _speed = speed
        _t0_real = time.time() + lead
        for index, (moment, scope, workflow) in enumerate(fires):
            due_real = _t0_real + (moment - SIM_START).total_seconds() / speed
            scheduler.add_job(
                f"{__name__}:timed_job",
                trigger="date",
                run_date=datetime.fromtimestamp(due_real, UTC),
                args=[scope, workflow, due_real],
                id=f"{scope}:{workflow}:{index}",
            )
        if time.time() > _t0_real:
            raise SystemExit("loading the jobs took longer than the lead time; raise it")
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        scheduler.resume()
        real_window = minutes * 60 / speed
        deadline = _t0_real + real_window + 600
        while time.time() < deadline:
            with _lags_lock:
                if len(_lags) >= len(fires):
                    break
            time.sleep(0.2)
        # wait for the last jobs to finish
        while runtime.active and time.time() < deadline:
            time.sleep(0.1)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        scheduler.shutdown(wait=True)
        runs = sum(len(store.for_client(s).runs()) for s in jobs.all_scopes(config))
        failed = sum(
            1
            for s in jobs.all_scopes(config)
            for r in store.for_client(s).runs()
            if r.status != "done"
        )
        store.close()
        jobs.set_runtime(None)
    lags = sorted(_lags)
    p99 = lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))] if lags else None
    return {
        "clients": clients,
        "jobs": len(specs),
        "fires": len(fires),
        "runs": runs,
        "failed_runs": failed,
        "sim_minutes": minutes,
        "speed": speed,
        "workers": workers,
        "database": (database_url or "sqlite").split(":", 1)[0],
        "lag_p50_s": round(statistics.median(lags), 3) if lags else None,
        "lag_p99_s": round(p99, 3) if p99 is not None else None,
        "lag_max_s": round(lags[-1], 3) if lags else None,
        "run_p50_s": round(statistics.median(_durations), 3) if _durations else None,
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_s": round((cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime), 1),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated window")
    parser.add_argument("--speed", type=float, default=5.0, help="time compression factor")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument(
        "--database-url", default=None, help="an empty database (default: a temp SQLite file)"
    )
    args = parser.parse_args()
    row = run(args.clients, args.minutes, args.speed, args.workers, args.database_url)
    print_table(
        "daemon load",
        [row],
        [
            "clients",
            "jobs",
            "fires",
            "runs",
            "failed_runs",
            "speed",
            "lag_p50_s",
            "lag_p99_s",
            "rss_mb",
            "cpu_s",
        ],
    )
    write_results([row], args.json_path)
    if args.json_path is None:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
