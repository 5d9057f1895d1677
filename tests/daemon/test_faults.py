"""One client's IMAP server is down: its jobs back off and report; the others run on time.

The healthy client reads a real Dovecot account; the broken one points at a
port where nothing listens (connection refused), as after a provider outage.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent

from tests.daemon.helpers import AMS, client_toml, runtime, write_config
from tests.servers import Account, free_port
from va_engine.settings import load_config
from va_engine.store import Store
from va_engine.workflows.daemon import Daemon
from va_engine.workflows.jobs import backoff_delay, execute
from va_engine.workflows.options import load_daemon_options

pytestmark = pytest.mark.integration

DAEMON = """
[daemon]
workers = 4
alert_after = 3
backoff_base_s = {base}
backoff_max_s = 3600

[daemon.workflows.replan]
enabled = false

[daemon.workflows.sync]
every_minutes = 15
"""


def _config(
    tmp_path: Path, database_url: str, good: Account, monkeypatch: pytest.MonkeyPatch, base: float
) -> Path:
    monkeypatch.setenv("VA_TEST_GOOD_PW", good.password)
    monkeypatch.setenv("VA_TEST_DOWN_PW", "irrelevant-secret-123")
    down = {
        "host": "127.0.0.1",
        "port": free_port(),
        "username": "x",
        "password_env": "VA_TEST_DOWN_PW",
    }
    up = {
        "host": good.host,
        "port": good.port,
        "username": good.username,
        "password_env": "VA_TEST_GOOD_PW",
    }
    return write_config(
        tmp_path / "config",
        database_url=database_url,
        clients={"down": client_toml("down", imap=down), "up": client_toml("up", imap=up)},
        daemon=DAEMON.format(base=base),
    )


def test_a_client_with_its_imap_down_backs_off_and_alerts_once(
    tmp_path: Path, database_url: str, imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = _config(tmp_path, database_url, imap_account, monkeypatch, base=60)
    rt = runtime(config_dir)
    try:
        now = datetime(2026, 12, 1, 9, 0, tzinfo=AMS)
        attempts: list[datetime] = []
        statuses: list[str] = []
        up_done = 0
        # Six hours, a tick every 5 minutes: the healthy client syncs every slot
        # of 15 minutes; the broken one only when its backoff allows.
        for _ in range(6 * 12):
            result = execute(rt, "down", "sync", now=now)
            statuses.append(result.status)
            if result.status == "failed":
                attempts.append(now)
                assert result.error and "irrelevant-secret-123" not in result.error
                assert result.retry_at is not None and result.retry_at > now
            if execute(rt, "up", "sync", now=now).status == "done":
                up_done += 1
            now += timedelta(minutes=5)
        assert "done" not in statuses
        assert up_done == 6 * 4
        # Exponential spacing: every pause at least as long as half the doubled base, capped.
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts)]
        assert len(attempts) >= 6
        for n, gap in enumerate(gaps, start=1):
            expected = backoff_delay(rt.options, "down", "sync", n).total_seconds()
            assert expected <= gap < expected + 300  # the first tick after the retry time
        assert gaps[-1] >= 900
        # One alert for the whole streak, written for the assistant.
        down = rt.store.for_client("down")
        [alert] = down.alerts()
        assert "sync" in alert.subject and "Client down" in alert.subject
        [row] = [r for r in down.outbox() if r.audience == "assistant"]
        assert row.status == "done" and Path(row.location or "").is_file()
        failure = down.failure("sync")
        assert failure is not None and failure.streak == len(attempts) and failure.alerted
        assert rt.store.for_client("up").failures() == []
        # The server "comes back" (the account is fixed): one success clears the streak.
        client_file = config_dir / "clients" / "down.toml"
        good = client_toml(
            "down",
            imap={
                "host": imap_account.host,
                "port": imap_account.port,
                "username": imap_account.username,
                "password_env": "VA_TEST_GOOD_PW",
            },
        )
        client_file.write_text(good)
        rt.config = load_config(config_dir)
        rt.options = load_daemon_options(rt.config)
        assert execute(rt, "down", "sync", now=now + timedelta(hours=2)).status == "done"
        assert down.failure("sync") is None
    finally:
        rt.store.close()


def test_in_the_real_scheduler_the_healthy_client_is_not_held_up(
    tmp_path: Path, database_url: str, imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = _config(tmp_path, database_url, imap_account, monkeypatch, base=0.5)
    daemon = Daemon(config_dir=config_dir, shutdown_grace_s=10)
    lags: dict[str, list[float]] = {}
    lock = threading.Lock()

    def submitted(event: JobSubmissionEvent) -> None:
        lag = (datetime.now(UTC) - max(event.scheduled_run_times)).total_seconds()
        with lock:
            lags.setdefault(event.job_id, []).append(lag)

    daemon.scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
    try:
        daemon.start()
        daemon.kick("down", "sync")
        daemon.kick("up", "sync")
        down = daemon.store.for_client("down")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            failure = down.failure("sync")
            if failure is not None and failure.streak >= 3:
                break
            time.sleep(0.1)
    finally:
        daemon.shutdown()
    store = Store(daemon.config.engine.resolved_database_url())
    try:
        [up_run] = store.for_client("up").runs(workflow="sync")
        assert up_run.status == "done"
        failure = store.for_client("down").failure("sync")
        assert failure is not None and failure.streak >= 3
        # The retries went through the scheduler as their own jobs, after the backoff.
        assert len(lags.get("retry:down:sync", [])) >= 2
        assert all(lag < 1.0 for lag in lags["kick:up:sync"])
        failed = [r for r in store.for_client("down").runs(workflow="sync") if r.status == "failed"]
        assert failed and all("127.0.0.1" in (r.error or "") for r in failed)
    finally:
        store.close()
