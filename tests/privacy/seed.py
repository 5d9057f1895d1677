"""A realistic client history written through the store's own API (no raw SQL).

Client ``hoefslag`` (a riding stable) has open and closed tasks from a
calendar, mail and config, two years of ledger entries (billable and not,
edited, deleted, one older than the fiscal period), contact times, runs, a
failure streak, an alert, sync state, a quarantined mail, rendered messages
in the outbox (one written to a file), homework, a heartbeat, a stored plan
and scheduled jobs. Client ``bakker`` shares the plan and the job store, so
every test can check that nothing of bakker's is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from va_engine.assignments import Assignment
from va_engine.model import (
    LedgerEntry,
    Location,
    Mode,
    Plan,
    PlannedBlock,
    SupportLevel,
    Task,
    Unplanned,
)
from va_engine.privacy import JOB_TABLE
from va_engine.store import Store

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=AMS)
CLIENT = "hoefslag"
OTHER = "bakker"
#: a client whose id starts like CLIENT's: its jobs must survive CLIENT's erasure
LOOKALIKE = "hoefslag-2"


@dataclass(frozen=True)
class Seeded:
    billable_recent: int  # billable, not deleted, within 7 years: what erasure keeps
    ledger_rows: int
    tasks: int
    open_tasks: int
    outbox_file: Path


def _task(client: str, key: str, title: str, *, source: str, days: int, minutes: int = 30) -> Task:
    return Task(
        id=f"{client}:{key}",
        title=title,
        client_id=client,
        kind="finance" if "factuur" in title.lower() else "admin",
        duration_minutes=minutes,
        release=NOW + timedelta(days=days - 2),
        deadline=NOW + timedelta(days=days),
        source=source,
        external_id=key,
        location=Location(name="stal", lat=52.1, lon=5.2, address="Weideweg 1")
        if key == "farrier"
        else None,
    )


def _message(client: str, n: int) -> str:
    message = EmailMessage()
    message["From"] = "Sanne <sanne@va.example>"
    message["To"] = f"{client}@client.example"
    message["Subject"] = f"Herinnering factuur {n}"
    message["Message-ID"] = f"<{client}-{n}@va.example>"
    message.set_content(f"Beste klant,\n\nfactuur {n} staat nog open.\n")
    return message.as_string()


def seed_client(store: Store, client: str, *, data_dir: Path, now: datetime = NOW) -> Seeded:
    cs = store.for_client(client)
    old = now - timedelta(days=500)
    tasks = [
        _task(client, "vat", "BTW-aangifte Q4", source="agenda", days=5),
        _task(client, "farrier", "Hoefsmid afspreken", source="agenda", days=3),
        _task(client, "mail-1#invoice", "Factuur 2026-0117 betalen", source="mail", days=7),
        _task(client, "insurance", "Zorgverzekering vergelijken", source="config", days=20),
    ]
    cs.upsert_tasks(tasks, now=now)
    closed = [_task(client, "old-1", "Jaarrekening 2024", source="agenda", days=-480)]
    cs.upsert_tasks(closed, now=old)
    cs.close_missing("agenda", {"vat", "farrier"}, now=old)
    ledger: list[tuple[date, bool, int]] = [
        (now.date() - timedelta(days=3), True, 45),
        (now.date() - timedelta(days=40), True, 90),
        (now.date() - timedelta(days=400), False, 30),
        (now.date() - timedelta(days=8 * 365), True, 60),  # beyond the fiscal period
        (now.date() - timedelta(days=10), True, 15),  # deleted below
    ]
    ids: list[int] = []
    for i, (day, billable, minutes) in enumerate(ledger):
        entry = LedgerEntry(
            client_id=client,
            task=f"Administratie {client} #{i}: bankafschriften",
            day=day,
            minutes=minutes,
            mode=Mode.TAUGHT if i == 1 else Mode.FOR,
            level=SupportLevel.GUIDE if i == 1 else SupportLevel.TAKE_OVER,
            kind="finance",
            billable=billable,
            note="klant belde over de Belastingdienst" if i == 0 else "",
        )
        entry_id = cs.add_entry(
            entry, actor="sanne", now=now - timedelta(days=i), run_key=f"seed:{client}:{i}"
        )
        assert entry_id is not None
        ids.append(entry_id)
    cs.update_entry(ids[0], {"minutes": 50}, actor="sanne", now=now)
    cs.delete_entry(ids[4], actor="sanne", now=now)
    cs.set_entry_start(ids[0], now - timedelta(days=3, hours=2))
    run = cs.begin_run("sync", "2026-11-23T08:45", now=now)
    assert run is not None
    cs.finish_run(run.id, now=now, result={"added": 3})
    old_run = cs.begin_run("payment_reminders", "2025-06-01", now=old)
    assert old_run is not None
    cs.finish_run(old_run.id, now=old, error="IMAP server unreachable")
    cs.record_failure("triage", "timeout", now=now, next_attempt_at=now + timedelta(minutes=5))
    cs.add_alert(f"{client}:triage", "Triage fails", "3 failures in a row", now=now)
    cs.set_sync_state("agenda", "calendar", '{"token": "abc"}', now=now)
    cs.set_sync_state("mail", "INBOX", '{"backend": "1:5", "refs": {"1": "<m1@x>"}}', now=now)
    cs.quarantine(f"mail/INBOX/{client}-broken.eml", "no Date header", now=old)
    outbox_dir = data_dir / "outbox"
    outbox_dir.mkdir(parents=True, exist_ok=True)
    for n in (1, 2):
        cs.enqueue_message(
            key=f"reminder:{client}:{n}",
            run_key=f"payment_reminders:{n}",
            workflow="payment_reminders",
            channel="draft",
            audience="client",
            recipient=f"{client}@client.example",
            subject=f"Herinnering factuur {n}",
            message_id=f"<{client}-{n}@va.example>",
            raw=_message(client, n),
            release_at=now,
            expires_at=None,
            now=old if n == 1 else now,
        )
    outbox_file = outbox_dir / f"{client}-brief.eml"
    outbox_file.write_text(_message(client, 1))
    first = cs.outbox()[0]
    cs.set_message_status(first.id, "done", now=old, location=str(outbox_file))
    cs.beat(f"idle:{client}:mail", now=now, detail="INBOX")
    homework = cs.add_assignment(
        Assignment(
            client_id=client, task="Bonnetjes in de map", due=now.date(), every="FREQ=WEEKLY"
        ),
        actor="sanne",
        now=now,
    )
    cs.record_assignment(homework, done=True, day=now.date(), actor="client", now=now)
    cs.add_assignment(
        Assignment(client_id=client, task="Post openen", due=now.date() - timedelta(days=1)),
        actor="sanne",
        now=now,
    )
    entries = cs.entries(include_deleted=True)
    return Seeded(
        billable_recent=sum(
            1
            for e, deleted in zip(entries, _deleted_flags(store, client), strict=True)
            if e.billable and not deleted and e.day >= date(now.year - 7, now.month, now.day)
        ),
        ledger_rows=len(entries),
        tasks=len(tasks) + len(closed),
        open_tasks=len(cs.open_tasks()),
        outbox_file=outbox_file,
    )


def _deleted_flags(store: Store, client: str) -> list[bool]:
    visible = {e.id for e in store.for_client(client).entries()}
    return [e.id not in visible for e in store.for_client(client).entries(include_deleted=True)]


def save_shared_plan(store: Store, now: datetime = NOW) -> None:
    """One assistant plan holding blocks of both clients (plans are per assistant)."""
    start = now.replace(hour=0)
    blocks = []
    for hour, (client, key) in enumerate(
        [(CLIENT, "vat"), (OTHER, "vat"), (CLIENT, "farrier"), (OTHER, "taxes")]
    ):
        blocks.append(
            PlannedBlock(
                task_id=f"{client}:{key}",
                assistant_id="sanne",
                start=start + timedelta(hours=9 + hour),
                end=start + timedelta(hours=10 + hour),
            )
        )
    plan = Plan(
        start=start,
        end=start + timedelta(days=7),
        blocks=tuple(blocks),
        unplanned=(Unplanned(task_id=f"{CLIENT}:insurance", reason="no room"),),
    )
    store.save_plan("daemon:sanne:week:2026-11-23", plan, now=now)


def add_jobs(store: Store, scopes: list[str]) -> None:
    """The daemon's jobs for ``scopes``, written by APScheduler itself into the shared database."""
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOB_TABLE)},
        timezone=AMS,
    )
    scheduler.start(paused=True)
    try:
        for scope in scopes:
            scheduler.add_job(
                "va_engine.workflows.jobs:run_workflow",
                IntervalTrigger(minutes=15, timezone=AMS),
                args=[scope, "sync"],
                id=f"{scope}:sync",
            )
            scheduler.add_job(
                "va_engine.workflows.jobs:run_workflow",
                DateTrigger(run_date=NOW + timedelta(days=400)),
                args=[scope, "triage", "retry"],
                id=f"retry:{scope}:triage",
            )
    finally:
        scheduler.shutdown(wait=False)


def job_ids(store: Store) -> set[str]:
    from sqlalchemy import text

    with store.engine.connect() as connection:
        return {str(i) for i in connection.execute(text(f"SELECT id FROM {JOB_TABLE}")).scalars()}
