"""Real multi-node processes for the cluster tests: config dirs, clock/worker processes, queries.

Each process is ``python -m va_engine --config DIR run --role …`` in a session
of its own, so ``kill -9`` of a worker takes its pool processes with it (as a
machine dying would). Every process writes its own log file; :class:`Cluster`
kills whatever is left in ``close()``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.daemon.helpers import client_toml, write_config
from va_engine.model import Task
from va_engine.store import Store

#: every workflow but ``reminders`` is switched off in the cluster tests
OTHER_WORKFLOWS = (
    "sync",
    "replan",
    "morning_brief",
    "payment_reminders",
    "confirmations",
    "triage",
    "weekly_review",
    "deadline_watch",
    "retention",
)


def cluster_config(
    root: Path,
    *,
    database_url: str,
    broker_url: str,
    queue: str,
    clients: int,
    lead_minutes: int = 10,
    job_timeout_s: float = 20,
    visibility_timeout_s: float = 30,
    heartbeat_s: float = 2,
) -> Path:
    """``clients`` clients reminded every minute, reachable all day, drafts filed locally."""
    daemon = [
        "[daemon]",
        f"job_timeout_s = {job_timeout_s}",
        "",
        "[daemon.cluster]",
        f'broker_url = "{broker_url}"',
        f'queue = "{queue}"',
        f"visibility_timeout_s = {visibility_timeout_s}",
        f"heartbeat_s = {heartbeat_s}",
        "",
        "[daemon.workflows.reminders]",
        "enabled = true",
        "every_minutes = 1",
        f"lead_minutes = {lead_minutes}",
        "",
    ]
    for name in OTHER_WORKFLOWS:
        daemon += [f"[daemon.workflows.{name}]", "enabled = false", ""]
    return write_config(
        root,
        database_url=database_url,
        clients={
            client_id(i): client_toml(client_id(i), reachability='daily = "00:00-23:59"')
            for i in range(clients)
        },
        daemon="\n".join(daemon),
    )


def client_id(index: int) -> str:
    return f"c{index:03d}"


def seed_tasks(database_url: str, clients: int, *, start: datetime, minutes: int) -> None:
    """One task per client per minute, due at second 30 of each minute from ``start`` on:
    every 1-minute slot's window holds exactly one deadline."""
    store = Store(database_url)
    try:
        base = start.replace(second=30, microsecond=0)
        for i in range(clients):
            cid = client_id(i)
            store.for_client(cid).upsert_tasks(
                [
                    Task(
                        id=f"{cid}-t{m:03d}",
                        title=f"Task {m} of {cid}",
                        client_id=cid,
                        duration_minutes=15,
                        deadline=base + timedelta(minutes=m),
                    )
                    for m in range(minutes)
                ],
                now=start,
            )
    finally:
        store.close()


@dataclass
class Cluster:
    """Clock and worker processes of one test, with their logs."""

    config_dir: Path
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, role: str, *extra: str, env: dict[str, str] | None = None) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        inherited = {k: v for k, v in os.environ.items() if k != "VA_ENGINE_FAILPOINTS"}
        environment = {**inherited, **self.env, **(env or {})}
        self.procs[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "va_engine",
                "--config",
                str(self.config_dir),
                "run",
                "--role",
                role,
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
        log.close()
        return self.procs[name].pid

    def kill9(self, name: str) -> None:
        """SIGKILL the process and everything in its session (a worker's pool)."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self, name: str, timeout: float = 60) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Db:
    """Plain SQL on the test database (what the assertions read)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(sql), params)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def close(self) -> None:
        self.engine.dispose()


def wait_for(
    check: Callable[[], Any], *, timeout: float, interval: float = 0.5, what: str = ""
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def seeded_cluster(
    tmp_path: Path,
    *,
    database_url: str,
    broker_url: str,
    queue: str,
    clients: int,
    start: datetime,
    minutes: int,
) -> tuple[Cluster, Db]:
    """A config dir for ``clients`` clients, the schema (once, before any process starts),
    their seeded tasks, and handles on the processes to start (``cluster.config_dir``)
    and the rows to check."""
    config_dir = cluster_config(
        tmp_path / "config",
        database_url=database_url,
        broker_url=broker_url,
        queue=queue,
        clients=clients,
    )
    Store(database_url).close()
    seed_tasks(database_url, clients, start=start, minutes=minutes)
    return Cluster(config_dir, tmp_path / "logs"), Db(database_url)
