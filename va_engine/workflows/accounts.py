"""Open the connector behind a configured account: the one place config meets backends.

A job receives only the accounts of its own client, opened here from that
client's config, so it has no handle on anyone else's calendars or mail.
Passwords are fetched here, at the last moment, and go straight into the
backend as a ``SecretStr``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from va_engine.connectors.base import CalendarChanges, CalendarSource, MailSource, ParsedCalendar
from va_engine.connectors.caldav import CalDavAccount, CalDavCalendar, select_calendars
from va_engine.connectors.imap import ImapMailbox
from va_engine.connectors.local import MaildirMailbox, local_calendar
from va_engine.errors import ConfigError
from va_engine.settings import CalendarAccount, Config, MailAccount

__all__ = ["CalendarGroup", "close_source", "open_calendar", "open_mailbox"]


def close_source(source: object) -> None:
    """Close a source that holds a connection (IMAP, CalDAV); local ones have nothing to close."""
    close = getattr(source, "close", None)
    if close is not None:
        close()


def open_calendar(config: Config, account: CalendarAccount) -> CalendarSource:
    """The calendar source for ``account``: a file/vdir, or the chosen CalDAV collections."""
    if account.type in ("ics", "vdir"):
        assert account.path is not None  # enforced when the config was loaded
        return local_calendar(config.resolve_path(account.path), account=account.name)
    assert account.url is not None
    caldav = CalDavAccount(
        account.url,
        account.username,
        _password(account.name, account.resolve_password(account.username)),
        ssl_verify=account.verify_tls,
    )
    found = caldav.discover()
    chosen = (
        select_calendars(found, account.calendars)
        if account.calendars
        else [c for c in found if c.holds_events]
    )
    return CalendarGroup([CalDavCalendar(caldav, info.url) for info in chosen], account=caldav)


def open_mailbox(config: Config, account: MailAccount) -> MailSource:
    """The mail source for ``account``: a local Maildir or an IMAP account."""
    if account.type == "maildir":
        assert account.path is not None
        return MaildirMailbox(config.resolve_path(account.path), account=account.name)
    assert account.host is not None
    port = account.port or (993 if account.security == "ssl" else 143)
    return ImapMailbox(
        account.host,
        port,
        account.username,
        _password(account.name, account.resolve_password(account.username)),
        ssl=account.security == "ssl",
        starttls=account.security == "starttls",
    )


def _password(name: str, secret: SecretStr | None) -> SecretStr:
    if secret is None:
        raise ConfigError(
            f"account {name!r} needs a password source",
            hint="set password_env, password_command or keyring for it",
        )
    return secret


class CalendarGroup:
    """Several calendar collections read as one source (e.g. 'Work' and 'Family').

    The sync state is a JSON object of each member's own opaque state, so one
    collection's change never makes the others sync from scratch.
    """

    def __init__(self, members: Sequence[CalendarSource], *, account: object = None) -> None:
        self.members = list(members)
        self._account = account

    def close(self) -> None:
        """Close the CalDAV account's HTTP session shared by all members."""
        close_source(self._account)

    def events(self, start: datetime, end: datetime, *, tz: ZoneInfo) -> ParsedCalendar:
        result = ParsedCalendar()
        for member in self.members:
            result = result + member.events(start, end, tz=tz)
        return result

    def todos(self, *, tz: ZoneInfo) -> ParsedCalendar:
        result = ParsedCalendar()
        for member in self.members:
            result = result + member.todos(tz=tz)
        return result

    def sync(
        self, state: str | None, *, start: datetime, end: datetime, tz: ZoneInfo
    ) -> CalendarChanges:
        previous: list[str | None] = json.loads(state) if state else [None] * len(self.members)
        if len(previous) != len(self.members):  # the configured calendars changed
            previous = [None] * len(self.members)
        changes = [
            member.sync(old, start=start, end=end, tz=tz)
            for member, old in zip(self.members, previous, strict=True)
        ]
        return CalendarChanges(
            state=json.dumps([c.state for c in changes]),
            reset=any(c.reset for c in changes),
            changed_items=tuple(i for c in changes for i in c.changed_items),
            removed_items=tuple(i for c in changes for i in c.removed_items),
            events=tuple(e for c in changes for e in c.events),
            todos=tuple(t for c in changes for t in c.todos),
            quarantined=tuple(q for c in changes for q in c.quarantined),
        )
