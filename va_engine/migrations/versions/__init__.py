"""Schema revisions, oldest first; Alembic loads every file here (this one excepted)."""
