"""One error tree for va-engine, split by cause so callers can match on type.

::

    VaEngineError                 exit 1  anything va-engine raises on purpose
    ├── ConfigError               exit 2  a config file is missing, malformed or invalid
    ├── ValidationError           exit 2  input data breaks a domain rule
    ├── StoreError                exit 3  the database cannot be opened or migrated
    ├── ConnectorError            exit 4  an account could not be read or written
    │   ├── AuthError                     wrong password, expired token
    │   ├── UnreachableError              DNS, refused, TLS failure, timeout
    │   └── RemoteDataError               the server answered nonsense
    ├── PlanningError             exit 5  the planner could not run (not: a task left out)
    └── NotFoundError             exit 6  an unknown client, assistant, file or task

Only the CLI turns these into exit codes; the library raises and never exits.
Messages must never contain secrets: build them from names and paths, never
from connection strings or credentials (see :func:`redact`).
"""

from __future__ import annotations

import re

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "NotFoundError",
    "PlanningError",
    "RemoteDataError",
    "StoreError",
    "UnreachableError",
    "VaEngineError",
    "ValidationError",
    "redact",
]


class VaEngineError(Exception):
    """Base of every error va-engine raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(VaEngineError):
    """A configuration file is missing, malformed or holds an invalid value."""

    exit_code = 2


class ValidationError(VaEngineError):
    """Input data breaks a rule of the domain model."""

    exit_code = 2


class StoreError(VaEngineError):
    """The database cannot be opened, created or migrated."""

    exit_code = 3


class ConnectorError(VaEngineError):
    """An account (calendar, mailbox, file) could not be read or written."""

    exit_code = 4


class AuthError(ConnectorError):
    """The server refused our credentials; retrying will not help."""


class UnreachableError(ConnectorError):
    """The server could not be reached; retrying later may help."""


class RemoteDataError(ConnectorError):
    """The server answered, but with data we cannot use."""


class PlanningError(VaEngineError):
    """The planner could not run at all (tasks it cannot place are not errors)."""

    exit_code = 5


class NotFoundError(VaEngineError):
    """An unknown client, assistant, task or file was named."""

    exit_code = 6


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove passwords from URLs and any of ``secrets`` from ``text``.

    Used on every message that may quote a database URL or a server answer.
    """
    cleaned = _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, "***")
    return cleaned
