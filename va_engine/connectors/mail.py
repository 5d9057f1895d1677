"""Sans-I/O e-mail parsing: RFC 5322 bytes in, a :class:`MailMessage` out.

Everything goes through the standard ``email`` package with
``policy=email.policy.default`` (RFC 2047 headers, MIME); nothing here parses
RFC 5322 by hand. The parser never crashes on what real mailboxes hold:
unknown charsets fall back to UTF-8/Windows-1252 with a note in ``defects``,
a missing or garbled Date becomes ``None``. Only a message whose structure
cannot be recovered (no headers at all, a multipart without its boundary) is
quarantined, so rules never act on half a mail.

``text/calendar`` parts (meeting requests) are parsed by :mod:`.ics`.
"""

from __future__ import annotations

import email
import email.header
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email import errors as email_errors
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from va_engine.connectors.base import Attachment, CalendarEvent, MailMessage, Origin, Quarantined
from va_engine.connectors.ics import decode_text, parse_calendar

__all__ = ["MessageQuarantined", "parse_message", "try_parse_message"]

SNIPPET_CHARS = 300
TEXT_CHARS = 20_000
MAX_INVITATION_EVENTS = 50
_CALENDAR_TYPES = {"text/calendar", "application/ics"}
_FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
)


class MessageQuarantined(ValueError):
    """The bytes are not a usable message; ``quarantined`` says where and why."""

    def __init__(self, quarantined: Quarantined) -> None:
        super().__init__(str(quarantined))
        self.quarantined = quarantined


def try_parse_message(
    data: bytes,
    *,
    origin: Origin,
    id: str | None = None,
    folder: str | None = None,
    flags: Iterable[str] = (),
    tz: ZoneInfo | None = None,
) -> MailMessage | Quarantined:
    """:func:`parse_message`, returning the quarantine entry instead of raising."""
    try:
        return parse_message(data, origin=origin, id=id, folder=folder, flags=flags, tz=tz)
    except MessageQuarantined as exc:
        return exc.quarantined


def parse_message(
    data: bytes,
    *,
    origin: Origin,
    id: str | None = None,
    folder: str | None = None,
    flags: Iterable[str] = (),
    tz: ZoneInfo | None = None,
) -> MailMessage:
    """Parse one message. ``id``/``folder`` default to ``origin.item``/``origin.collection``.

    ``flags`` are IMAP system flags from the backend. ``tz`` reads floating
    times in invitations (default UTC). Raises :class:`MessageQuarantined`.
    """
    zone = tz or ZoneInfo("UTC")
    try:
        msg = email.message_from_bytes(data, policy=default_policy)
    except Exception as exc:  # the parser is lenient; this is a last resort
        raise MessageQuarantined(
            Quarantined(origin=origin, reason="unreadable message", detail=repr(exc)[:200])
        ) from None
    assert isinstance(msg, EmailMessage)  # guaranteed by policy.default
    defects: list[str] = []
    if not data.strip() or not list(msg.keys()):
        raise MessageQuarantined(Quarantined(origin=origin, reason="not an e-mail: no headers"))
    for part in msg.walk():
        for defect in part.defects:
            if isinstance(defect, _FATAL_DEFECTS):
                raise MessageQuarantined(
                    Quarantined(
                        origin=origin,
                        reason="broken MIME: multipart boundary not found",
                        detail=type(defect).__name__,
                    )
                )
    sender_name, sender = _first_address(msg, "from", defects)
    date = _date(msg, defects)
    text, attachments, calendars = _body(msg, defects)
    invitations: list[CalendarEvent] = []
    method: str | None = None
    for n, raw in enumerate(calendars):
        start = (date or datetime(2000, 1, 1, tzinfo=UTC)) - timedelta(days=30)
        end = start + timedelta(days=800) if date else datetime(2100, 1, 1, tzinfo=UTC)
        parsed = parse_calendar(
            raw,
            origin=origin.with_item(f"{origin.item or id or ''}#invite{n}"),
            start=start,
            end=end,
            tz=zone,
        )
        method = method or parsed.method
        invitations.extend(parsed.events[:MAX_INVITATION_EVENTS])
        defects.extend(f"invitation: {q.reason}" for q in parsed.quarantined)
    snippet = " ".join(text.split())[:SNIPPET_CHARS]
    return MailMessage(
        id=id if id is not None else origin.item,
        folder=folder if folder is not None else origin.collection,
        message_id=_header(msg, "message-id", defects) or None,
        subject=_header(msg, "subject", defects),
        sender=sender,
        sender_name=sender_name,
        to=_addresses(msg, "to", defects),
        cc=_addresses(msg, "cc", defects),
        date=date,
        flags=frozenset(flags),
        snippet=snippet,
        text=text[:TEXT_CHARS],
        attachments=tuple(attachments),
        invitations=tuple(invitations),
        invitation_method=method,
        in_reply_to=_header(msg, "in-reply-to", defects) or None,
        references=tuple(_header(msg, "references", defects).split()),
        list_id=_header(msg, "list-id", defects) or None,
        defects=tuple(dict.fromkeys(defects)),
        origin=origin,
    )


def _header(msg: Message, name: str, defects: list[str]) -> str:
    """A decoded header as one line; undecodable words are kept raw, never raised."""
    try:
        value = msg.get(name)
    except Exception as exc:  # header classes can raise on pathological input
        # Python's header parser can fail on junk (e.g. IndexError on a bare "@x>"):
        # fall back to the raw text rather than losing the message.
        defects.append(f"bad {name} header: {type(exc).__name__}")
        return " ".join(_raw_header(msg, name).split())
    if value is None:
        return ""
    text = str(value)
    if "\ufffd" in text:
        text = _repair_header(msg, name, defects) or text
    return " ".join(text.split())


def _raw_header(msg: Message, name: str) -> str:
    """The header's undecoded text, read without the (fallible) header classes."""
    return next((str(v) for k, v in msg.raw_items() if k.lower() == name), "")


def _repair_header(msg: Message, name: str, defects: list[str]) -> str | None:
    """Re-decode RFC 2047 words whose charset Python does not know, as UTF-8/Windows-1252."""
    raw = _raw_header(msg, name)
    if not raw:
        return None
    try:
        words = email.header.decode_header(raw)
    except email_errors.HeaderParseError:
        return None
    parts: list[str] = []
    for chunk, charset in words:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        try:
            parts.append(chunk.decode(charset or "ascii"))
        except (LookupError, UnicodeDecodeError):
            defects.append(f"unknown charset {charset!r} in {name} header")
            parts.append(decode_text(chunk)[0])
    return "".join(parts)


def _first_address(msg: Message, name: str, defects: list[str]) -> tuple[str, str | None]:
    try:
        header = msg.get(name)
        addresses = getattr(header, "addresses", ())
    except Exception as exc:
        defects.append(f"bad {name} header: {type(exc).__name__}")
        return "", None
    for address in addresses:
        if address.addr_spec and address.addr_spec != "<>":
            return str(address.display_name), str(address.addr_spec).lower()
    return "", None


def _addresses(msg: Message, name: str, defects: list[str]) -> tuple[str, ...]:
    try:
        result: list[str] = []
        for header in msg.get_all(name, failobj=[]):
            result.extend(str(a.addr_spec).lower() for a in getattr(header, "addresses", ()))
        return tuple(a for a in result if a)
    except Exception as exc:
        defects.append(f"bad {name} header: {type(exc).__name__}")
        return ()


def _date(msg: Message, defects: list[str]) -> datetime | None:
    try:
        header = msg.get("date")
    except Exception:
        header = None
    if header is None:
        defects.append("missing Date")
        return None
    value = getattr(header, "datetime", None)
    if not isinstance(value, datetime):
        defects.append("unreadable Date")
        return None
    # RFC 5322 "-0000" means "zone unknown": the instant is still UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _body(msg: EmailMessage, defects: list[str]) -> tuple[str, list[Attachment], list[bytes]]:
    """Plain text (HTML stripped if that is all there is), attachments, calendar parts."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    calendars: list[bytes] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = _filename(part, defects)
        disposition = part.get_content_disposition()
        if ctype in _CALENDAR_TYPES or (filename or "").lower().endswith(".ics"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                calendars.append(payload)
            if disposition == "attachment" or ctype != "text/calendar":
                attachments.append(_attachment(part, filename, ctype))
            continue
        if disposition == "attachment" or (filename and not ctype.startswith("text/")):
            attachments.append(_attachment(part, filename, ctype))
            continue
        if ctype == "text/plain":
            plain.append(_text(part, defects))
        elif ctype == "text/html":
            html.append(_strip_html(_text(part, defects)))
        elif not ctype.startswith("text/"):
            attachments.append(_attachment(part, filename, ctype))
    text = "\n".join(plain) if plain else "\n".join(html)
    return text.strip(), attachments, calendars


def _filename(part: Message, defects: list[str]) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        defects.append("bad attachment filename")
        return None
    return str(name) if name else None


def _attachment(part: Message, filename: str | None, ctype: str) -> Attachment:
    payload = part.get_payload(decode=True)
    size = len(payload) if isinstance(payload, bytes) else 0
    return Attachment(filename=filename, content_type=ctype, size=size)


def _text(part: EmailMessage, defects: list[str]) -> str:
    """The part's text; an unknown or lying charset falls back instead of failing."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, AssertionError, ValueError) as exc:
        defects.append(
            f"undecodable text part ({part.get_content_charset()}): {type(exc).__name__}"
        )
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text, _ = decode_text(payload)
    return text


class _TextExtractor(HTMLParser):
    """Visible text of an HTML part: enough for snippets and due-date rules."""

    _SKIP = frozenset({"script", "style", "head", "title"})
    _BREAK = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _strip_html(html: str) -> str:
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # HTMLParser is lenient; keep what we have
        pass
    text = "".join(extractor.parts)
    return re.sub(r"[ \t\r\f\v]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()
