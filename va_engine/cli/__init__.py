"""The ``va-engine`` command line: parses, calls the core, renders. Nothing more."""

from va_engine.cli.app import app, main, run

__all__ = ["app", "main", "run"]
