"""Persistent state: SQLAlchemy 2 over SQLite by default, PostgreSQL by URL.

The store keeps what must survive a restart: imported tasks (keyed by their
source so a re-import updates instead of duplicating), the ledger with its
audit trail, workflow runs (idempotency keys), connector sync state and the
quarantine of unreadable items.

Isolation is built in: everything client-specific goes through
:meth:`Store.for_client`, which returns a :class:`ClientStore` whose every query
is filtered by that client's id. A job for client A is handed A's
``ClientStore`` and has no way to name B's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

from alembic import command
from alembic.util import CommandError
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from va_engine.assignments import Assignment
from va_engine.errors import StoreError, redact
from va_engine.migrations import alembic_config, head, revisions
from va_engine.model import LedgerEntry, Mode, Plan, SupportLevel, Task

__all__ = [
    "SCHEMA_VERSION",
    "Base",
    "ClientStore",
    "DispatchRow",
    "QuarantineRow",
    "Store",
    "TaskRow",
    "peek_revision",
]

#: The head Alembic revision as a number (revision ids are ``0001``, ``0002`` …).
#: A schema change is a new revision in ``va_engine/migrations/versions/`` plus a bump here.
SCHEMA_VERSION = 2

#: Every va-engine process upgrading one PostgreSQL database takes this advisory
#: lock ("vaengine" in ASCII), so a clock and its workers starting together on a
#: fresh database do not all create the tables.
_SCHEMA_LOCK_KEY = 0x7661656E67696E65


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class MetaRow(Base):
    __tablename__ = "va_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class TaskRow(Base):
    """An imported or configured task; (client, source, external_id) is its identity."""

    __tablename__ = "va_tasks"
    __table_args__ = (UniqueConstraint("client_id", "source", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(512))
    task_id: Mapped[str] = mapped_column(String(600))
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    def to_task(self) -> Task:
        return Task.model_validate(self.payload)


class LedgerRow(Base):
    __tablename__ = "va_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    task: Mapped[str] = mapped_column(Text)
    day: Mapped[date] = mapped_column(Date, index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    billable: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    # A workflow run that writes an entry passes its run key, so a retried run
    # cannot write the same entry twice (unique per client).
    run_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    __table_args__ = (UniqueConstraint("client_id", "run_key"),)

    def to_entry(self) -> LedgerEntry:
        return LedgerEntry(
            id=self.id,
            client_id=self.client_id,
            task=self.task,
            day=self.day,
            minutes=self.minutes,
            mode=Mode(self.mode),
            level=SupportLevel(self.level),
            kind=self.kind,
            billable=self.billable,
            source=self.source,
            note=self.note,
        )


class AuditRow(Base):
    """Append-only trail of changes to a client's data (ledger edits, erasures, sends)."""

    __tablename__ = "va_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class RunRow(Base):
    """One workflow run; (client, workflow, period) is the idempotency key."""

    __tablename__ = "va_runs"
    __table_args__ = (UniqueConstraint("client_id", "workflow", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    workflow: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="started")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class SyncStateRow(Base):
    __tablename__ = "va_sync_state"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    collection: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class QuarantineRow(Base):
    __tablename__ = "va_quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    origin: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class PlanRow(Base):
    """The last plan per scope, kept so re-planning can stay close to it."""

    __tablename__ = "va_plans"

    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxRow(Base):
    """A message the daemon must deliver exactly once; (client, key) is its identity.

    ``raw`` is the whole rendered message, so a retry after a crash delivers
    the very same bytes (same Message-ID) instead of rendering anew.
    """

    __tablename__ = "va_outbox"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(255))
    run_key: Mapped[str] = mapped_column(String(255), index=True)
    workflow: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    audience: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(255))
    raw: Mapped[str] = mapped_column(Text)
    release_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class DispatchRow(Base):
    """One ``(client, workflow, slot)`` handed by the clock to the workers (multi-node mode).

    ``slot`` is the trigger's scheduled fire time (UTC, ``YYYY-MM-DDTHH:MM:SSZ``),
    so a run delayed by a broker outage still does its own slot's work.
    ``deliveries`` counts every time a worker received the message, raw: more
    than one means the broker redelivered it (a worker died, a duplicate publish).
    """

    __tablename__ = "va_dispatch"
    __table_args__ = (
        UniqueConstraint("client_id", "workflow", "slot"),
        Index("ix_va_dispatch_status_enqueued", "status", "enqueued_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    workflow: Mapped[str] = mapped_column(String(64))
    slot: Mapped[str] = mapped_column(String(32))
    #: queued | running | done | failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(128), default="")
    #: the run's RunResult.status (done, skipped, failed, backoff …)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)


class HeartbeatRow(Base):
    """Last sign of life of a long-running watcher (e.g. an IMAP IDLE connection)."""

    __tablename__ = "va_heartbeats"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    detail: Mapped[str] = mapped_column(Text, default="")


class FailureRow(Base):
    """Consecutive failures of one workflow of one client: drives backoff and alerts."""

    __tablename__ = "va_failures"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64), primary_key=True)
    streak: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)


class AlertRow(Base):
    """One alert for the assistant; (client, key) makes a repeat a no-op."""

    __tablename__ = "va_alerts"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")


class LedgerTimeRow(Base):
    """When a logged contact began (optional): lets reports check reachability by the hour."""

    __tablename__ = "va_ledger_times"

    ledger_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AssignmentRow(Base):
    """Homework given to a client (see :mod:`va_engine.assignments`)."""

    __tablename__ = "va_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    task: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(64))
    due: Mapped[date] = mapped_column(Date)
    every: Mapped[str | None] = mapped_column(String(255), nullable=True)
    first_due: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    missed_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


_EDITABLE_LEDGER_FIELDS = frozenset(
    {"task", "day", "minutes", "mode", "level", "kind", "billable", "note"}
)


class Store:
    """Owns the engine; opens sessions; creates and versions the schema on first use."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                    parents=True, exist_ok=True
                )
            self.engine: Engine = create_engine(url, echo=echo, future=True)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
            self._ensure_schema()
        except StoreError:
            self.engine.dispose()
            raise
        except (SQLAlchemyError, OSError) as exc:
            if hasattr(self, "engine"):
                self.engine.dispose()
            raise StoreError(
                f"cannot open the database {redact(url)}: {redact(str(exc).splitlines()[0])}",
                hint="check VA_ENGINE_DATABASE_URL or database_url in va-engine.toml",
            ) from None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _ensure_schema(self) -> None:
        """Bring the database to the head revision, in place, whatever it was before.

        Fresh database: run every revision (the same path an old installation
        takes, so the migrations are proven on every open). Database from
        before Alembic (``va_meta`` without ``alembic_version``): stamp the
        revision its tables match, then upgrade. A revision this va-engine
        does not know means a newer va-engine wrote it: refuse, change nothing.
        """
        newest = head()
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Held until this transaction ends; DDL is transactional on PostgreSQL,
                # so a waiting process sees either no tables or all of them.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY}
                )
            tables = set(inspect(connection).get_table_names())
            current = _current_revision(connection, tables)
            if current == newest:
                return
            if current is not None and current not in dict(revisions()):
                raise StoreError(
                    f"the database schema (rev {current}) is newer than this va-engine "
                    f"(rev {newest})",
                    hint="upgrade va-engine",
                )
            config = alembic_config(connection)
            try:
                if current is None and "va_meta" in tables:
                    command.stamp(config, _pre_alembic_revision(tables))
                command.upgrade(config, "head")
            except CommandError as exc:
                raise StoreError(f"cannot upgrade the database schema: {exc}") from None
            _write_schema_version(connection)

    def schema_version(self) -> int:
        """The schema as a number (= the Alembic revision); 0 if unversioned."""
        with self.session() as session:
            row = session.get(MetaRow, "schema_version")
            return int(row.value) if row else 0

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at, e.g. ``0002``."""
        with self.engine.connect() as connection:
            return _current_revision(connection)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def for_client(self, client_id: str) -> ClientStore:
        return ClientStore(self, client_id)

    def client_ids(self) -> list[str]:
        with self.session() as session:
            ids: set[str] = set()
            for table in (TaskRow, LedgerRow, RunRow):
                ids.update(session.scalars(select(table.client_id).distinct()))
            return sorted(ids)

    def save_plan(self, scope: str, plan: Plan, *, now: datetime) -> None:
        """Keep the latest plan of ``scope`` (e.g. ``assistant:sanne``) for stable re-planning."""
        payload = json.loads(plan.model_dump_json())
        with self.session() as session:
            row = session.get(PlanRow, scope)
            if row is None:
                session.add(PlanRow(scope=scope, created_at=now, payload=payload))
            else:
                row.payload, row.created_at = payload, now

    def load_plan(self, scope: str) -> Plan | None:
        with self.session() as session:
            row = session.get(PlanRow, scope)
            return Plan.model_validate(row.payload) if row else None

    def close(self) -> None:
        self.engine.dispose()


def peek_revision(url: str) -> str | None:
    """The revision a database is at, without upgrading it (``va-engine db current``).

    ``None``: no va-engine schema yet. A database from before Alembic counts
    as the revision its tables match, as :meth:`Store._ensure_schema` stamps it.
    """
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            current = _current_revision(connection, tables)
            if current is None and "va_meta" in tables:
                return _pre_alembic_revision(tables)
            return current
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot open the database {redact(url)}: {redact(str(exc).splitlines()[0])}",
            hint="check VA_ENGINE_DATABASE_URL or database_url in va-engine.toml",
        ) from None
    finally:
        engine.dispose()


def _pre_alembic_revision(tables: set[str]) -> str:
    """The revision a database made by ``create_all`` (before Alembic) matches.

    va_meta version 1 is 0001; at commit 0f9ea09 create_all already made va_dispatch.
    """
    return "0002" if "va_dispatch" in tables else "0001"


def _current_revision(connection: Connection, tables: set[str] | None = None) -> str | None:
    """Alembic's revision of the database, read directly (MigrationContext logs at INFO)."""
    if tables is not None and "alembic_version" not in tables:
        return None
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return max(versions, default=None)


def _write_schema_version(connection: Connection) -> None:
    """Keep va_meta's number in step, for readers that predate Alembic."""
    value = str(SCHEMA_VERSION)
    where = MetaRow.key == "schema_version"
    if connection.execute(update(MetaRow).where(where).values(value=value)).rowcount == 0:
        connection.execute(insert(MetaRow).values(key="schema_version", value=value))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the daemon write while a CLI report reads; foreign keys on.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class ClientStore:
    """All reads and writes for one client; every query is filtered by its id."""

    def __init__(self, store: Store, client_id: str) -> None:
        self._store = store
        self.client_id = client_id

    # -- tasks -------------------------------------------------------------

    def upsert_tasks(self, tasks: Sequence[Task], *, now: datetime) -> tuple[int, int]:
        """Insert new tasks and update known ones by (source, external_id).

        Returns (added, changed). A task whose payload did not change is left alone.
        """
        added = changed = 0
        with self._store.session() as session:
            for task in tasks:
                self._check(task.client_id)
                source = task.source or "manual"
                external = task.external_id or task.id
                row = session.scalars(
                    select(TaskRow).where(
                        TaskRow.client_id == self.client_id,
                        TaskRow.source == source,
                        TaskRow.external_id == external,
                    )
                ).one_or_none()
                payload = json.loads(task.model_dump_json())
                if row is None:
                    session.add(
                        TaskRow(
                            client_id=self.client_id,
                            source=source,
                            external_id=external,
                            task_id=task.id,
                            title=task.title,
                            kind=task.kind,
                            payload=payload,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    added += 1
                elif row.payload != payload or row.status != "open":
                    row.payload, row.title, row.kind = payload, task.title, task.kind
                    row.status, row.updated_at = "open", now
                    changed += 1
        return added, changed

    def close_missing(self, source: str, keep: set[str], *, now: datetime) -> int:
        """Close open tasks of ``source`` whose external id disappeared upstream."""
        closed = 0
        with self._store.session() as session:
            rows = session.scalars(
                select(TaskRow).where(
                    TaskRow.client_id == self.client_id,
                    TaskRow.source == source,
                    TaskRow.status == "open",
                )
            )
            for row in rows:
                if row.external_id not in keep:
                    row.status, row.updated_at = "closed", now
                    closed += 1
        return closed

    def close_with_prefixes(self, prefixes: Sequence[str], *, now: datetime) -> int:
        """Close open tasks whose external id starts with any of ``prefixes``.

        Mail rules key their tasks ``<Message-ID>#<rule>``; when the message is
        deleted or moved away upstream, its tasks are closed by that prefix.
        """
        closed = 0
        with self._store.session() as session:
            rows = session.scalars(
                select(TaskRow).where(TaskRow.client_id == self.client_id, TaskRow.status == "open")
            )
            for row in rows:
                if any(row.external_id.startswith(prefix) for prefix in prefixes):
                    row.status, row.updated_at = "closed", now
                    closed += 1
        return closed

    def open_tasks(self) -> list[Task]:
        with self._store.session() as session:
            rows = session.scalars(
                select(TaskRow)
                .where(TaskRow.client_id == self.client_id, TaskRow.status == "open")
                .order_by(TaskRow.id)
            )
            return [row.to_task() for row in rows]

    def set_task_status(self, task_id: str, status: str, *, now: datetime) -> bool:
        with self._store.session() as session:
            row = session.scalars(
                select(TaskRow).where(
                    TaskRow.client_id == self.client_id, TaskRow.task_id == task_id
                )
            ).first()
            if row is None:
                return False
            row.status, row.updated_at = status, now
            return True

    # -- ledger ------------------------------------------------------------

    def add_entry(
        self, entry: LedgerEntry, *, actor: str, now: datetime, run_key: str | None = None
    ) -> int | None:
        """Write a ledger entry; with a ``run_key`` a repeat is ignored (returns None)."""
        self._check(entry.client_id)
        try:
            with self._store.session() as session:
                row = LedgerRow(
                    client_id=self.client_id,
                    task=entry.task,
                    day=entry.day,
                    minutes=entry.minutes,
                    mode=entry.mode.value,
                    level=entry.level.value,
                    kind=entry.kind,
                    billable=entry.billable,
                    source=entry.source,
                    note=entry.note,
                    run_key=run_key,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                self._audit(
                    session,
                    "ledger.add",
                    f"ledger:{row.id}",
                    after=json.loads(entry.model_dump_json(exclude={"id"})),
                    actor=actor,
                    now=now,
                )
                return row.id
        except IntegrityError:
            if run_key is None:
                raise
            return None

    def entries(
        self, *, start: date | None = None, end: date | None = None, include_deleted: bool = False
    ) -> list[LedgerEntry]:
        with self._store.session() as session:
            query = select(LedgerRow).where(LedgerRow.client_id == self.client_id)
            if start:
                query = query.where(LedgerRow.day >= start)
            if end:
                query = query.where(LedgerRow.day <= end)
            if not include_deleted:
                query = query.where(LedgerRow.deleted.is_(False))
            return [row.to_entry() for row in session.scalars(query.order_by(LedgerRow.day))]

    def update_entry(
        self, entry_id: int, changes: dict[str, Any], *, actor: str, now: datetime
    ) -> None:
        """Change a ledger entry and record before/after in the audit trail."""
        with self._store.session() as session:
            row = self._ledger_row(session, entry_id)
            before = json.loads(row.to_entry().model_dump_json(exclude={"id"}))
            for key, value in changes.items():
                if key not in _EDITABLE_LEDGER_FIELDS:
                    raise StoreError(f"ledger field {key!r} cannot be edited")
                setattr(row, key, getattr(value, "value", value))
            after = json.loads(row.to_entry().model_dump_json(exclude={"id"}))
            self._audit(
                session,
                "ledger.edit",
                f"ledger:{entry_id}",
                before=before,
                after=after,
                actor=actor,
                now=now,
            )

    def delete_entry(self, entry_id: int, *, actor: str, now: datetime) -> None:
        """Mark an entry deleted (kept for the audit trail, hidden from reports)."""
        with self._store.session() as session:
            row = self._ledger_row(session, entry_id)
            row.deleted = True
            self._audit(
                session,
                "ledger.delete",
                f"ledger:{entry_id}",
                before=json.loads(row.to_entry().model_dump_json(exclude={"id"})),
                actor=actor,
                now=now,
            )

    def _ledger_row(self, session: Session, entry_id: int) -> LedgerRow:
        row = session.scalars(
            select(LedgerRow).where(LedgerRow.client_id == self.client_id, LedgerRow.id == entry_id)
        ).one_or_none()
        if row is None:
            from va_engine.errors import NotFoundError

            raise NotFoundError(f"no ledger entry {entry_id} for client {self.client_id!r}")
        return row

    def audit(self) -> list[AuditRow]:
        with self._store.session() as session:
            return list(
                session.scalars(
                    select(AuditRow)
                    .where(AuditRow.client_id == self.client_id)
                    .order_by(AuditRow.id)
                )
            )

    # -- workflow runs -----------------------------------------------------

    def begin_run(self, workflow: str, period: str, *, now: datetime) -> RunRow | None:
        """Claim the run (workflow, period); None when it already completed.

        A run that started but never finished (crash) is handed out again with
        its attempt count raised, so the workflow can resume idempotently.
        """
        with self._store.session() as session:
            row = session.scalars(
                select(RunRow).where(
                    RunRow.client_id == self.client_id,
                    RunRow.workflow == workflow,
                    RunRow.period == period,
                )
            ).one_or_none()
            if row is None:
                row = RunRow(
                    client_id=self.client_id,
                    workflow=workflow,
                    period=period,
                    status="started",
                    attempts=1,
                    started_at=now,
                )
                session.add(row)
                try:
                    session.flush()
                except IntegrityError:
                    session.rollback()
                    return None
                return row
            if row.status == "done":
                return None
            row.attempts += 1
            row.status, row.started_at = "started", now
            return row

    def finish_run(
        self,
        run_id: int,
        *,
        now: datetime,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self._store.session() as session:
            row = session.get(RunRow, run_id)
            if row is None or row.client_id != self.client_id:
                return
            row.status = "failed" if error else "done"
            row.finished_at, row.result, row.error = now, result, error

    def runs(self, *, workflow: str | None = None) -> list[RunRow]:
        with self._store.session() as session:
            query = select(RunRow).where(RunRow.client_id == self.client_id)
            if workflow:
                query = query.where(RunRow.workflow == workflow)
            return list(session.scalars(query.order_by(RunRow.started_at)))

    # -- sync state & quarantine --------------------------------------------

    def sync_state(self, account: str, collection: str) -> str | None:
        with self._store.session() as session:
            row = session.get(SyncStateRow, (self.client_id, account, collection))
            return row.state if row else None

    def set_sync_state(self, account: str, collection: str, state: str, *, now: datetime) -> None:
        with self._store.session() as session:
            row = session.get(SyncStateRow, (self.client_id, account, collection))
            if row is None:
                session.add(
                    SyncStateRow(
                        client_id=self.client_id,
                        account=account,
                        collection=collection,
                        state=state,
                        updated_at=now,
                    )
                )
            else:
                row.state, row.updated_at = state, now

    def quarantine(self, origin: str, reason: str, *, now: datetime) -> None:
        with self._store.session() as session:
            session.add(
                QuarantineRow(client_id=self.client_id, origin=origin, reason=reason, at=now)
            )

    def quarantined(self) -> list[QuarantineRow]:
        with self._store.session() as session:
            return list(
                session.scalars(
                    select(QuarantineRow).where(QuarantineRow.client_id == self.client_id)
                )
            )

    def counts(self) -> dict[str, int]:
        """Rows held for this client per table (for doctor, inventory and erasure)."""
        with self._store.session() as session:
            result: dict[str, int] = {}
            for name, table in (
                ("tasks", TaskRow),
                ("ledger", LedgerRow),
                ("runs", RunRow),
                ("sync_state", SyncStateRow),
                ("quarantine", QuarantineRow),
                ("audit", AuditRow),
            ):
                result[name] = (
                    session.scalar(
                        select(func.count())
                        .select_from(table)
                        .where(table.client_id == self.client_id)
                    )
                    or 0
                )
            return result

    # -- outbox, failures, alerts (daemon) -----------------------------------

    def enqueue_message(
        self,
        *,
        key: str,
        run_key: str,
        workflow: str,
        channel: str,
        audience: str,
        recipient: str,
        subject: str,
        message_id: str,
        raw: str,
        release_at: datetime,
        expires_at: datetime | None,
        now: datetime,
    ) -> tuple[OutboxRow, bool]:
        """Queue a message under ``key``; a second call returns the first row and False."""
        with self._store.session() as session:
            existing = self._outbox_row(session, key)
            if existing is not None:
                return existing, False
            # SQLite stores datetimes naive: keep every outbox moment in UTC.
            release_at = release_at.astimezone(UTC)
            expires_at = expires_at.astimezone(UTC) if expires_at else None
            row = OutboxRow(
                client_id=self.client_id,
                key=key,
                run_key=run_key,
                workflow=workflow,
                channel=channel,
                audience=audience,
                recipient=recipient,
                subject=subject,
                message_id=message_id,
                raw=raw,
                release_at=release_at,
                expires_at=expires_at,
                status="pending",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                again = self._outbox_row(session, key)
                assert again is not None
                return again, False
            return row, True

    def _outbox_row(self, session: Session, key: str) -> OutboxRow | None:
        return session.scalars(
            select(OutboxRow).where(OutboxRow.client_id == self.client_id, OutboxRow.key == key)
        ).one_or_none()

    def outbox(
        self,
        *,
        status: str | Sequence[str] | None = None,
        run_key: str | None = None,
        key_prefix: str | None = None,
    ) -> list[OutboxRow]:
        with self._store.session() as session:
            query = select(OutboxRow).where(OutboxRow.client_id == self.client_id)
            if isinstance(status, str):
                query = query.where(OutboxRow.status == status)
            elif status is not None:
                query = query.where(OutboxRow.status.in_(list(status)))
            if run_key is not None:
                query = query.where(OutboxRow.run_key == run_key)
            if key_prefix is not None:
                query = query.where(OutboxRow.key.startswith(key_prefix, autoescape=True))
            return list(session.scalars(query.order_by(OutboxRow.id)))

    def set_message_status(
        self,
        message_id: int,
        status: str,
        *,
        now: datetime,
        expect: str | Sequence[str] | None = None,
        error: str | None = None,
        location: str | None = None,
    ) -> bool:
        """Move an outbox row to ``status``; with ``expect`` only from those states (CAS)."""
        with self._store.session() as session:
            row = session.get(OutboxRow, message_id)
            if row is None or row.client_id != self.client_id:
                return False
            allowed = [expect] if isinstance(expect, str) else expect
            if allowed is not None and row.status not in allowed:
                return False
            row.status, row.updated_at, row.error = status, now, error
            if status in ("sending", "drafting", "writing"):
                row.attempts += 1
            if location is not None:
                row.location = location
            return True

    def failure(self, workflow: str) -> FailureRow | None:
        with self._store.session() as session:
            return session.get(FailureRow, (self.client_id, workflow))

    def failures(self) -> list[FailureRow]:
        with self._store.session() as session:
            return list(
                session.scalars(select(FailureRow).where(FailureRow.client_id == self.client_id))
            )

    def record_failure(
        self, workflow: str, error: str, *, now: datetime, next_attempt_at: datetime
    ) -> FailureRow:
        """Count one more consecutive failure of ``workflow``; returns the updated row."""
        with self._store.session() as session:
            row = session.get(FailureRow, (self.client_id, workflow))
            if row is None:
                row = FailureRow(
                    client_id=self.client_id,
                    workflow=workflow,
                    streak=0,
                    first_failed_at=now,
                    alerted=False,
                )
                session.add(row)
            row.streak += 1
            row.last_failed_at = now.astimezone(UTC)
            row.next_attempt_at = next_attempt_at.astimezone(UTC)
            row.last_error = error
            session.flush()
            return row

    def mark_failure_alerted(self, workflow: str) -> None:
        with self._store.session() as session:
            row = session.get(FailureRow, (self.client_id, workflow))
            if row is not None:
                row.alerted = True

    def clear_failure(self, workflow: str) -> bool:
        """Forget the failure streak of ``workflow`` (it succeeded); True if there was one."""
        with self._store.session() as session:
            row = session.get(FailureRow, (self.client_id, workflow))
            if row is None:
                return False
            session.delete(row)
            return True

    def add_alert(self, key: str, subject: str, body: str, *, now: datetime) -> bool:
        """Record an alert once per ``key``; False when it was already raised."""
        try:
            with self._store.session() as session:
                session.add(
                    AlertRow(client_id=self.client_id, key=key, at=now, subject=subject, body=body)
                )
            return True
        except IntegrityError:
            return False

    def alerts(self) -> list[AlertRow]:
        with self._store.session() as session:
            return list(
                session.scalars(
                    select(AlertRow)
                    .where(AlertRow.client_id == self.client_id)
                    .order_by(AlertRow.id)
                )
            )

    def beat(self, name: str, *, now: datetime, detail: str = "") -> None:
        """Record that watcher ``name`` of this client is alive."""
        with self._store.session() as session:
            row = session.get(HeartbeatRow, name)
            if row is None:
                session.add(
                    HeartbeatRow(name=name, client_id=self.client_id, at=now, detail=detail)
                )
            elif row.client_id == self.client_id:
                row.at, row.detail = now, detail

    def heartbeats(self) -> list[HeartbeatRow]:
        with self._store.session() as session:
            return list(
                session.scalars(
                    select(HeartbeatRow)
                    .where(HeartbeatRow.client_id == self.client_id)
                    .order_by(HeartbeatRow.name)
                )
            )

    # -- contact times & assignments (ledger reports) -------------------------

    def set_entry_start(self, entry_id: int, start: datetime) -> None:
        """Record when the contact of ledger entry ``entry_id`` began (kept in UTC)."""
        if start.tzinfo is None:
            raise StoreError("a contact start time must be timezone-aware")
        with self._store.session() as session:
            self._ledger_row(session, entry_id)
            row = session.get(LedgerTimeRow, entry_id)
            if row is None:
                session.add(
                    LedgerTimeRow(
                        ledger_id=entry_id, client_id=self.client_id, start=start.astimezone(UTC)
                    )
                )
            else:
                row.start = start.astimezone(UTC)

    def entry_starts(self) -> dict[int, datetime]:
        """Contact start times by ledger entry id, as aware UTC datetimes."""
        with self._store.session() as session:
            rows = session.scalars(
                select(LedgerTimeRow).where(LedgerTimeRow.client_id == self.client_id)
            )
            # SQLite hands back naive datetimes; they were written in UTC.
            return {
                row.ledger_id: row.start if row.start.tzinfo else row.start.replace(tzinfo=UTC)
                for row in rows
            }

    def task_history(self) -> list[Task]:
        """Every task ever stored for this client, open or closed (for the delegation report)."""
        with self._store.session() as session:
            rows = session.scalars(
                select(TaskRow).where(TaskRow.client_id == self.client_id).order_by(TaskRow.id)
            )
            return [row.to_task() for row in rows]

    def add_assignment(self, assignment: Assignment, *, actor: str, now: datetime) -> int:
        self._check(assignment.client_id)
        with self._store.session() as session:
            row = AssignmentRow(
                client_id=self.client_id,
                task=assignment.task,
                kind=assignment.kind,
                due=assignment.due,
                every=assignment.every,
                first_due=assignment.first_due or assignment.due,
                minutes=assignment.minutes,
                level=assignment.level.value,
                status=assignment.status,
                created_at=now,
            )
            session.add(row)
            session.flush()
            self._audit(
                session,
                "assignment.add",
                f"assignment:{row.id}",
                after=json.loads(assignment.model_dump_json(exclude={"id"})),
                actor=actor,
                now=now,
            )
            return row.id

    def assignments(self, *, status: str | None = None) -> list[Assignment]:
        with self._store.session() as session:
            query = select(AssignmentRow).where(AssignmentRow.client_id == self.client_id)
            if status:
                query = query.where(AssignmentRow.status == status)
            return [
                _to_assignment(row)
                for row in session.scalars(query.order_by(AssignmentRow.due, AssignmentRow.id))
            ]

    def record_assignment(
        self,
        assignment_id: int,
        *,
        done: bool,
        day: date,
        actor: str,
        now: datetime,
        minutes: int | None = None,
    ) -> int | None:
        """Record the client's answer for the current due date; returns the ledger entry id.

        Done lands in the ledger as the client's own work, keyed by
        (assignment, due date) so a repeated answer is written once. A
        repeating assignment moves on to its next due date; a one-off closes.
        """
        from va_engine.assignments import next_due, outcome_entry

        with self._store.session() as session:
            row = session.scalars(
                select(AssignmentRow).where(
                    AssignmentRow.client_id == self.client_id, AssignmentRow.id == assignment_id
                )
            ).one_or_none()
            if row is None:
                from va_engine.errors import NotFoundError

                raise NotFoundError(f"no assignment {assignment_id} for client {self.client_id!r}")
            current = _to_assignment(row)
        if current.status != "open":
            return None
        entry_id: int | None = None
        if done:
            entry_id = self.add_entry(
                outcome_entry(current, day=day, minutes=minutes),
                actor=actor,
                now=now,
                run_key=f"assignment:{assignment_id}:{current.due.isoformat()}",
            )
        following = next_due(current)
        with self._store.session() as session:
            row = session.get(AssignmentRow, assignment_id)
            assert row is not None
            if done:
                row.done_count += 1
            else:
                row.missed_count += 1
            if following is not None:
                row.due = following
            else:
                row.status = "done" if done else "missed"
            self._audit(
                session,
                "assignment.done" if done else "assignment.missed",
                f"assignment:{assignment_id}",
                before={"due": current.due.isoformat()},
                after={"status": row.status, "due": row.due.isoformat()},
                actor=actor,
                now=now,
            )
        return entry_id

    def _audit(
        self,
        session: Session,
        action: str,
        subject: str,
        *,
        actor: str,
        now: datetime,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Append one row to this client's audit trail, in the caller's transaction."""
        session.add(
            AuditRow(
                client_id=self.client_id,
                at=now,
                actor=actor,
                action=action,
                subject=subject,
                before=before,
                after=after,
            )
        )

    def _check(self, client_id: str | None) -> None:
        if client_id is not None and client_id != self.client_id:
            raise StoreError(
                f"refusing to write data of client {client_id!r} through the store of "
                f"client {self.client_id!r}"
            )


def _to_assignment(row: AssignmentRow) -> Assignment:
    return Assignment(
        id=row.id,
        client_id=row.client_id,
        task=row.task,
        kind=row.kind,
        due=row.due,
        every=row.every,
        first_due=row.first_due,
        minutes=row.minutes,
        level=SupportLevel(row.level),
        status=row.status,
        created=row.created_at.date(),
        done_count=row.done_count,
        missed_count=row.missed_count,
    )
