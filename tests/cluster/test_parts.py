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

from tests.cluster.helpers import (
    OTHER_WORKFLOWS,
    Cluster,
    Db,
    client_id,
    cluster_config,
    seed_tasks,
    wait_for,
)
from tests.daemon.helpers import AMS, client_toml, write_config
from tests.servers import free_port
from va_engine.cli.app import main
from va_engine.cluster.clock import Clock, fire_times
from va_engine.cluster.locks import AdvisoryLock, PostgresScopeLocks, lock_engine
from va_engine.errors import ConfigError
from va_engine.settings import load_config
from va_engine.store import Store
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
        assert clock.reconcile() == {"filled": 5, "republished": 0, "retried": 0}
        published_soon(6)
        slots = [s for _, _, s in published[1:]]
        assert slots == [format_slot(first + timedelta(minutes=m)) for m in range(1, 6)]
        assert all(c == "c000" for c, _, _ in published)  # c001 was never dispatched

        db.execute("UPDATE va_dispatch SET status = 'done', deliveries = 1")
        assert clock.reconcile() == {"filled": 0, "republished": 0, "retried": 0}

        # a row whose message was lost (queued, never received) goes out again, once per sweep
        fake.now += timedelta(minutes=1)
        assert clock.reconcile() == {"filled": 1, "republished": 0, "retried": 0}
        fake.now += timedelta(seconds=10)  # > 2 × heartbeat_s (2 s)
        assert clock.reconcile() == {"filled": 0, "republished": 1, "retried": 0}
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


def test_reconcile_retries_a_failed_slot_once_its_backoff_has_passed(
    tmp_path: Path, pg_url: str
) -> None:
    """The multi-node stand-in for the single daemon's one-off retry job, on a daily workflow."""
    clients = [client_id(i) for i in range(7)]
    daemon = [
        "[daemon]",
        "spread_minutes = 0",
        "",
        "[daemon.cluster]",
        'broker_url = "redis://127.0.0.1:1/0"',  # never used: the publisher is a list
        "heartbeat_s = 2",
        "max_retries = 2",
        "",
        "[daemon.workflows.confirmations]",
        'at = "10:00"',
        f"misfire_grace_s = {36 * 3600}",  # yesterday's slot is still in the window
        "",
        # c006's own window is ten minutes: its slot of 30 minutes ago is out of it
        "[daemon.clients.c006.workflows.confirmations]",
        "misfire_grace_s = 600",
        "",
    ]
    for name in ("reminders", *OTHER_WORKFLOWS):
        if name != "confirmations":
            daemon += [f"[daemon.workflows.{name}]", "enabled = false", ""]
    config_dir = write_config(
        tmp_path / "config",
        database_url=pg_url,
        clients={c: client_toml(c) for c in clients},
        daemon="\n".join(daemon),
    )
    published: list[tuple[str, str, str]] = []
    fake = FakeTime(datetime.now(UTC).replace(microsecond=0))
    clock = Clock(config_dir=config_dir, publisher=lambda *job: published.append(job), clock=fake)
    db = Db(pg_url)

    def row(scope: str, slot: datetime, status: str, deliveries: int = 1) -> None:
        db.execute(
            "INSERT INTO va_dispatch (client_id, workflow, slot, status, enqueued_at, "
            "started_at, finished_at, deliveries, worker, outcome) VALUES (:c, 'confirmations', "
            ":s, :st, :at, :at, :at, :d, 'w', :st)",
            c=scope,
            s=format_slot(slot),
            st=status,
            at=slot,
            d=deliveries,
        )

    def backoff_until(scope: str, moment: datetime) -> None:
        clock.store.for_client(scope).record_failure(
            "confirmations", "imap down", now=slot, next_attempt_at=moment
        )

    def published_soon(count: int) -> None:
        wait_for(lambda: len(published) >= count, timeout=10, what=f"{count} publishes")
        assert len(published) == count

    try:
        clock.become_active(resume=False)
        assert clock.scheduler is not None
        trigger = clock.scheduler.get_job("c000:confirmations").trigger
        slot = fire_times(trigger, fake.now - timedelta(days=2), fake.now)[-1]
        yesterday = trigger.get_next_fire_time(None, slot - timedelta(days=1, minutes=1))
        assert timedelta(hours=23) <= slot - yesterday <= timedelta(hours=25)
        fake.now = slot + timedelta(minutes=30)
        row("c000", slot, "failed")  # backoff over: retried
        backoff_until("c000", fake.now - timedelta(seconds=1))
        row("c001", slot, "failed")  # backoff still running: not yet
        backoff_until("c001", fake.now + timedelta(minutes=10))
        row("c002", yesterday, "failed")  # today's slot ran since: it does the work
        row("c002", slot, "done")
        backoff_until("c002", fake.now - timedelta(minutes=1))
        row("c003", slot, "failed", deliveries=3)  # first run + max_retries (2) retries done
        backoff_until("c003", fake.now - timedelta(minutes=1))
        row("c004", slot, "failed", deliveries=2)  # one retry left
        backoff_until("c004", fake.now - timedelta(minutes=1))
        row("c005", slot, "failed")  # no va_failures row (it crashed before recording): no
        row("c006", slot, "failed")  # outside its own (per-client) grace window
        backoff_until("c006", fake.now - timedelta(minutes=1))

        assert clock.reconcile() == {"filled": 0, "republished": 0, "retried": 2}
        published_soon(2)
        key = format_slot(slot)
        assert sorted(published) == [("c000", "confirmations", key), ("c004", "confirmations", key)]
        requeued = db.rows(
            "SELECT client_id, status, enqueued_at, started_at, deliveries FROM va_dispatch "
            "WHERE client_id IN ('c000', 'c004') ORDER BY client_id"
        )
        assert [(c, s, e, st, d) for c, s, e, st, d in requeued] == [
            ("c000", "queued", fake.now, None, 1),
            ("c004", "queued", fake.now, None, 2),
        ]
        assert clock.reconcile()["retried"] == 0  # once: the rows are queued now

        # ten minutes on: c001's backoff has passed; c000/c004, still never received since
        # they were re-queued, are re-published as lost messages (the queue is empty)
        fake.now += timedelta(minutes=10, seconds=1)
        assert clock.reconcile() == {"filled": 0, "republished": 2, "retried": 1}
        published_soon(5)
        assert sorted(published[2:]) == [
            ("c000", "confirmations", key),
            ("c001", "confirmations", key),
            ("c004", "confirmations", key),
        ]
        statuses = dict(db.rows("SELECT client_id, status FROM va_dispatch WHERE slot = :s", s=key))
        assert statuses == {
            "c000": "queued",
            "c001": "queued",
            "c002": "done",
            "c003": "failed",
            "c004": "queued",
            "c005": "failed",
            "c006": "failed",
        }
        assert (
            db.scalar("SELECT status FROM va_dispatch WHERE slot = :s", s=format_slot(yesterday))
            == "failed"
        )

        # c004's retry fails again (a worker delivered it: deliveries 3): its retries are spent
        db.execute(
            "UPDATE va_dispatch SET status = 'failed', deliveries = deliveries + 1, "
            "started_at = :at WHERE client_id = 'c004'",
            at=fake.now,
        )
        backoff_until("c004", fake.now)
        fake.now += timedelta(minutes=5)
        assert clock.reconcile()["retried"] == 0
    finally:
        clock.step_down()
        clock.store.close()
        db.close()


@pytest.mark.slow
def test_a_worker_runs_a_retried_slot_again_and_it_succeeds(
    tmp_path: Path, pg_url: str, redis_url: str, queue_name: str
) -> None:
    """End to end with one real worker: the slot's first run fails (its client's outbox
    directory is blocked), the clock re-queues it after the backoff, the second run succeeds."""
    config_dir = cluster_config(
        tmp_path / "config", database_url=pg_url, broker_url=redis_url, queue=queue_name, clients=1
    )
    main_file = config_dir / "va-engine.toml"
    # a one-second backoff; hourly slots, so the clock's sweeps never see a later one due
    text_ = main_file.read_text().replace("[daemon]\n", "[daemon]\nbackoff_base_s = 1\n", 1)
    main_file.write_text(text_.replace("every_minutes = 1\n", "every_minutes = 60\n"))
    blocked = config_dir / "var" / "outbox" / "c000"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a directory")
    Store(pg_url).close()  # the schema, before the worker starts
    fake = FakeTime(datetime.now(UTC))
    clock = Clock(config_dir=config_dir, clock=fake)  # publishes to Redis
    cluster = Cluster(config_dir, tmp_path / "logs")
    db = Db(pg_url)

    def dispatch_row() -> tuple[str, int]:
        status, deliveries = db.rows("SELECT status, deliveries FROM va_dispatch")[0]
        return str(status), int(deliveries)

    try:
        clock.become_active(resume=False)
        assert clock.scheduler is not None
        slot = clock.scheduler.get_job("c000:reminders").trigger.get_next_fire_time(None, fake.now)
        fake.now = slot
        # tasks due from the slot on, so its window (slot + lead, one interval long) holds
        # some whatever the hour's offset of this job: the run must write to the outbox
        seed_tasks(pg_url, 1, start=slot, minutes=90)
        assert clock.dispatch("c000", "reminders", slot)
        cluster.start("w1", "worker", "--concurrency", "1")
        wait_for(lambda: dispatch_row() == ("failed", 1), timeout=60, what="the failed first run")
        retry_at = db.scalar("SELECT next_attempt_at FROM va_failures")
        blocked.unlink()  # the outage is over
        wait_for(lambda: datetime.now(UTC) >= retry_at, timeout=10, what="the backoff")
        fake.now = max(slot, retry_at)
        assert clock.reconcile()["retried"] == 1
        wait_for(lambda: dispatch_row() == ("done", 2), timeout=60, what="the retried run")
        assert db.rows("SELECT status, attempts FROM va_runs") == [("done", 2)]
        assert db.scalar("SELECT count(*) FROM va_failures") == 0
        # every message of the slot was filed once the directory was free, none twice
        messages = db.rows("SELECT status, count(*) FROM va_outbox GROUP BY status")
        assert [status for status, _ in messages] == ["done"]
        assert len(list(blocked.glob("*.eml"))) == messages[0][1] >= 1
    finally:
        clock.step_down()
        clock.store.close()
        cluster.close()
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
