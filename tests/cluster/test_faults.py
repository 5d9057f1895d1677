"""Issue #10's fault test: workers and the active clock killed -9, every run still once.

Real processes on loopback: clock A (active), clock B (standby), workers on
Redis, PostgreSQL, 200 clients reminded every minute. Worker w1's pool
processes kill themselves (-9) right before a run is marked finished, after
its message was delivered and its ledger entry written; worker w2 pauses
mid-run and the test kills its whole process group -9; later clock A is
killed -9. The database must show every (client, reminders, slot) done once
in effect, redeliveries that really happened, and no slot skipped across the
clock's takeover.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cluster.helpers import Db, client_id, seeded_cluster, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 200


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _beat(db: Db, prefix: str, pid: int) -> str | None:
    rows = db.rows(
        "SELECT detail FROM va_heartbeats WHERE name LIKE :name", name=f"{prefix}:%:{pid}"
    )
    return str(rows[0][0]) if rows else None


@pytest.mark.timeout(900)
def test_kill_9_workers_and_the_active_clock_every_run_happens_once(
    tmp_path: Path, pg_url: str, redis_url: str, queue_name: str
) -> None:
    started = datetime.now(UTC)
    cluster, db = seeded_cluster(
        tmp_path,
        database_url=pg_url,
        broker_url=redis_url,
        queue=queue_name,
        clients=CLIENTS,
        start=started,
        minutes=25,
    )
    try:
        clock_a = cluster.start("clock-a", "clock")
        wait_for(lambda: _beat(db, "clock", clock_a) == "active", timeout=60, what="clock A")
        clock_b = cluster.start("clock-b", "clock")
        cluster.start(
            "w1",
            "worker",
            "--concurrency",
            "2",
            env={"VA_ENGINE_FAILPOINTS": "run.before_finish:40"},
        )
        w2 = cluster.start(
            "w2",
            "worker",
            "--concurrency",
            "2",
            env={"VA_ENGINE_FAILPOINTS": "run.after_work:3:pause=120"},
        )
        wait_for(lambda: _beat(db, "clock", clock_b) == "standby", timeout=60, what="clock B")

        # w2 is provably mid-run: a row of one of its pool processes running for seconds
        def paused_in_w2() -> list[str]:
            rows = db.rows(
                "SELECT client_id || ' ' || slot, worker FROM va_dispatch "
                "WHERE status = 'running' AND started_at < now() - interval '3 seconds'"
            )
            return [key for key, worker in rows if _parent(int(worker.split(":")[1])) == w2]

        cut = wait_for(paused_in_w2, timeout=150, what="a run paused inside worker w2")
        cluster.kill9("w2")
        cluster.start("w3", "worker", "--concurrency", "2")

        # two more minutes of slots, then the active clock dies
        time.sleep(120)
        killed_at = datetime.now(UTC)
        cluster.kill9("clock-a")
        wait_for(
            lambda: _beat(db, "clock", clock_b) == "active",
            timeout=30,
            interval=0.1,
            what="the standby to take over",
        )
        takeover_s = (datetime.now(UTC) - killed_at).total_seconds()
        time.sleep(100)
        assert cluster.stop("clock-b") == 0  # SIGTERM: releases the lock, stops dispatching
        stopped_at = datetime.now(UTC)

        # every dispatched run ends (killed ones come back after the visibility timeout)
        wait_for(
            lambda: db.scalar("SELECT count(*) FROM va_dispatch WHERE status <> 'done'") == 0,
            timeout=120,
            interval=2,
            what="every dispatched run to finish",
        )

        dispatched = db.rows("SELECT client_id, slot, deliveries, outcome FROM va_dispatch")
        assert {outcome for *_, outcome in dispatched} == {"done"}
        slots: dict[str, list[datetime]] = defaultdict(list)
        for cid, slot, _, _ in dispatched:
            slots[cid].append(datetime.strptime(slot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))
        assert set(slots) == {client_id(i) for i in range(CLIENTS)}
        for cid, moments in slots.items():
            moments.sort()
            gaps = [b - a for a, b in itertools.pairwise(moments)]
            # not a single slot skipped, across the worker kills and the clock takeover
            assert set(gaps) == {timedelta(minutes=1)}, (cid, moments)
            assert moments[0] < killed_at - timedelta(minutes=1)
            assert moments[-1] > killed_at
            assert moments[-1] < stopped_at
        # the kills caused real redeliveries, and the killed runs were taken up again
        assert max(d for _, _, d, _ in dispatched) >= 2
        assert any(f"{cid} {slot}" in cut for cid, slot, d, _ in dispatched if d >= 2)

        runs = db.rows("SELECT client_id, period, status, attempts FROM va_runs")
        assert len(runs) == len(dispatched)
        assert {status for _, _, status, _ in runs} == {"done"}
        assert max(attempts for *_, attempts in runs) >= 2
        # exactly once in effect: one reminder per run, delivered, one file each;
        # one ledger entry per run
        outbox = db.rows("SELECT client_id, run_key, status, location FROM va_outbox")
        per_run = Counter((cid, run_key) for cid, run_key, _, _ in outbox)
        assert len(per_run) == len(runs)
        assert set(per_run.values()) == {1}
        assert {status for _, _, status, _ in outbox} == {"done"}
        files = list((tmp_path / "config" / "var" / "outbox").glob("*/*.eml"))
        assert len(files) == len(outbox)
        ledger = Counter(
            (cid, run_key) for cid, run_key in db.rows("SELECT client_id, run_key FROM va_ledger")
        )
        assert set(ledger) == set(per_run)
        assert set(ledger.values()) == {1}
        print(  # the figures of the run, for the report (pytest -s)
            f"\nfault test: {len(dispatched)} runs of {CLIENTS} clients, "
            f"{sum(1 for *_, d, _ in dispatched if d >= 2)} redelivered "
            f"(max {max(d for *_, d, _ in dispatched)} deliveries), "
            f"{sum(1 for *_, a in runs if a >= 2)} runs with ≥ 2 attempts, "
            f"standby active {takeover_s:.1f} s after the kill"
        )
    finally:
        cluster.close()
        db.close()
