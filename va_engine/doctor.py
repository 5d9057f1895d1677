"""Health checks behind ``va-engine doctor``: one line per check, each with a fix.

The checks touch the outside world (files, database, sockets), so they live
at the edge, not in the core; each returns a :class:`Check` instead of raising
so one broken account never hides the state of the others.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from va_engine.errors import VaEngineError, redact
from va_engine.settings import AccountSecret, CalendarAccount, Config, MailAccount
from va_engine.store import Store

__all__ = ["Check", "Outcome", "run_checks"]


class Outcome(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str


def run_checks(config: Config, *, timeout: float = 5.0) -> Iterator[Check]:
    """Yield one result per check, in the order a person would fix them."""
    yield Check("config", Outcome.OK, f"{config.config_dir} ({len(config.clients)} clients)")
    zones = sorted(
        {config.engine.timezone}
        | {a.to_model(config.engine.timezone).timezone for a in config.assistants}
    )
    yield Check("time zones", Outcome.OK, ", ".join(zones))
    yield from _check_store(config)
    for client in config.clients:
        for calendar in client.calendars:
            yield _check_account(config, client.id, calendar, timeout)
        for mailbox in client.mailboxes:
            yield _check_account(config, client.id, mailbox, timeout)


def _check_store(config: Config) -> Iterator[Check]:
    data_dir = config.engine.resolved_data_dir()
    url = config.engine.resolved_database_url()
    try:
        store = Store(url)
    except VaEngineError as exc:
        yield Check("database", Outcome.FAIL, exc.message)
        return
    try:
        yield Check(
            "database",
            Outcome.OK,
            f"{redact(url)} ({store.dialect}, schema rev {store.schema_revision()})",
        )
    finally:
        store.close()
    if url.startswith("sqlite"):
        yield Check("data dir", Outcome.OK, str(data_dir))


def _check_account(
    config: Config, client_id: str, account: CalendarAccount | MailAccount, timeout: float
) -> Check:
    name = f"{client_id}/{account.name}"
    if account.type in ("ics", "vdir", "maildir"):
        assert account.path is not None  # checked when the config was loaded
        path = config.resolve_path(account.path)
        if not path.exists():
            return Check(name, Outcome.FAIL, f"{account.type} path {path} does not exist")
        if account.type == "maildir" and not (path / "cur").is_dir():
            return Check(name, Outcome.FAIL, f"{path} is not a Maildir (no cur/ folder)")
        return Check(name, Outcome.OK, f"{account.type} {_short(path)}")
    secret_problem = _secret_problem(account)
    host, port = _address(account)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return Check(name, Outcome.FAIL, f"{host}:{port} unreachable ({exc.strerror or exc})")
    if secret_problem:
        return Check(name, Outcome.FAIL, f"{host}:{port} reachable, but {secret_problem}")
    return Check(name, Outcome.OK, f"{account.type} {host}:{port} reachable")


def _address(account: CalendarAccount | MailAccount) -> tuple[str, int]:
    if isinstance(account, MailAccount):
        assert account.host is not None
        default = 993 if account.security == "ssl" else 143
        return account.host, account.port or default
    assert account.url is not None
    parts = urlsplit(account.url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _secret_problem(account: AccountSecret) -> str | None:
    try:
        account.resolve_password(getattr(account, "username", ""))
    except VaEngineError as exc:
        return exc.message
    return None


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
