"""The ``reminders`` workflow: one message per task and deadline, in the slot that covers it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.daemon.helpers import AMS, client_toml, drafts, make_maildir, runtime, write_config
from va_engine.model import Task
from va_engine.workflows.jobs import execute
from va_engine.workflows.outbox import render

#: a Monday, 09:00 in Amsterdam (08:00 UTC): every 15 minutes, 60 minutes ahead
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=AMS)


def _config(tmp_path: Path, database_url: str, *, reachability: str) -> Path:
    return write_config(
        tmp_path / "config",
        database_url=database_url,
        clients={
            "kim": client_toml(
                "kim", maildir=make_maildir(tmp_path / "mail"), reachability=reachability
            )
        },
        daemon="[daemon.workflows.reminders]\nenabled = true\n",
        language="nl",
    )


def _task(task_id: str, deadline: datetime) -> Task:
    return Task(
        id=task_id,
        title=f"Belastingaangifte {task_id}",
        client_id="kim",
        duration_minutes=30,
        deadline=deadline,
    )


def test_each_task_is_reminded_once_by_the_slot_whose_window_holds_its_deadline(
    tmp_path: Path, database_url: str
) -> None:
    rt = runtime(_config(tmp_path, database_url, reachability='daily = "07:00-20:00"'))
    store = rt.store.for_client("kim")
    try:
        # window of the 09:00 slot: deadlines in [10:00, 10:15)
        store.upsert_tasks(
            [
                _task("in", NOW + timedelta(minutes=70)),
                _task("edge", NOW + timedelta(minutes=60)),
                _task("next-slot", NOW + timedelta(minutes=75)),
                _task("soon", NOW + timedelta(minutes=20)),
            ],
            now=NOW,
        )
        first = execute(rt, "kim", "reminders", now=NOW)
        assert first.status == "done"
        assert first.detail["queued"] == 2
        rows = store.outbox()
        assert sorted(r.key.split(":")[1] for r in rows) == ["edge", "in"]
        assert all(r.recipient == "kim@client.example" for r in rows)
        assert all(r.audience == "client" and r.status == "done" for r in rows)
        assert {_aware(r.expires_at) for r in rows if r.expires_at} == {
            (NOW + timedelta(minutes=60)).astimezone(UTC),
            (NOW + timedelta(minutes=70)).astimezone(UTC),
        }
        messages = drafts(tmp_path / "mail")
        assert len(messages) == 2
        assert all(str(m["Subject"]).startswith("Reminder: Belastingaangifte") for m in messages)
        # the same slot again (a redelivery): nothing new
        assert execute(rt, "kim", "reminders", now=NOW + timedelta(minutes=3)).status == "skipped"
        # the next slot reminds of the next window only
        later = execute(rt, "kim", "reminders", now=NOW + timedelta(minutes=15))
        assert later.detail["queued"] == 1
        assert len(store.outbox()) == 3
        ledger = store.entries()
        assert len(ledger) == 2  # one per run that did work
        assert sorted(e.minutes for e in ledger) == [1, 2]
    finally:
        rt.store.close()


def test_a_late_run_does_its_own_slot_and_a_deadline_out_of_reach_is_not_reminded(
    tmp_path: Path, database_url: str
) -> None:
    rt = runtime(_config(tmp_path, database_url, reachability='daily = "07:00-09:30"'))
    store = rt.store.for_client("kim")
    try:
        store.upsert_tasks([_task("a", NOW + timedelta(minutes=70))], now=NOW)
        # a broker outage: the 09:00 slot runs at 09:20, and still covers 10:00-10:15
        result = execute(rt, "kim", "reminders", now=NOW + timedelta(minutes=20), slot=NOW)
        assert result.period == "2026-11-30T08:00Z"
        assert result.detail["queued"] == 1
        # the next day's 09:00 slot runs at 09:40, outside 07:00-09:30: the next window
        # opens after the 10:10 deadline, so no reminder at all
        tomorrow = NOW + timedelta(days=1)
        store.upsert_tasks([_task("b", tomorrow + timedelta(minutes=70))], now=tomorrow)
        outside = execute(
            rt, "kim", "reminders", now=tomorrow + timedelta(minutes=40), slot=tomorrow
        )
        assert outside.status == "done"
        assert outside.detail == {
            "queued": 0,
            "too_late": 1,
            "window_start": "2026-12-01T09:00:00Z",
            "delivered": 0,
        }
        assert len(store.outbox()) == 1
    finally:
        rt.store.close()


def test_the_dutch_template_names_task_and_deadline() -> None:
    deadline = datetime(2026, 12, 1, 10, 10, tzinfo=AMS)
    subject, body = render(
        "task_reminder",
        "nl",
        {
            "client": {"name": "Kim"},
            "assistant": {"name": "Sanne"},
            "task": {"title": "Aangifte", "deadline": deadline},
        },
    )
    assert subject == "Herinnering: Aangifte moet af op dinsdag 1 december om 10:10"
    assert "Hallo Kim" in body and "Sanne" in body


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
