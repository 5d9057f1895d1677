"""The parts of multi-node mode on a real PostgreSQL: locks, reconcile, slots, config, status."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.cluster.helpers import Db, cluster_config, wait_for
from tests.daemon.helpers import AMS, client_toml, write_config
from tests.servers import free_port
from va_engine.cli.app import main
from va_engine.cluster.clock import Clock
from va_engine.cluster.locks import AdvisoryLock, PostgresScopeLocks, lock_engine
from va_engine.errors import ConfigError
from va_engine.settings import load_config
from va_engine.workflows.jobs import WORKFLOWS, format_slot, parse_slot
from va_engine.workflows.options import load_daemon_options

pytestmark = [pytest.mark.integration]


# --------------------------------------------------------------------------- scope locks


def test_a_scope_lock_excludes_other_sessions_and_dies_with_its_process(pg_url: str) -> None:
    here, there = PostgresScopeLocks(pg_url), PostgresScopeLocks(pg_url)
    try:
        mine = here.lock("c001")
        assert mine.acquire(timeout=1)
        assert not there.lock("c001").acquire(timeout=0.5)
        other = there.lock("c002")  # another client is not involved
        assert other.acquire(timeout=0.5)
        other.release()
        mine.release()
        theirs = there.lock("c001")
        assert theirs.acquire(timeout=0.5)
        theirs.release()

        # a process holding the lock is killed -9: the server frees it with its connection
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    import sys, time
                    from va_engine.cluster.locks import PostgresScopeLocks
                    assert PostgresScopeLocks({pg_url!r}).lock("c001").acquire(timeout=5)
                    print("held", flush=True)
                    time.sleep(120)
                    """
                ),
            ],
            stdout=subprocess.PIPE,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
            assert not here.lock("c001").acquire(timeout=0.5)
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
            freed = here.lock("c001")
            assert freed.acquire(timeout=10)
            freed.release()
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
            assert holder.stdout is not None
            holder.stdout.close()
    finally:
        here.close()
        there.close()


def test_the_clock_lock_notices_when_its_connection_is_gone(pg_url: str) -> None:
    active, standby = AdvisoryLock(lock_engine(pg_url), 42), AdvisoryLock(lock_engine(pg_url), 42)
    db = Db(pg_url)
    try:
        assert active.try_acquire() and active.alive()
        assert not standby.try_acquire()
        # the server drops the session (network cut, admin, failover)
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND objid = 42 AND pid <> pg_backend_pid()"
        )
        assert not active.alive()
        assert not active.held
        assert wait_for(standby.try_acquire, timeout=10, what="the standby to take the lock")
    finally:
        active.release()
        standby.release()
        db.close()


# --------------------------------------------------------------------------- reconcile


class FakeTime:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_reconcile_fills_gaps_since_the_first_dispatch_and_never_repeats_a_slot(
    tmp_path: Path, pg_url: str
) -> None:
    config_dir = cluster_config(
        tmp_path / "config",
        database_url=pg_url,
        broker_url="redis://127.0.0.1:1/0",  # never used: the publisher is a list
        queue="unused",
        clients=2,
    )
    published: list[tuple[str, str, str]] = []
    start = datetime.now(UTC).replace(microsecond=0)
    fake = FakeTime(start)
    clock = Clock(
        config_dir=config_dir,
        publisher=lambda *job: published.append(job),
        clock=fake,
    )
    db = Db(pg_url)

    def published_soon(count: int) -> None:  # publishing is on the clock's own thread
        wait_for(lambda: len(published) >= count, timeout=10, what=f"{count} publishes")
        assert len(published) == count

    try:
        clock.become_active(resume=False)
        assert published == []  # a fresh install replays no history
        assert clock.scheduler is not None
        job = clock.scheduler.get_job("c000:reminders")
        first = job.trigger.get_next_fire_time(None, start)
        assert clock.dispatch("c000", "reminders", first)
        assert not clock.dispatch("c000", "reminders", first)  # once per slot
        published_soon(1)
        assert published == [("c000", "reminders", format_slot(first))]

        db.execute("UPDATE va_dispatch SET status = 'done', deliveries = 1")
        # the clock was gone for five minutes (say killed between submit and update)
        fake.now = first + timedelta(minutes=5, seconds=1)
        assert clock.reconcile() == {"filled": 5, "republished": 0}
        published_soon(6)
        slots = [s for _, _, s in published[1:]]
        assert slots == [format_slot(first + timedelta(minutes=m)) for m in range(1, 6)]
        assert all(c == "c000" for c, _, _ in published)  # c001 was never dispatched

        db.execute("UPDATE va_dispatch SET status = 'done', deliveries = 1")
        assert clock.reconcile() == {"filled": 0, "republished": 0}

        # a row whose message was lost (queued, never received) goes out again, once per sweep
        fake.now += timedelta(minutes=1)
        assert clock.reconcile() == {"filled": 1, "republished": 0}
        fake.now += timedelta(seconds=10)  # > 2 × heartbeat_s (2 s)
        assert clock.reconcile() == {"filled": 0, "republished": 1}
        published_soon(8)
        assert published[-1] == published[-2]
        assert db.scalar("SELECT count(*) FROM va_dispatch") == 7

        # never further back than the job's grace for interval jobs (at most one hour)
        fake.now += timedelta(hours=3)
        db.execute("UPDATE va_dispatch SET status = 'done', deliveries = 1")
        assert clock.reconcile()["filled"] == 60
    finally:
        clock.step_down()
        clock.store.close()
        db.close()


# --------------------------------------------------------------------------- slots


def test_a_slot_maps_to_its_own_period_however_late_the_run() -> None:
    slot = parse_slot("2026-11-30T22:59:50Z")  # 23:59:50 in Amsterdam
    assert format_slot(slot) == "2026-11-30T22:59:50Z"
    assert format_slot(slot.astimezone(AMS)) == "2026-11-30T22:59:50Z"
    config_free = WORKFLOWS["confirmations"]
    from va_engine.workflows.options import WORKFLOW_DEFAULTS

    daily = WORKFLOW_DEFAULTS["confirmations"].model_copy(update={"at": "23:00"})
    # run at 00:20 the next day, it still confirms for the 30th
    assert config_free.period(slot, daily, AMS) == "2026-11-30"
    assert config_free.period(slot + timedelta(minutes=21), daily, AMS) is None
    every = WORKFLOW_DEFAULTS["reminders"].model_copy(update={"every_minutes": 15})
    assert WORKFLOWS["reminders"].period(slot, every, AMS) == "2026-11-30T22:45Z"
    with pytest.raises(Exception, match="is not"):
        parse_slot("2026-11-30 22:59")


# --------------------------------------------------------------------------- config


def test_cluster_config_errors_are_specific(tmp_path: Path, pg_url: str) -> None:
    bad = write_config(
        tmp_path / "bad",
        database_url=pg_url,
        clients={"c1": client_toml("c1")},
        daemon="[daemon]\njob_timeout_s = 600\n\n[daemon.cluster]\nvisibility_timeout_s = 300\n",
    )
    with pytest.raises(ConfigError, match=r"visibility_timeout_s \(300\) must be longer"):
        load_daemon_options(load_config(bad))
    default = write_config(
        tmp_path / "default",
        database_url=pg_url,
        clients={"c1": client_toml("c1")},
        daemon='[daemon]\njob_timeout_s = 2400\n\n[daemon.cluster]\nqueue = "q"\n',
    )
    options = load_daemon_options(load_config(default))
    assert options.cluster is not None
    assert options.cluster.visibility_timeout(options.job_timeout_s) == 4800
    assert options.cluster.broker_url == "redis://127.0.0.1:6379/0"


def test_multi_node_roles_refuse_sqlite_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_dir = write_config(
        tmp_path / "config",
        database_url=f"sqlite:///{tmp_path / 'va.db'}",
        clients={"c1": client_toml("c1")},
        daemon="[daemon.cluster]\n",
    )
    for role in ("clock", "worker"):
        code = main(["--config", str(config_dir), "run", "--role", role])
        err = capsys.readouterr().err
        assert code == 2
        assert "multi-node mode needs PostgreSQL: set database_url" in err
        assert "Traceback" not in err


# --------------------------------------------------------------------------- status


def test_status_shows_the_cluster_and_a_broker_that_is_down(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config_dir = cluster_config(
        tmp_path / "config",
        database_url=pg_url,
        broker_url=f"redis://127.0.0.1:{free_port()}/0",
        queue="q-down",
        clients=2,
    )
    assert main(["--config", str(config_dir), "run", "--once"]) == 0  # creates the schema
    capsys.readouterr()
    db = Db(pg_url)
    now = datetime.now(UTC)
    try:
        with db.engine.begin() as connection:
            for name, at, detail in (
                ("clock:a:1", now - timedelta(seconds=1), "active"),
                ("clock:b:2", now - timedelta(seconds=2), "standby"),
                ("worker:a:3", now - timedelta(seconds=1), "x"),
                ("worker:b:4", now - timedelta(minutes=5), "x"),
            ):
                connection.execute(
                    text(
                        "INSERT INTO va_heartbeats (name, client_id, at, detail) "
                        "VALUES (:n, '@cluster', :at, :d)"
                    ),
                    {"n": name, "at": at, "d": detail},
                )
            connection.execute(
                text(
                    "INSERT INTO va_dispatch (client_id, workflow, slot, status, enqueued_at, "
                    "deliveries, worker) VALUES ('c000', 'reminders', '2026-01-01T00:00:00Z', "
                    "'queued', :at, 0, '')"
                ),
                {"at": now - timedelta(seconds=90)},
            )
        assert main(["--config", str(config_dir), "status", "-f", "json"]) == 0
        view = json.loads(capsys.readouterr().out)["cluster"]
        assert view["active_clock"]["name"] == "a:1"
        assert [c["name"] for c in view["standby_clocks"]] == ["b:2"]
        assert [w["name"] for w in view["live_workers"]] == ["a:3"]
        assert [w["name"] for w in view["stale_workers"]] == ["b:4"]
        assert view["queue"]["name"] == "q-down"
        assert str(view["queue"]["depth"]).startswith("unreachable: ")
        assert view["oldest_waiting"]["client"] == "c000"
        assert view["oldest_waiting"]["age_s"] >= 90
        assert view["last_hour"]["queued"] == 1
        assert main(["--config", str(config_dir), "status"]) == 0
        table = capsys.readouterr().out
        assert "Cluster" in table and "unreachable" in table and "a:1" in table
    finally:
        db.close()


@pytest.mark.parametrize("broker", ["redis_url", "amqp_url"])
def test_queue_depth_counts_waiting_messages_on_redis_and_rabbitmq(
    broker: str, request: pytest.FixtureRequest, queue_name: str
) -> None:
    from va_engine.cluster.celery_app import TASK_NAME, make_app
    from va_engine.cluster.status import queue_depth
    from va_engine.workflows.options import ClusterOptions, DaemonOptions

    url = request.getfixturevalue(broker)
    app = make_app(DaemonOptions(cluster=ClusterOptions(broker_url=url, queue=queue_name)))
    try:
        assert queue_depth(app, queue_name) == 0  # never declared: nothing waits
        for i in range(3):
            app.send_task(TASK_NAME, args=[f"c{i}", "reminders", "2026-01-01T00:00:00Z"])
        assert wait_for(lambda: queue_depth(app, queue_name) == 3, timeout=10, what="3 waiting")
    finally:
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            channel.queue_purge(queue_name)
            channel.queue_delete(queue_name)
        app.close()
