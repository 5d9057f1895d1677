"""Baseline: the schema as it was at va_meta schema_version 1, before Alembic.

Written out table by table on purpose (not ``create_all``): later changes to
the models must never change what this revision creates, or a database made
by it would no longer match the revisions that follow.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = (
    "va_meta",
    "va_tasks",
    "va_ledger",
    "va_audit",
    "va_runs",
    "va_sync_state",
    "va_quarantine",
    "va_plans",
    "va_outbox",
    "va_heartbeats",
    "va_failures",
    "va_alerts",
    "va_ledger_times",
    "va_assignments",
)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _client_id() -> sa.Column[str]:
    return sa.Column("client_id", sa.String(length=64), nullable=False)


def _at(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _index(table: str, *columns: str) -> None:
    """A plain index named as SQLAlchemy names ``index=True`` columns."""
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns), unique=False)


def upgrade() -> None:
    op.create_table(
        "va_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "va_tasks",
        _id(),
        _client_id(),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=False),
        sa.Column("task_id", sa.String(length=600), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "source", "external_id"),
    )
    _index("va_tasks", "client_id")
    op.create_table(
        "va_ledger",
        _id(),
        _client_id(),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("run_key", sa.String(length=255), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "run_key"),
    )
    _index("va_ledger", "client_id")
    _index("va_ledger", "day")
    op.create_table(
        "va_audit",
        _id(),
        _client_id(),
        _at("at"),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("va_audit", "client_id")
    op.create_table(
        "va_runs",
        _id(),
        _client_id(),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("started_at"),
        _at("finished_at", nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "workflow", "period"),
    )
    _index("va_runs", "client_id")
    op.create_table(
        "va_sync_state",
        _client_id(),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("collection", sa.String(length=255), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("client_id", "account", "collection"),
    )
    op.create_table(
        "va_quarantine",
        _id(),
        _client_id(),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _at("at"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("va_quarantine", "client_id")
    op.create_table(
        "va_plans",
        sa.Column("scope", sa.String(length=128), nullable=False),
        _at("created_at"),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "va_outbox",
        _id(),
        _client_id(),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("run_key", sa.String(length=255), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        _at("release_at"),
        _at("expires_at", nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "key"),
    )
    for column in ("client_id", "release_at", "run_key", "status"):
        _index("va_outbox", column)
    op.create_table(
        "va_heartbeats",
        sa.Column("name", sa.String(length=255), nullable=False),
        _client_id(),
        _at("at"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _index("va_heartbeats", "client_id")
    op.create_table(
        "va_failures",
        _client_id(),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        _at("first_failed_at"),
        _at("last_failed_at"),
        _at("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "workflow"),
    )
    op.create_table(
        "va_alerts",
        _id(),
        _client_id(),
        sa.Column("key", sa.String(length=255), nullable=False),
        _at("at"),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "key"),
    )
    _index("va_alerts", "client_id")
    op.create_table(
        "va_ledger_times",
        sa.Column("ledger_id", sa.Integer(), nullable=False),
        _client_id(),
        _at("start"),
        sa.PrimaryKeyConstraint("ledger_id"),
    )
    _index("va_ledger_times", "client_id")
    op.create_table(
        "va_assignments",
        _id(),
        _client_id(),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("every", sa.String(length=255), nullable=True),
        sa.Column("first_due", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_count", sa.Integer(), nullable=False),
        sa.Column("missed_count", sa.Integer(), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("va_assignments", "client_id")


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
