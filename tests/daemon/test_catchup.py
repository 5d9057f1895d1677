"""Catch-up after downtime, against the real APScheduler and its SQLAlchemy job store.

The job store is prepared as if the daemon stopped 8 hours ago (every job's
next run moved 8 h into the past), then a fresh daemon starts on it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent

from tests.daemon.helpers import client_toml, make_maildir, write_config
from va_engine.store import Store
from va_engine.workflows import jobs
from va_engine.workflows.daemon import Daemon, next_runs

DAEMON = """
[daemon]
workers = 4

[daemon.workflows.replan]
enabled = false

[daemon.workflows.retention]   # nightly purge: tested in tests/privacy
enabled = false

[daemon.workflows.sync]
every_minutes = 15

[daemon.workflows.triage]
every_minutes = 30

[daemon.workflows.confirmations]
at = "00:00"
misfire_grace_s = 36000      # 10 h: still worth doing 8 h late

[daemon.workflows.payment_reminders]
at = "00:00"
misfire_grace_s = 36000

[daemon.workflows.morning_brief]
at = "00:00"
misfire_grace_s = 10800      # 3 h: a brief 8 h late is stale

[daemon.workflows.deadline_watch]
at = "00:00"
misfire_grace_s = 21600      # 6 h

[daemon.workflows.weekly_review]
enabled = false
"""


def _config(tmp_path: Path, database_url: str) -> Path:
    maildir = make_maildir(tmp_path / "mail")
    return write_config(
        tmp_path / "config",
        database_url=database_url,
        clients={"hoef": client_toml("hoef", maildir=maildir)},
        daemon=DAEMON,
    )


def test_after_8_hours_down_the_right_jobs_catch_up_once_and_stale_ones_are_skipped(
    tmp_path: Path, database_url: str
) -> None:
    config_dir = _config(tmp_path, database_url)
    first = Daemon(config_dir=config_dir, shutdown_grace_s=5)
    first.scheduler.start(paused=True)
    first.sync_jobs()
    eight_hours_ago = datetime.now(UTC) - timedelta(hours=8)
    ids = sorted(job.id for job in first.scheduler.get_jobs())
    for job in first.scheduler.get_jobs():
        job.modify(next_run_time=eight_hours_ago)
    first.shutdown()
    check = Store(first.config.engine.resolved_database_url())
    try:
        stored = next_runs(check)
    finally:
        check.close()
    assert sorted(stored) == ids
    assert all(
        stamp is not None and abs((stamp - eight_hours_ago).total_seconds()) < 1
        for stamp in stored.values()
    )

    executed: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def listen(event: JobEvent) -> None:
        with lock:
            if event.code == EVENT_JOB_EXECUTED:
                executed[event.job_id] += 1
            elif event.code == EVENT_JOB_MISSED:
                missed[event.job_id] += 1
            else:
                errors.append(f"{event.job_id}: {getattr(event, 'exception', '')}")

    second = Daemon(config_dir=config_dir, shutdown_grace_s=10)
    second.scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    try:
        second.start()
        # The jobs kept their state across the restart (same ids, nothing re-added).
        assert sorted(job.id for job in second.scheduler.get_jobs()) == ids
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if sum(executed.values()) + sum(missed.values()) >= len(ids):
                    break
            time.sleep(0.05)
        time.sleep(0.3)  # a burst would show up now
    finally:
        second.shutdown()
    assert errors == []
    catch_up = {"hoef:sync", "hoef:triage", "hoef:confirmations", "hoef:payment_reminders"}
    stale = {"hoef:deadline_watch", "@sanne:morning_brief"}
    assert set(ids) == catch_up | stale
    assert executed == Counter(dict.fromkeys(catch_up, 1))
    assert missed == Counter(dict.fromkeys(stale, 1))
    # The store agrees: one run each for what caught up, none for the stale ones.
    store = Store(second.config.engine.resolved_database_url())
    try:
        runs = Counter(r.workflow for r in store.for_client("hoef").runs())
        assert runs == Counter({"sync": 1, "triage": 1, "confirmations": 1, "payment_reminders": 1})
        assert store.for_client("@sanne").runs() == []
        # Every job now waits for its next regular time, in the future.
        now = datetime.now(UTC)
        assert all(stamp is not None and stamp > now for stamp in next_runs(store).values())
    finally:
        store.close()


def test_sighup_reload_adds_changes_and_removes_jobs(tmp_path: Path, database_url: str) -> None:
    config_dir = _config(tmp_path, database_url)
    daemon = Daemon(config_dir=config_dir, shutdown_grace_s=5)
    daemon.scheduler.start(paused=True)
    try:
        daemon.sync_jobs()
        before = {job.id: job.name for job in daemon.scheduler.get_jobs()}
        assert "hoef:sync" in before and "lotte:sync" not in before
        maildir = make_maildir(tmp_path / "mail2")
        (config_dir / "clients" / "lotte.toml").write_text(client_toml("lotte", maildir=maildir))
        toml = config_dir / "va-engine.toml"
        toml.write_text(toml.read_text().replace("every_minutes = 15", "every_minutes = 5"))
        assert daemon.reload() == {"added": 5, "changed": 1, "removed": 0}
        after = {job.id: job.name for job in daemon.scheduler.get_jobs()}
        assert after["hoef:sync"].startswith("every 5 min")
        assert {
            "lotte:sync",
            "lotte:triage",
            "lotte:confirmations",
            "lotte:payment_reminders",
        } <= set(after)
        (config_dir / "clients" / "lotte.toml").unlink()
        assert daemon.reload()["removed"] == 5
        assert not any(
            job_id.startswith("lotte:") for job_id in (j.id for j in daemon.scheduler.get_jobs())
        )
        # A broken config is refused and the running jobs stay.
        (config_dir / "clients" / "broken.toml").write_text("id = 'x'\nname = \n")
        assert daemon.reload() == {}
        assert len(daemon.scheduler.get_jobs()) == len(before)
    finally:
        daemon.shutdown()
    assert jobs._runtime is None
