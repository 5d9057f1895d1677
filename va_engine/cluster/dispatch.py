"""The ``va_dispatch`` rows: what the clock handed out, and what became of it.

One row per ``(client, workflow, slot)``, written by the clock *before* the
message goes to the broker. The row, not the broker, is the record: a slot
with a row was dispatched (reconcile re-publishes it if its message seems
lost), a slot without one was not (reconcile dispatches it). Workers mark
every delivery they receive (``deliveries`` is the raw count, so a
redelivery shows) and how the run ended. PostgreSQL only (``ON CONFLICT``,
``RETURNING``): multi-node mode requires it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, exists, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from va_engine.store import DispatchRow, FailureRow, Store

__all__ = [
    "DONE",
    "Claim",
    "claim",
    "dispatched_slots",
    "finish",
    "first_slots",
    "insert_slot",
    "requeue",
    "retry_failed",
    "stale_queued",
    "stale_running",
]

#: final states: a redelivered message of such a row is acknowledged and dropped
DONE = ("done", "failed")


def insert_slot(store: Store, scope: str, workflow: str, slot: str, *, now: datetime) -> bool:
    """Record a dispatch; False when the slot already had its row (a repeat is a no-op)."""
    statement = (
        insert(DispatchRow)
        .values(
            client_id=scope,
            workflow=workflow,
            slot=slot,
            status="queued",
            enqueued_at=now,
            deliveries=0,
            worker="",
        )
        .on_conflict_do_nothing(index_elements=["client_id", "workflow", "slot"])
        .returning(DispatchRow.id)
    )
    with store.session() as session:
        return session.execute(statement).scalar() is not None


@dataclass(frozen=True)
class Claim:
    """A worker's view of its delivery: run it unless the row was already final."""

    status: str
    deliveries: int

    @property
    def final(self) -> bool:
        return self.status in DONE


def claim(
    store: Store, scope: str, workflow: str, slot: str, *, worker: str, now: datetime
) -> Claim:
    """Count this delivery and mark the row running unless it is final, in one statement.

    A message without a row (published by hand, or the row was purged) gets one.
    """
    insert_slot(store, scope, workflow, slot, now=now)
    final = DispatchRow.status.in_(DONE)
    with store.session() as session:
        status, deliveries = session.execute(
            update(DispatchRow)
            .where(*_key(scope, workflow, slot))
            .values(
                deliveries=DispatchRow.deliveries + 1,
                worker=worker,
                status=case((final, DispatchRow.status), else_="running"),
                started_at=case(
                    (final, DispatchRow.started_at),
                    else_=func.coalesce(DispatchRow.started_at, now),
                ),
            )
            .returning(DispatchRow.status, DispatchRow.deliveries)
        ).one()
        return Claim(status=str(status), deliveries=int(deliveries))


def finish(
    store: Store, scope: str, workflow: str, slot: str, *, status: str, outcome: str, now: datetime
) -> None:
    """Mark the run's end: ``done`` or ``failed`` with the workflow's own status as outcome."""
    with store.session() as session:
        session.execute(
            update(DispatchRow)
            .where(*_key(scope, workflow, slot))
            .values(status=status, outcome=outcome[:16], finished_at=now)
        )


def requeue(store: Store, scope: str, workflow: str, slot: str) -> None:
    """Back to ``queued`` (the scope was busy; a retry message follows)."""
    with store.session() as session:
        session.execute(
            update(DispatchRow)
            .where(*_key(scope, workflow, slot), DispatchRow.status == "running")
            .values(status="queued")
        )


def retry_failed(
    store: Store, *, windows: dict[tuple[str, str], str], now: datetime, max_retries: int
) -> list[tuple[str, str, str]]:
    """Put failed slots worth another run back to ``queued``; returns them, to be published.

    A slot qualifies when it is still inside its job's window (``windows``:
    (client, workflow) → oldest slot, its misfire grace), its client's
    ``va_failures`` row for the workflow says the backoff has passed, no later
    slot of the same job was dispatched (that one does the work) and it was
    delivered at most ``max_retries`` times (``deliveries`` counts every
    attempt, so the first run plus ``max_retries`` retries). One select over
    recent failed rows (the (status, enqueued_at) index), one keyed update.
    The update clears ``started_at``: "queued, never received since" is what
    :func:`stale_queued` re-publishes should the retry's message be lost.
    """
    if not windows:
        return []
    since: dict[str, str] = {}
    for (_, workflow), slot in windows.items():
        since[workflow] = min(since.get(workflow, slot), slot)
    later = aliased(DispatchRow)
    with store.session() as session:
        rows = session.execute(
            select(DispatchRow.id, DispatchRow.client_id, DispatchRow.workflow, DispatchRow.slot)
            .join(
                FailureRow,
                and_(
                    FailureRow.client_id == DispatchRow.client_id,
                    FailureRow.workflow == DispatchRow.workflow,
                ),
            )
            .where(
                DispatchRow.status == "failed",
                DispatchRow.enqueued_at >= _recent(since),
                _slots_since(since),
                DispatchRow.deliveries <= max_retries,
                FailureRow.next_attempt_at <= now,
                ~exists().where(
                    later.client_id == DispatchRow.client_id,
                    later.workflow == DispatchRow.workflow,
                    later.slot > DispatchRow.slot,
                ),
            )
        ).all()
        due = [
            int(row_id)
            for row_id, scope, workflow, slot in rows
            if (str(scope), str(workflow)) in windows and slot >= windows[(scope, workflow)]
        ]
        if not due:
            return []
        requeued = session.execute(
            update(DispatchRow)
            .where(DispatchRow.id.in_(due), DispatchRow.status == "failed")
            .values(status="queued", enqueued_at=now, started_at=None)
            .returning(DispatchRow.client_id, DispatchRow.workflow, DispatchRow.slot)
        )
        return sorted((str(a), str(b), str(c)) for a, b, c in requeued)


def stale_queued(store: Store, *, older_than: datetime) -> list[tuple[str, str, str]]:
    """Rows queued before ``older_than`` that no worker received since: their message may be lost
    (a clock died between the row and the publish, or the broker was down). A worker's claim
    sets ``started_at``, so a busy row waiting for its Celery retry is not among them."""
    with store.session() as session:
        rows = session.execute(
            select(DispatchRow.client_id, DispatchRow.workflow, DispatchRow.slot)
            .where(
                DispatchRow.status == "queued",
                DispatchRow.started_at.is_(None),
                DispatchRow.enqueued_at < older_than,
            )
            .order_by(DispatchRow.enqueued_at)
        )
        return [(str(a), str(b), str(c)) for a, b, c in rows]


def stale_running(store: Store, *, older_than: datetime) -> list[tuple[str, str, str]]:
    """Rows running since before ``older_than`` (longer than the broker's visibility timeout):
    their worker died and the broker lost the message too (e.g. Redis restarted empty)."""
    with store.session() as session:
        rows = session.execute(
            select(DispatchRow.client_id, DispatchRow.workflow, DispatchRow.slot)
            .where(DispatchRow.status == "running", DispatchRow.started_at < older_than)
            .order_by(DispatchRow.started_at)
        )
        return [(str(a), str(b), str(c)) for a, b, c in rows]


def first_slots(store: Store, jobs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(client, workflow) → its oldest dispatched slot, for the given jobs (index lookups)."""
    if not jobs:
        return {}
    found: dict[tuple[str, str], str] = {}
    with store.session() as session:
        for offset in range(0, len(jobs), 500):
            batch = jobs[offset : offset + 500]
            rows = session.execute(
                select(DispatchRow.client_id, DispatchRow.workflow, func.min(DispatchRow.slot))
                .where(tuple_(DispatchRow.client_id, DispatchRow.workflow).in_(batch))
                .group_by(DispatchRow.client_id, DispatchRow.workflow)
            )
            found.update({(str(a), str(b)): str(c) for a, b, c in rows})
    return found


def dispatched_slots(store: Store, *, since: dict[str, str]) -> set[tuple[str, str, str]]:
    """Every (client, workflow, slot) with a row from slot ``since[workflow]`` on.

    A row is written at or after its slot, so ``enqueued_at`` (with a margin
    for clock skew) narrows the scan to recent rows through the
    (status, enqueued_at) index; the table itself only grows.
    """
    if not since:
        return set()
    with store.session() as session:
        rows = session.execute(
            select(DispatchRow.client_id, DispatchRow.workflow, DispatchRow.slot).where(
                DispatchRow.status.in_(("queued", "running", *DONE)),
                DispatchRow.enqueued_at >= _recent(since),
                _slots_since(since),
            )
        )
        return {(str(a), str(b), str(c)) for a, b, c in rows}


def _recent(since: dict[str, str]) -> datetime:
    """A lower bound on ``enqueued_at`` for rows of these slots: a row is written at or after
    its slot (a retry moves it later still), less a margin for clock skew."""
    oldest = datetime.strptime(min(since.values()), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return oldest - timedelta(minutes=5)


def _slots_since(since: dict[str, str]) -> ColumnElement[bool]:
    return or_(
        *(
            and_(DispatchRow.workflow == workflow, DispatchRow.slot >= slot)
            for workflow, slot in since.items()
        )
    )


def _key(scope: str, workflow: str, slot: str) -> tuple[ColumnElement[bool], ...]:
    return (
        DispatchRow.client_id == scope,
        DispatchRow.workflow == workflow,
        DispatchRow.slot == slot,
    )
