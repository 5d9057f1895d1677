"""Alembic migrations of the va-engine schema, run by :class:`va_engine.store.Store` itself.

Users never call Alembic: opening a store upgrades its database in place (see
``Store._ensure_schema``), so no ``alembic.ini`` is needed. For a developer:

- Revision ids are numbers, ``0001``, ``0002`` …, because the store also
  records the head as an integer (``va_meta.schema_version``) and
  ``va-engine doctor`` prints it. A revision never changes once released;
  the models in ``store.py`` change and a new revision follows them.
- Write a new revision against a scratch database at head::

      from alembic import command
      from va_engine.migrations import alembic_config
      from va_engine.store import Store

      store = Store("sqlite:////tmp/scratch.db")
      with store.engine.begin() as connection:
          command.revision(alembic_config(connection), message="what changes",
                           autogenerate=True, rev_id="0003")

  then read the generated file, name it ``r0003_what_changes.py`` and keep
  ``tests/foundation/test_migrations.py`` green (it compares head with the models).
"""

from __future__ import annotations

import functools

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

__all__ = ["SCRIPT_LOCATION", "alembic_config", "head", "revisions", "script_directory"]

#: Where Alembic finds env.py and versions/, as a package resource (works installed).
SCRIPT_LOCATION = "va_engine:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An in-memory Alembic config; ``connection`` is the one env.py migrates on."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The migration scripts, read once per process (every store open checks the head)."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this va-engine knows."""
    current = script_directory().get_current_head()
    assert current is not None  # versions/ is never empty
    return current


def revisions() -> list[tuple[str, str]]:
    """``(revision, what it does)``, oldest first."""
    scripts = list(script_directory().walk_revisions())
    return [(script.revision, script.doc) for script in reversed(scripts)]
