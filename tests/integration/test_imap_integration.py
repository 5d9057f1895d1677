"""IMAP connector against a real Dovecot started by the root conftest."""

from __future__ import annotations

import socket
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from tests.servers import Account, DovecotServer
from va_engine.connectors._net import RetryPolicy
from va_engine.connectors.imap import FolderState, ImapMailbox
from va_engine.errors import AuthError, UnreachableError

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)


def mailbox(account: Account, **kwargs: object) -> ImapMailbox:
    return ImapMailbox(
        account.host,
        account.port,
        account.username,
        SecretStr(account.password),
        ssl=False,
        timeout=10,
        retry=FAST,
        **kwargs,  # type: ignore[arg-type]
    )


def message(n: int, subject: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Sender <sender@example.org>"
    msg["To"] = "client@example.org"
    msg["Subject"] = subject or f"message {n}"
    msg["Date"] = "Mon, 23 Nov 2026 09:00:00 +0100"
    msg["Message-ID"] = f"<m{n}@example.org>"
    msg.set_content(f"body {n}\n")
    return msg


def deliver(account: Account, *messages: EmailMessage, folder: str = "INBOX") -> None:
    """Upstream change made by someone else: a separate session appends mail."""
    with mailbox(account) as other:
        assert isinstance(other, ImapMailbox)
        for msg in messages:
            other.call(lambda m=msg: other.client.append(folder, m.as_bytes()))


@pytest.mark.parametrize("hints", [{}, {"qresync": False}, {"condstore": False}])
def test_incremental_sync_reports_added_changed_removed(
    imap_account: Account, hints: dict[str, bool]
) -> None:
    deliver(imap_account, message(1), message(2), message(3))
    with mailbox(imap_account, hints=hints) as box:
        assert isinstance(box, ImapMailbox)
        first = box.sync_folder("INBOX")
        assert first.reset
        assert sorted(m.uid for m in first.new) == list(first.state.uids)
        assert {m.raw.split(b"Subject: ")[1].split(b"\r\n")[0] for m in first.new} == {
            b"message 1",
            b"message 2",
            b"message 3",
        }

        same = box.sync_folder("INBOX", first.state)
        if hints.get("condstore", True):
            assert same.unchanged
        assert not same.new and not same.vanished

        uid1, uid2, _uid3 = first.state.uids
        deliver(imap_account, message(4))
        with mailbox(imap_account) as other:
            assert isinstance(other, ImapMailbox)
            other.set_flags("INBOX", [uid1], ["\\Flagged"])
            other.call(lambda: other.client.delete_messages([uid2]))
            other.call(lambda: other.client.expunge())

        later = box.sync_folder("INBOX", same.state)
        assert not later.reset
        assert [m.raw.count(b"message 4") for m in later.new] == [1]
        assert later.vanished == {uid2}
        assert "\\Flagged" in later.flags_changed[uid1]
        assert uid2 not in later.state.uids
        assert later.new[0].uid in later.state.uids


def test_no_change_sync_costs_one_command(imap_account: Account) -> None:
    deliver(imap_account, message(1))
    with mailbox(imap_account) as box:
        assert isinstance(box, ImapMailbox)
        state = box.sync_folder("INBOX").state
        before = box.round_trips
        assert box.sync_folder("INBOX", state).unchanged
        assert box.round_trips - before == 1


def test_uidvalidity_change_resets_state(imap_account: Account) -> None:
    deliver(imap_account, message(1))
    with mailbox(imap_account) as box:
        assert isinstance(box, ImapMailbox)
        state = box.sync_folder("INBOX").state
        stale = FolderState(uidvalidity=state.uidvalidity + 1, uidnext=99, uids=(1, 2, 50))
        again = box.sync_folder("INBOX", stale)
        assert again.reset
        assert [m.uid for m in again.new] == list(state.uids)


def test_draft_appears_in_drafts_once(imap_account: Account) -> None:
    with mailbox(imap_account) as box:
        assert isinstance(box, ImapMailbox)
        draft = message(7, "Reply to the tax office")
        uid = box.save_draft(draft)
        assert uid and box.save_draft(draft) == uid  # idempotent on Message-ID
        drafts = box.fetch("Drafts", None)
        assert [(m.id, m.subject) for m in drafts.messages] == [(uid, "Reply to the tax office")]
        assert {"\\Draft", "\\Seen"} <= drafts.messages[0].flags


@pytest.mark.parametrize("hints", [{}, {"move": False}, {"move": False, "uidplus": False}])
def test_moved_mail_is_moved(imap_account: Account, hints: dict[str, bool]) -> None:
    deliver(imap_account, message(1), message(2))
    with mailbox(imap_account, hints=hints) as box:
        assert isinstance(box, ImapMailbox)
        box.create_folder("Clients/Acme")
        box.create_folder("Clients/Acme")  # idempotent
        inbox = box.fetch("INBOX", None)
        first, second = (m.id for m in inbox.messages)
        box.move([first], "INBOX", "Clients/Acme")
        box.move([first], "INBOX", "Clients/Acme")  # already gone: no-op
        after = box.fetch("INBOX", inbox.state)
        assert after.removed_ids == (first,) and not after.messages
        moved = box.fetch("Clients/Acme", None)
        assert [m.subject for m in moved.messages] == ["message 1"]
        assert "Clients/Acme" in box.folders()
        assert [m.subject for m in box.fetch("INBOX", None).messages] == ["message 2"]
        assert second != first


def test_fetch_parses_flags_and_quarantines_broken_mail(imap_account: Account) -> None:
    broken = (
        b"From: a@example.org\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nno boundary at all\r\n"
    )
    deliver(imap_account, message(1, "Invoice 2026-117"))
    with mailbox(imap_account) as box:
        assert isinstance(box, ImapMailbox)
        box.call(lambda: box.client.append("INBOX", broken))
        batch = box.fetch("INBOX", None)
        assert [m.subject for m in batch.messages] == ["Invoice 2026-117"]
        assert [q.origin.collection for q in batch.quarantined] == ["INBOX"]
        assert "boundary" in batch.quarantined[0].reason
        (good,) = batch.messages
        box.flag([good.id], "INBOX", "\\Flagged")
        later = box.fetch("INBOX", batch.state)
        assert "\\Flagged" in later.flag_changes[good.id]
        assert box.fetch("INBOX", later.state).unchanged
        assert box.fetch("INBOX", "not json").reset


def test_reconnects_after_server_restart(
    dovecot_server: DovecotServer, imap_account: Account
) -> None:
    deliver(imap_account, message(1))
    with mailbox(imap_account) as box:
        assert isinstance(box, ImapMailbox)
        state = box.sync_folder("INBOX").state
        dovecot_server.restart()
        deliver(imap_account, message(2))
        changes = box.sync_folder("INBOX", state)
        assert [b"message 2" in m.raw for m in changes.new] == [True]


def test_idle_notices_new_mail_and_dead_connection(
    dovecot_server: DovecotServer, imap_account: Account
) -> None:
    with mailbox(imap_account) as box:
        assert isinstance(box, ImapMailbox)
        assert box.idle_wait("INBOX", timeout=0.2) is False
        deliver(imap_account, message(1))
        # The change happened before IDLE started: the next sync sees it, IDLE need not.
        assert len(box.sync_folder("INBOX").new) == 1
        import threading

        timer = threading.Timer(0.3, deliver, args=(imap_account, message(2)))
        timer.start()
        try:
            assert box.idle_wait("INBOX", timeout=5) is True
        finally:
            timer.join()
        dovecot_server.restart()
        # The old connection is dead; idle_wait reconnects instead of hanging or failing.
        assert box.idle_wait("INBOX", timeout=0.2) is False


def test_wrong_password_is_auth_error_without_the_password(imap_account: Account) -> None:
    wrong = Account(imap_account.host, imap_account.port, imap_account.username, "Hunter2-wrong")
    with pytest.raises(AuthError) as info:
        mailbox(wrong).sync_folder("INBOX")
    text = str(info.value)
    assert "Hunter2-wrong" not in text
    assert imap_account.username in text and "password" in text


def test_unreachable_port_is_unreachable_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: refused
        box = mailbox(Account("127.0.0.1", port, "nobody", "S3cret-pw"))
        with pytest.raises(UnreachableError) as info:
            box.sync_folder("INBOX")
    assert "refused" in str(info.value)
    assert "S3cret-pw" not in str(info.value)
