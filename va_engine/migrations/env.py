"""Alembic environment: migrate on the connection the store hands over.

The store opens the connection, takes the schema lock and owns the
transaction; this file only points Alembic at it. Run from the ``alembic``
command line instead, it falls back to ``VA_ENGINE_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from va_engine.store import Base


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = os.environ.get("VA_ENGINE_DATABASE_URL") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("set VA_ENGINE_DATABASE_URL to the database to migrate")
    engine = create_engine(url)
    try:
        with engine.begin() as fresh:
            _migrate(fresh)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; migrate a live database")
_run()
