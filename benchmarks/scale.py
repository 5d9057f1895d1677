"""Scale-out: runs per minute and start lag, single daemon versus clock + N Celery workers.

    python benchmarks/scale.py --clients 2000 --workers 1 2 4 --json benchmarks/results/scale.json

What runs is the real thing, as separate processes started the way an
operator starts them (``python -m va_engine --config DIR run --role …``):

- mode ``single``: ``run --role all``, the single-process daemon; ``workers``
  is its thread pool (``[daemon] workers``, ``--single-workers``, default 8).
- mode ``celery``: one ``run --role clock`` plus ``workers`` separate
  ``run --role worker --concurrency 1`` processes. One process per worker,
  each running one run at a time, stands for one worker node: the workers
  axis is the number of runs in flight, as the thread pool is for ``single``.

Workload: ``clients`` clients, each with only the ``reminders`` workflow on a
1-minute interval (every other workflow off), no accounts, no network. Each
client has one open task due in every reminder window, so every run renders
one message, queues it in the outbox (delivered as a draft file under the
data dir) and writes a ledger entry: a run is a few dozen small queries.
Each mode gets a fresh PostgreSQL database and its own broker queue.

Measurement: after start-up (config load, job store sync) and one warm-up
minute, ``--minutes`` whole minutes are measured, then every process gets
SIGTERM. From the database:

- ``runs_per_min``: runs (``va_runs``, status done) that finished inside the
  window, divided by its minutes; ``offered_per_min`` is ``clients`` (each
  client is due once a minute).
- ``lag_p50_s``/``lag_p99_s``: run start (``va_runs.started_at``) minus the
  moment its trigger was due, over the runs due inside the window. Celery
  mode reads the due moment from ``va_dispatch.slot``; a slot still queued
  when the window closes counts with its age then (a lower bound), so a
  backlog shows in the lag instead of hiding. The single daemon keeps no
  fire time: each client's interval trigger fires at a fixed second of the
  minute (``desired_jobs`` spreads them), so the due moment is the latest such
  second before the run started. That is exact below 60 s of lag; a daemon
  further behind coalesces and skips slots, which shows as ``runs_per_min``
  below ``offered_per_min``.
- ``cpu_s``: CPU seconds of the va-engine processes (clock, workers and their
  pool children, or the single daemon) over the window, from ``/proc``;
  ``cpu_ms_per_run`` divides it by the runs finished. ``db_cpu_s``: the
  PostgreSQL backends serving this database that were alive at both ends of
  the window (pooled connections); connections opened and closed inside it
  (a worker's per-run scope-lock connection) are not counted, so it is a
  lower bound.
- ``load_avg``: the machine's 1-minute load average (mean of both ends): the
  machine is shared, and a load above its 2 cores means the figures include
  waiting for a core.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from benchmarks._common import machine, print_table, write_results
from va_engine.model import Task
from va_engine.settings import load_config
from va_engine.store import DispatchRow, RunRow, Store
from va_engine.workflows.daemon import desired_jobs
from va_engine.workflows.jobs import format_slot
from va_engine.workflows.options import WORKFLOW_DEFAULTS, load_daemon_options

PG_ADMIN_DSN = os.environ.get(
    "VA_ENGINE_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)
WORKFLOW = "reminders"
LEAD_MINUTES = 60
#: seconds after the window for runs in flight to finish before SIGTERM
DRAIN_S = 10.0
COLUMNS = [
    "mode",
    "workers",
    "clients",
    "offered_per_min",
    "runs_per_min",
    "lag_p50_s",
    "lag_p99_s",
    "backlog",
    "cpu_s",
    "cpu_ms_per_run",
    "db_cpu_s",
    "load_avg",
]


# --------------------------------------------------------------------------- setup


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database for one mode (as tests/databases.py does); dropped after."""
    import psycopg

    name = f"va_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    params = dict(item.split("=", 1) for item in PG_ADMIN_DSN.split())
    url = (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/{name}"
    )
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build(
    root: Path, clients: int, *, url: str, broker: str, queue: str, single_workers: int
) -> Path:
    """A config dir: ``clients`` clients with only ``reminders`` every minute."""
    (root / "clients").mkdir(parents=True)
    for n in range(clients):
        cid = f"c{n:05d}"
        (root / "clients" / f"{cid}.toml").write_text(
            f'id = "{cid}"\nname = "Client {n}"\nemail = "{cid}@client.example"\nlanguage = "en"\n'
        )
    off = "\n".join(
        f"[daemon.workflows.{name}]\nenabled = false\n"
        for name in WORKFLOW_DEFAULTS
        if name != WORKFLOW
    )
    (root / "va-engine.toml").write_text(
        f'timezone = "Europe/Amsterdam"\nlanguage = "en"\ndata_dir = "{root / "var"}"\n'
        f'database_url = "{url}"\n\n'
        '[[assistants]]\nid = "sanne"\nname = "Sanne"\nemail = "sanne@va.example"\n\n'
        f"[daemon]\nworkers = {single_workers}\n\n"
        f"[daemon.workflows.{WORKFLOW}]\nenabled = true\nevery_minutes = 1\n"
        f"lead_minutes = {LEAD_MINUTES}\n\n{off}\n"
        f'[daemon.cluster]\nbroker_url = "{broker}"\nqueue = "{queue}"\nheartbeat_s = 5\n'
    )
    return root


def seed_tasks(store: Store, clients: int, start: datetime, minutes: int) -> None:
    """One open task per client due in each reminder window from ``start`` on."""
    base = start.replace(second=0, microsecond=0) + timedelta(minutes=LEAD_MINUTES)
    for n in range(clients):
        cid = f"c{n:05d}"
        tasks = [
            Task(
                id=f"{cid}:t{m}",
                title=f"Send the report {m}",
                client_id=cid,
                kind="admin",
                duration_minutes=15,
                deadline=base + timedelta(minutes=m, seconds=30),
                source="bench",
                external_id=f"t{m}",
            )
            for m in range(minutes)
        ]
        store.for_client(cid).upsert_tasks(tasks, now=start)


def fire_seconds(config_dir: Path) -> dict[str, int]:
    """Client → the second of the minute its reminders trigger fires (the daemon's spread)."""
    config = load_config(config_dir)
    specs = desired_jobs(config, load_daemon_options(config), now=datetime.now(UTC))
    return {
        spec.scope: int(spec.trigger.start_date.timestamp()) % 60
        for spec in specs
        if spec.workflow == WORKFLOW
    }


# --------------------------------------------------------------------------- processes


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A Redis of this benchmark's own on a free port: nobody else's test stops it mid-run."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.time() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def start(config_dir: Path, log: Path, *role: str) -> subprocess.Popen[bytes]:
    """One va-engine process in its own session, so stopping it reaches its pool children."""
    command = [sys.executable, "-m", "va_engine", "--config", str(config_dir), "run", *role]
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    """SIGTERM to each main process (Celery's warm shutdown: the run in flight finishes;
    sent to the pool children too it would kill them mid-run), then SIGKILL what is left."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.time() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _descendants(pids: Sequence[int]) -> set[int]:
    """``pids`` and every process below them (Celery's pool children)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(parents.get(pid, []))
    return found


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU of ``pids`` so far (processes gone in between count as 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


def backend_pids(store: Store) -> set[int]:
    """The PostgreSQL server processes serving this database (same machine)."""
    with store.engine.connect() as connection:
        name = connection.exec_driver_sql("SELECT current_database()").scalar()
        rows = connection.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = %(name)s", {"name": name}
        )
        return {int(pid) for (pid,) in rows}


class Meter:
    """CPU of a set of processes over a window; pids seen at either end are counted."""

    def __init__(self, roots: Sequence[int], store: Store) -> None:
        self.roots, self.store = list(roots), store
        self.ours0, self.db0 = self._sample()

    def _sample(self) -> tuple[dict[int, float], dict[int, float]]:
        ours = {pid: cpu_seconds({pid}) for pid in _descendants(self.roots)}
        db = {pid: cpu_seconds({pid}) for pid in backend_pids(self.store)}
        return ours, db

    def finish(self) -> tuple[float, float]:
        ours1, db1 = self._sample()
        spent = [
            sum(end.get(pid, 0.0) - begin.get(pid, 0.0) for pid in end)
            for begin, end in ((self.ours0, ours1), (self.db0, db1))
        ]
        return round(spent[0], 1), round(spent[1], 1)


# --------------------------------------------------------------------------- measuring


def wait_for_first_run(store: Store, timeout: float, processes: Sequence[Any]) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"a va-engine process exited early ({process.args})")
        with store.session() as session:
            if session.scalar(select(RunRow.id).where(RunRow.status == "done").limit(1)):
                return
        time.sleep(1.0)
    raise SystemExit(f"no run finished within {timeout:.0f} s of starting; see the logs")


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    store: Store, mode: str, t0: datetime, t1: datetime, seconds: dict[str, int]
) -> dict[str, Any]:
    """Throughput and start lag over ``[t0, t1)`` (see the module docstring)."""
    with store.session() as session:
        runs = session.execute(
            select(RunRow.client_id, RunRow.period, RunRow.started_at, RunRow.finished_at).where(
                RunRow.workflow == WORKFLOW, RunRow.status == "done"
            )
        ).all()
        slots = session.execute(
            select(DispatchRow.client_id, DispatchRow.slot).where(
                DispatchRow.workflow == WORKFLOW,
                DispatchRow.slot >= format_slot(t0),
                DispatchRow.slot < format_slot(t1),
            )
        ).all()
    finished = sum(1 for run in runs if run.finished_at and t0 <= _aware(run.finished_at) < t1)
    started = {(run.client_id, run.period): _aware(run.started_at) for run in runs}
    lags: list[float] = []
    backlog = 0
    if mode == "celery":
        for client_id, slot in slots:
            due = datetime.strptime(slot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            begun = started.get((client_id, slot[:16] + "Z"))
            if begun is None:
                backlog += 1
                begun = t1  # still waiting when the window closed: a lower bound
            lags.append((begun - due).total_seconds())
    else:
        for (client_id, _period), begun in started.items():
            second = seconds.get(client_id)
            if second is None:
                continue
            due = begun.replace(second=second, microsecond=0)
            if due > begun:
                due -= timedelta(minutes=1)
            if t0 <= due < t1:
                lags.append((begun - due).total_seconds())
    minutes = (t1 - t0).total_seconds() / 60
    p50 = statistics.median(lags) if lags else None
    p99 = percentile(lags, 0.99)
    return {
        "runs_per_min": round(finished / minutes, 1),
        "lag_p50_s": round(p50, 2) if p50 is not None else None,
        "lag_p99_s": round(p99, 2) if p99 is not None else None,
        "due_runs": len(lags),
        "backlog": backlog,
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sleep_until(moment: datetime) -> None:
    while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 5.0))


# --------------------------------------------------------------------------- one mode


def run_mode(
    mode: str,
    workers: int,
    *,
    clients: int,
    minutes: int,
    broker: str,
    single_workers: int,
    logs: Path,
    startup_timeout: float,
) -> dict[str, Any]:
    queue = f"va-scale-{uuid.uuid4().hex[:8]}"
    label = f"{mode}-{workers}"
    with (
        fresh_database() as url,
        tempfile.TemporaryDirectory(prefix=f"va-scale-{label}-") as tmp,
    ):
        root = build(
            Path(tmp),
            clients,
            url=url,
            broker=broker,
            queue=queue,
            single_workers=workers if mode == "single" else single_workers,
        )
        seconds = fire_seconds(root)
        store = Store(url)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            begin = datetime.now(UTC)
            seed_tasks(store, clients, begin, minutes + 15)
            log = logs / f"scale-{label}.log"
            log.write_bytes(b"")
            if mode == "single":
                processes.append(start(root, log, "--role", "all"))
            else:
                processes.append(start(root, log, "--role", "clock"))
                processes += [
                    start(root, log, "--role", "worker", "--concurrency", "1")
                    for _ in range(workers)
                ]
            wait_for_first_run(store, startup_timeout, processes)
            now = datetime.now(UTC)
            t0 = now.replace(second=0, microsecond=0) + timedelta(minutes=2)  # one warm-up minute
            t1 = t0 + timedelta(minutes=minutes)
            _sleep_until(t0)
            meter = Meter([p.pid for p in processes], store)
            load0 = os.getloadavg()[0]
            _sleep_until(t1)
            cpu, db_cpu = meter.finish()
            load1 = os.getloadavg()[0]
            _sleep_until(t1 + timedelta(seconds=DRAIN_S))
            stop(processes)
            row = measure(store, mode, t0, t1, seconds)
        finally:
            stop(processes)
            store.close()
    return {
        "mode": mode,
        "workers": workers,
        "clients": clients,
        "offered_per_min": clients,
        **row,
        "cpu_s": cpu,
        "cpu_ms_per_run": round(1000 * cpu / max(1.0, row["runs_per_min"] * minutes), 1),
        "db_cpu_s": db_cpu,
        "load_avg": round((load0 + load1) / 2, 2),
        "minutes": minutes,
        "cores": os.cpu_count(),
        "broker": broker.split(":", 1)[0],
        "date": f"{t0:%Y-%m-%d}",
        "machine": machine(),
    }


def parse_counts(values: Sequence[str]) -> list[int]:
    """``1 2 4``, ``1|2|4`` and ``1,2,4`` all mean worker counts 1, 2 and 4."""
    counts = [int(part) for value in values for part in value.replace("|", ",").split(",") if part]
    if not counts or min(counts) < 1:
        raise SystemExit("--workers takes positive counts, e.g. --workers 1 2 4")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--workers", nargs="+", default=["1", "2", "4"])
    parser.add_argument("--minutes", type=int, default=3, help="measured minutes per mode")
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379/0",
        help="broker URL, or 'private' for a redis-server of its own on a free port",
    )
    parser.add_argument(
        "--single-workers", type=int, default=8, help="thread pool of the single daemon"
    )
    parser.add_argument(
        "--modes", nargs="+", choices=["single", "celery"], default=["single", "celery"]
    )
    parser.add_argument("--startup-timeout", type=float, default=600.0)
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()
    counts = parse_counts(args.workers)
    plan = [("single", args.single_workers)] if "single" in args.modes else []
    plan += [("celery", n) for n in counts] if "celery" in args.modes else []
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(private_redis()) if args.broker == "private" else args.broker
        rows = run_plan(plan, args, broker)
    print_table("scale-out", rows, COLUMNS)


def run_plan(plan: Sequence[tuple[str, int]], args: argparse.Namespace, broker: str) -> list[Any]:
    rows = []
    for mode, workers in plan:
        print(f"{mode} x{workers}: {args.clients} clients, {args.minutes} min …", flush=True)
        rows.append(
            run_mode(
                mode,
                workers,
                clients=args.clients,
                minutes=args.minutes,
                broker=broker,
                single_workers=args.single_workers,
                logs=args.logs,
                startup_timeout=args.startup_timeout,
            )
        )
        write_results(rows, args.json_path)  # keep what is done if a later mode fails
    return rows


if __name__ == "__main__":
    main()
