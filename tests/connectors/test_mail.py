"""E-mail parsing over the named files in tests/data/mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from va_engine.connectors.base import FLAG_SEEN, MailMessage, Origin, Quarantined
from va_engine.connectors.mail import MessageQuarantined, parse_message, try_parse_message

DATA = Path(__file__).resolve().parent.parent / "data" / "mail"
AMS = ZoneInfo("Europe/Amsterdam")


def origin(name: str) -> Origin:
    return Origin(account="anna", collection="INBOX", item=name)


def load(name: str) -> MailMessage:
    return parse_message((DATA / name).read_bytes(), origin=origin(name), tz=AMS)


def test_rfc2047_headers_addresses_and_threading() -> None:
    msg = load("plain_rfc2047.eml")
    assert msg.subject == "Vergadering over de begroting — dinsdag"
    assert (msg.sender, msg.sender_name) == ("renee@example.org", "Renée de Vries")
    assert msg.to == ("anna@example.org", "bob@example.org")
    assert msg.cc == ("office@example.org",)
    assert msg.date == datetime(2026, 11, 10, 9, 15, tzinfo=timezone(timedelta(hours=1)))
    assert msg.message_id == "<m1@example.org>"
    assert msg.in_reply_to == "<m0@example.org>"
    assert msg.references == ("<a@example.org>", "<m0@example.org>")
    assert msg.list_id == "Team list <team.example.org>"
    assert "Graag vóór vrijdag." in msg.text
    assert "\n" not in msg.snippet and msg.snippet.startswith("Hoi Anna, Kun jij")
    assert (msg.id, msg.folder) == ("plain_rfc2047.eml", "INBOX")
    assert msg.defects == ()


def test_unknown_charset_falls_back_and_notes_it() -> None:
    msg = load("unknown_charset.eml")
    assert msg.subject == "Qaplaé and plain words"
    assert msg.text == "Café bijeenkomst om tien uur."
    assert any("x-klingon" in d for d in msg.defects)


def test_missing_date_is_none_not_an_error() -> None:
    msg = load("missing_date.eml")
    assert msg.date is None
    assert "missing Date" in msg.defects
    assert msg.sender_name == "No Date"


def test_invoice_with_latin1_text_html_alternative_and_pdf() -> None:
    msg = load("invoice_pdf.eml")
    # text/plain wins over the HTML alternative; its Latin-1 is decoded.
    assert "te betalen vóór 12-12-2026" in msg.text
    assert "één maand" in msg.text
    assert [(a.filename, a.content_type) for a in msg.attachments] == [
        ("factuur-2026-0042.pdf", "application/pdf")
    ]
    assert msg.attachments[0].size > 0


def test_html_only_mail_is_stripped_to_visible_text() -> None:
    msg = load("html_only_latin1_header.eml")
    assert msg.text == "Payment due 2026-12-01."
    assert msg.subject == "Your order à la carte"
    # "-0000" means unknown zone; the instant is still UTC.
    assert msg.date == datetime(2026, 11, 14, 11, tzinfo=UTC)


def test_meeting_request_invitation_is_parsed() -> None:
    msg = load("meeting_request.eml")
    assert msg.invitation_method == "REQUEST"
    (event,) = msg.invitations
    assert event.summary == "Kwartaaloverleg"
    assert event.start == datetime(2026, 11, 20, 10, tzinfo=AMS)
    assert event.end - event.start == timedelta(minutes=90)
    assert event.organizer == "jan@client.example.com"
    assert event.origin.item.startswith("meeting_request.eml#invite")
    assert msg.attachments == ()  # an inline text/calendar alternative is not an attachment


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("broken_boundary.eml", "broken MIME: multipart boundary not found"),
        ("empty.eml", "not an e-mail: no headers"),
    ],
)
def test_broken_messages_are_quarantined_with_origin(name: str, reason: str) -> None:
    data = (DATA / name).read_bytes()
    with pytest.raises(MessageQuarantined) as info:
        parse_message(data, origin=origin(name))
    assert info.value.quarantined.reason == reason
    result = try_parse_message(data, origin=origin(name))
    assert isinstance(result, Quarantined)
    assert result.origin == origin(name)


def test_flags_and_explicit_id_are_kept() -> None:
    msg = parse_message(
        (DATA / "missing_date.eml").read_bytes(),
        origin=origin("x"),
        id="42",
        folder="Archief",
        flags=[FLAG_SEEN],
    )
    assert (msg.id, msg.folder, msg.flags) == ("42", "Archief", frozenset({FLAG_SEEN}))


def test_every_corpus_file_parses_or_quarantines_never_raises_otherwise() -> None:
    for path in sorted(DATA.glob("*.eml")):
        result = try_parse_message(path.read_bytes(), origin=origin(path.name))
        assert isinstance(result, MailMessage | Quarantined), path.name


def test_header_the_stdlib_cannot_parse_is_kept_raw() -> None:
    # Found by the robustness test: Python's Message-ID parser raises IndexError here.
    data = b"From: a@example.org\nMessage-ID: <@example.org>\nSubject: x\n\nbody\n"
    msg = parse_message(data, origin=origin("odd-id"))
    assert msg.message_id == "<@example.org>"
    assert any("message-id" in d for d in msg.defects)
    assert msg.text == "body"
