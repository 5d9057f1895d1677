"""Fixtures for the daemon tests: every store-touching test runs on SQLite and PostgreSQL."""

from __future__ import annotations
