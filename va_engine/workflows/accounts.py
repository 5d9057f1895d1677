"""Open the connector behind a configured account: the one place config meets backends.

A job receives only the accounts of its own client, opened here from that
client's config, so it has no handle on anyone else's calendars or mail.
"""

from __future__ import annotations

from va_engine.connectors.base import CalendarSource, MailSource
from va_engine.connectors.local import MaildirMailbox, local_calendar
from va_engine.errors import ConfigError
from va_engine.settings import CalendarAccount, Config, MailAccount

__all__ = ["open_calendar", "open_mailbox"]


def open_calendar(config: Config, account: CalendarAccount) -> CalendarSource:
    if account.type in ("ics", "vdir"):
        assert account.path is not None  # enforced when the config was loaded
        return local_calendar(config.resolve_path(account.path), account=account.name)
    return _networked_calendar(account)


def open_mailbox(config: Config, account: MailAccount) -> MailSource:
    if account.type == "maildir":
        assert account.path is not None
        return MaildirMailbox(config.resolve_path(account.path), account=account.name)
    return _networked_mailbox(account)


def _networked_calendar(account: CalendarAccount) -> CalendarSource:
    raise ConfigError(
        f"calendar {account.name!r}: CalDAV accounts are read by 'va-engine sync' "
        "(not yet wired into this command)"
    )


def _networked_mailbox(account: MailAccount) -> MailSource:
    raise ConfigError(
        f"mailbox {account.name!r}: IMAP accounts are read by 'va-engine sync' "
        "(not yet wired into this command)"
    )
