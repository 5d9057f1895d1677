"""The broker side of multi-node mode: Redis stopped for a minute, and RabbitMQ instead of Redis.

The outage test stops the shared Redis server (and always restarts it): the
clock keeps writing ``va_dispatch`` rows while nothing can be published, and
publishes them once Redis is back (it restarts empty, as configured here:
no persistence). Runs are late, never lost, never run twice.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cluster.conftest import REDIS, reachable
from tests.cluster.helpers import Db, client_id, seeded_cluster, wait_for
from va_engine.cli.app import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def _all_done(db: Db) -> bool:
    return bool(db.scalar("SELECT count(*) FROM va_dispatch WHERE status <> 'done'") == 0)


def _status(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["--config", str(config_dir), "status", "-f", "json"]) == 0
    view: dict[str, object] = json.loads(capsys.readouterr().out)["cluster"]
    return view


def _assert_once(db: Db) -> None:
    """Every dispatched run done, ran once (one attempt), one reminder and one ledger entry."""
    runs = db.rows("SELECT client_id, period, status, attempts FROM va_runs")
    assert len(runs) == db.scalar("SELECT count(*) FROM va_dispatch")
    assert {(status, attempts) for *_, status, attempts in runs} == {("done", 1)}
    outbox = Counter(tuple(r) for r in db.rows("SELECT client_id, run_key FROM va_outbox"))
    ledger = Counter(tuple(r) for r in db.rows("SELECT client_id, run_key FROM va_ledger"))
    assert len(outbox) == len(runs) and set(outbox.values()) == {1}
    assert set(ledger) == set(outbox) and set(ledger.values()) == {1}


@pytest.mark.timeout(600)
def test_redis_down_for_a_minute_delays_runs_and_loses_none(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    queue_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clients = 20
    cluster, db = seeded_cluster(
        tmp_path,
        database_url=pg_url,
        broker_url=redis_url,
        queue=queue_name,
        clients=clients,
        start=datetime.now(UTC),
        minutes=25,
    )
    try:
        cluster.start("clock", "clock")
        cluster.start("worker", "worker", "--concurrency", "2")
        wait_for(
            lambda: (
                db.scalar("SELECT count(DISTINCT client_id) FROM va_dispatch") == clients
                and _all_done(db)
            ),
            timeout=150,
            interval=1,
            what="a first slot of every client",
        )
        view = _status(cluster.config_dir, capsys)
        assert view["active_clock"] is not None
        assert len(view["live_workers"]) == 1  # type: ignore[arg-type]
        assert view["queue"] == {"name": queue_name, "depth": 0}

        down_at = datetime.now(UTC)
        subprocess.run(["redis-cli", "-h", REDIS[0], "shutdown", "nosave"], check=False)
        wait_for(lambda: not reachable(REDIS), timeout=10, what="Redis to stop")
        time.sleep(30)
        depth = _status(cluster.config_dir, capsys)["queue"]["depth"]  # type: ignore[index]
        assert str(depth).startswith("unreachable: ")
        time.sleep(30)
        waiting = db.rows(
            "SELECT client_id, slot FROM va_dispatch WHERE status = 'queued' AND deliveries = 0"
        )
        assert len({cid for cid, _ in waiting}) == clients  # every client has a slot waiting
        subprocess.run(REDIS_START, check=True)
        up_at = datetime.now(UTC)
        wait_for(lambda: reachable(REDIS), timeout=10, what="Redis to restart")
        # the clock keeps running: it publishes what waited, the worker reconnects
        wait_for(
            lambda: (
                db.scalar(
                    "SELECT count(*) FROM va_dispatch WHERE status <> 'done' AND slot < :up",
                    up=up_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
                == 0
            ),
            timeout=180,
            interval=2,
            what="the delayed runs",
        )
        assert cluster.stop("clock") == 0
        wait_for(lambda: _all_done(db), timeout=60, interval=2, what="the last runs")

        rows = db.rows("SELECT client_id, slot, started_at, deliveries FROM va_dispatch")
        slots: dict[str, list[datetime]] = defaultdict(list)
        for cid, slot, _, _ in rows:
            slots[cid].append(datetime.strptime(slot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))
        assert set(slots) == {client_id(i) for i in range(clients)}
        for cid, moments in slots.items():
            moments.sort()
            gaps = {b - a for a, b in itertools.pairwise(moments)}
            assert gaps == {timedelta(minutes=1)}, (cid, moments)  # no slot of the outage lost
        delayed = [
            (cid, slot)
            for cid, slot, started, _ in rows
            if down_at < datetime.strptime(slot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) < up_at
        ]
        assert len(delayed) >= clients  # a minute of slots fell in the outage
        started_of = {(cid, slot): started for cid, slot, started, _ in rows}
        assert all(started_of[key] >= up_at for key in delayed)
        _assert_once(db)  # late, and none ran twice
        lag = max((started_of[key] - up_at).total_seconds() for key in delayed)
        print(
            f"\noutage test: {len(delayed)} runs due during the outage, all started within "
            f"{lag:.0f} s after Redis returned; deliveries {Counter(d for *_, d in rows)}"
        )
    finally:
        if not reachable(REDIS):
            subprocess.run(REDIS_START, check=False)
        cluster.close()
        db.close()


def test_a_worker_on_rabbitmq_runs_every_slot_once(
    tmp_path: Path, pg_url: str, amqp_url: str, queue_name: str
) -> None:
    clients = 3
    cluster, db = seeded_cluster(
        tmp_path,
        database_url=pg_url,
        broker_url=amqp_url,
        queue=queue_name,
        clients=clients,
        start=datetime.now(UTC),
        minutes=20,
    )
    try:
        cluster.start("clock", "clock")
        cluster.start("worker", "worker", "--concurrency", "1")
        wait_for(
            lambda: (
                db.scalar("SELECT count(DISTINCT client_id) FROM va_dispatch WHERE status = 'done'")
                == clients
            ),
            timeout=150,
            interval=1,
            what="one slot of every client over RabbitMQ",
        )
        assert cluster.stop("clock") == 0
        wait_for(lambda: _all_done(db), timeout=60, what="the last runs")
        assert cluster.stop("worker") == 0  # warm shutdown
        assert {d for (d,) in db.rows("SELECT deliveries FROM va_dispatch")} == {1}
        _assert_once(db)
    finally:
        cluster.close()
        db.close()
