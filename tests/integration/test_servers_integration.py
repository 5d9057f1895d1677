"""The server fixtures themselves: SMTP sink, and accounts isolated from each other."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from tests.servers import DovecotServer, RadicaleServer, SmtpServer
from va_engine.connectors.caldav import CalDavAccount
from va_engine.connectors.imap import ImapMailbox
from va_engine.errors import AuthError

pytestmark = pytest.mark.integration


def test_smtp_server_collects_messages(smtp_server: SmtpServer) -> None:
    msg = EmailMessage()
    msg["From"] = "va@example.org"
    msg["To"] = "client@example.org"
    msg["Subject"] = "Your week, planned"
    msg.set_content("See the attached plan.")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(msg)
    assert [m["Subject"] for m in smtp_server.messages] == ["Your week, planned"]
    assert smtp_server.envelopes == [("va@example.org", ["client@example.org"])]


def test_imap_users_are_isolated(dovecot_server: DovecotServer) -> None:
    alice, bob = dovecot_server.account("alice"), dovecot_server.account("bob")
    note = EmailMessage()
    note["Subject"] = "for bob only"
    note["Message-ID"] = "<bob-only@example.org>"
    note.set_content("secret")
    with ImapMailbox(bob.host, bob.port, bob.username, SecretStr(bob.password), ssl=False) as box:
        assert isinstance(box, ImapMailbox)
        box.save_draft(note)
    with ImapMailbox(
        alice.host, alice.port, alice.username, SecretStr(alice.password), ssl=False
    ) as box:
        assert isinstance(box, ImapMailbox)
        subjects = [m.subject for m in box.fetch("Drafts", None).messages]
        assert "for bob only" not in subjects


def test_caldav_users_are_isolated(radicale_server: RadicaleServer) -> None:
    alice, bob = radicale_server.account("alice"), radicale_server.account("bob")
    bobs = CalDavAccount(bob.url, bob.username, SecretStr(bob.password))
    calendar = bobs.make_calendar("Bob private")
    intruder = CalDavAccount(alice.url, alice.username, SecretStr(alice.password))
    with pytest.raises(AuthError, match="403"):
        intruder.sync_collection(calendar.url)
    assert "Bob private" not in [c.name for c in intruder.discover()]
