"""The outbox: every message a workflow produces is queued here first, then delivered once.

Why a table in the store and not "just send": a workflow may crash between
rendering and delivering, and the daemon may be killed at any instant. The
row is written (unique per client and *key*, e.g. ``reminder:2026-041:L1``)
before anything leaves the machine, and carries the full rendered message
with a Message-ID derived from that key, so a retry delivers the very same
bytes. Each channel then makes delivery safe to repeat:

``draft``
    IMAP APPEND is idempotent per Message-ID (the connector searches first);
    a local Maildir draft gets a file name derived from the key.
``file``
    ``<outbox_dir>/<scope>/<key hash>.eml``, written atomically.
``send``
    SMTP cannot be asked "did you get this?", so sending is *at most once*:
    the row is marked ``sending`` (committed) after the server accepted the
    envelope and before DATA. A row found in ``sending`` after a crash is not
    sent again; it becomes ``uncertain`` and the assistant gets one alert to
    check. After a successful send the row is ``sent``, and a copy is filed in
    the Sent folder (idempotent) before it becomes ``done``.

Statuses: ``pending`` → (``sending`` → ``sent`` →) ``done``; or ``expired``
(its moment passed before a reachability window opened) or ``uncertain``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from va_engine.connectors.imap import ImapMailbox
from va_engine.connectors.local import MaildirMailbox
from va_engine.errors import ConfigError, ConnectorError, UnreachableError, redact
from va_engine.store import ClientStore, OutboxRow
from va_engine.workflows.failpoints import failpoint
from va_engine.workflows.options import SmtpOptions

__all__ = [
    "Audience",
    "Channel",
    "DeliveryReport",
    "Outgoing",
    "Sinks",
    "deliver",
    "deliver_due",
    "make_message_id",
    "queue",
    "render",
]

log = logging.getLogger(__name__)

Channel = Literal["draft", "send", "file"]
Audience = Literal["client", "third_party", "assistant"]

_BUILTIN = Path(__file__).resolve().parents[1] / "templates" / "mail"
_DUTCH_DAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
_DUTCH_MONTHS = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


def _dutch_date(value: datetime) -> str:
    return f"{_DUTCH_DAYS[value.weekday()]} {value.day} {_DUTCH_MONTHS[value.month - 1]}"


def render(
    name: str, language: str, context: dict[str, Any], *, override: Path | None = None
) -> tuple[str, str]:
    """Render template ``name`` to (subject, body): the first line is ``Subject: …``.

    A client's ``templates`` directory wins over the built-in ones; a missing
    language falls back to English.
    """
    lang = language if (_BUILTIN / language).is_dir() else "en"
    paths = [str(p) for p in (override, _BUILTIN / lang) if p is not None]
    env = Environment(
        loader=FileSystemLoader(paths),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # plain-text mail, never HTML
    )
    env.globals["dutch_date"] = _dutch_date
    try:
        text = env.get_template(f"{name}.j2").render(**context)
    except TemplateNotFound:
        raise ConfigError(f"no mail template {name!r} for language {lang!r}") from None
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ConfigError(f"mail template {name!r} must start with a 'Subject:' line")
    return first.removeprefix("Subject:").strip(), rest.lstrip("\n")


def make_message_id(client_id: str, key: str) -> str:
    """A Message-ID that is the same every time the same item is rendered."""
    digest = hashlib.sha256(f"{client_id}\x1f{key}".encode()).hexdigest()[:32]
    return f"<va-{digest}@va-engine.invalid>"


@dataclass(frozen=True)
class Outgoing:
    """A message a workflow wants delivered; ``key`` makes it happen once."""

    key: str
    audience: Audience
    channel: Channel
    sender: str
    to: str
    subject: str
    body: str
    release_at: datetime
    expires_at: datetime | None = None


def queue(
    store: ClientStore, item: Outgoing, *, run_key: str, workflow: str, now: datetime
) -> tuple[OutboxRow, bool]:
    """Put ``item`` in the outbox unless its key is there already; (row, created)."""
    message_id = make_message_id(store.client_id, item.key)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = item.sender
    if item.to:
        message["To"] = item.to
    message["Subject"] = item.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["X-VA-Engine-Key"] = item.key
    message.set_content(item.body)
    return store.enqueue_message(
        key=item.key,
        run_key=run_key,
        workflow=workflow,
        channel=item.channel,
        audience=item.audience,
        recipient=item.to,
        subject=item.subject,
        message_id=message_id,
        raw=message.as_string(),
        release_at=item.release_at,
        expires_at=item.expires_at,
        now=now,
    )


class MailSinkLike(Protocol):
    def save_draft(self, message: EmailMessage, folder: str = "Drafts") -> str: ...


@dataclass
class Sinks:
    """Where one client's messages can go; opened lazily by the job context."""

    outbox_dir: Path
    scope: str
    mailbox: MailSinkLike | None = None
    drafts_folder: str = "Drafts"
    sent_folder: str = "Sent"
    smtp: SmtpOptions | None = None
    #: called with an uncertain row so the assistant hears about it once
    on_uncertain: Any = None


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def deliver_due(store: ClientStore, sinks: Sinks, *, now: datetime) -> DeliveryReport:
    """Deliver every released message of this client; one failure does not stop the rest."""
    report = DeliveryReport()
    for row in store.outbox(status=("pending", "sending", "sent")):
        if row.status == "pending" and _aware(row.release_at) > now:
            continue
        try:
            deliver(store, sinks, row, now=now, report=report)
        except ConnectorError as exc:
            store.set_message_status(
                row.id, row.status, now=now, expect=row.status, error=exc.message
            )
            report.errors.append(f"{row.key}: {exc.message}")
        except OSError as exc:
            message = redact(f"{type(exc).__name__}: {exc}")
            store.set_message_status(row.id, row.status, now=now, expect=row.status, error=message)
            report.errors.append(f"{row.key}: {message}")
    return report


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes; PostgreSQL aware ones.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def deliver(
    store: ClientStore,
    sinks: Sinks,
    row: OutboxRow,
    *,
    now: datetime,
    report: DeliveryReport | None = None,
) -> str:
    """Take ``row`` one step to ``done`` (or ``expired``/``uncertain``); returns the new status."""
    report = report or DeliveryReport()
    if row.status == "pending" and row.expires_at is not None and now >= _aware(row.expires_at):
        store.set_message_status(row.id, "expired", now=now, expect="pending")
        report.expired.append(row.key)
        return "expired"
    raw = row.raw.encode()
    if row.channel == "file" or (row.channel == "draft" and sinks.mailbox is None):
        path = _write_file(sinks.outbox_dir / sinks.scope, row, raw)
        failpoint("outbox.after_file")
        store.set_message_status(row.id, "done", now=now, location=str(path))
        report.delivered.append(row.key)
        return "done"
    if row.channel == "draft":
        assert sinks.mailbox is not None
        location = _save_draft(sinks, row, raw)
        failpoint("outbox.after_draft")
        store.set_message_status(row.id, "done", now=now, location=location)
        report.delivered.append(row.key)
        return "done"
    # channel "send"
    if row.status == "sending":
        store.set_message_status(row.id, "uncertain", now=now, expect="sending")
        report.uncertain.append(row.key)
        if sinks.on_uncertain is not None:
            sinks.on_uncertain(row)
        return "uncertain"
    if row.status == "pending":
        _smtp_send(store, sinks, row, raw, now=now)
        failpoint("outbox.after_sent")
    if sinks.mailbox is not None:
        _file_sent_copy(sinks, raw)
    store.set_message_status(row.id, "done", now=now, expect="sent")
    report.delivered.append(row.key)
    return "done"


def _write_file(directory: Path, row: OutboxRow, raw: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(row.key.encode()).hexdigest()[:24] + ".eml"
    target = directory / name
    if target.exists():
        return target
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _save_draft(sinks: Sinks, row: OutboxRow, raw: bytes) -> str:
    mailbox = sinks.mailbox
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    if isinstance(mailbox, MaildirMailbox):
        # Maildir has no search: a file name derived from the key makes a repeat a no-op.
        folder = mailbox.path / f".{sinks.drafts_folder}"
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        name = "va-" + hashlib.sha256(row.key.encode()).hexdigest()[:24]
        target = folder / "cur" / f"{name}:2,DS"
        if not target.exists():
            tmp = folder / "tmp" / name
            tmp.write_bytes(raw)
            tmp.replace(target)
        return str(target)
    assert mailbox is not None
    return mailbox.save_draft(message, sinks.drafts_folder)


def _smtp_send(
    store: ClientStore, sinks: Sinks, row: OutboxRow, raw: bytes, *, now: datetime
) -> None:
    options = sinks.smtp
    if options is None:
        raise ConfigError(
            f"workflow {row.workflow!r} has send = true but no [daemon.smtp] is configured",
            hint="add a [daemon.smtp] table, or set send = false to create drafts",
        )
    password = options.resolve_password(options.username)
    secrets = (password.get_secret_value(),) if password else ()
    try:
        if options.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                options.host, options.port, timeout=options.timeout_s
            )
        else:
            smtp = smtplib.SMTP(options.host, options.port, timeout=options.timeout_s)
        with smtp:
            smtp.ehlo()
            if options.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if password is not None and options.username:
                smtp.login(options.username, password.get_secret_value())
            sender = _address(options.sender)
            code, answer = smtp.mail(sender)
            if code != 250:
                raise ConnectorError(f"SMTP server refused sender {sender}: {code}")
            code, answer = smtp.rcpt(_address(row.recipient))
            if code not in (250, 251):
                raise ConnectorError(
                    f"SMTP server refused recipient {row.recipient}: {code} {answer!r}"
                )
            # From here on we cannot know whether the server got it: commit that.
            if not store.set_message_status(row.id, "sending", now=now, expect="pending"):
                smtp.rset()
                raise ConnectorError(f"message {row.key!r} is already being sent elsewhere")
            failpoint("outbox.before_data")
            code, answer = smtp.data(raw)
            if code != 250:
                store.set_message_status(row.id, "pending", now=now, expect="sending")
                raise ConnectorError(f"SMTP server refused the message: {code} {answer!r}")
    except smtplib.SMTPException as exc:
        # Before DATA the row is still "pending" and is simply tried again later;
        # during DATA it says "sending", and the next delivery flags it uncertain.
        raise UnreachableError(redact(f"SMTP {options.host}: {exc}", secrets)) from None
    store.set_message_status(row.id, "sent", now=now, expect="sending")


def _file_sent_copy(sinks: Sinks, raw: bytes) -> None:
    mailbox = sinks.mailbox
    if isinstance(mailbox, ImapMailbox):
        uid = mailbox.append_draft(raw, folder=sinks.sent_folder)
        if uid is not None:
            mailbox.set_flags(sinks.sent_folder, [uid], ["\\Draft"], add=False)
            mailbox.set_flags(sinks.sent_folder, [uid], ["\\Seen"], add=True)
    elif isinstance(mailbox, MaildirMailbox):
        folder = mailbox.path / f".{sinks.sent_folder}"
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        name = "va-" + hashlib.sha256(raw).hexdigest()[:24]
        target = folder / "cur" / f"{name}:2,S"
        if not target.exists():
            tmp = folder / "tmp" / name
            tmp.write_bytes(raw)
            tmp.replace(target)


def _address(text: str) -> str:
    from email.utils import parseaddr

    return parseaddr(text)[1] or text
