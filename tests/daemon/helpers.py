"""Build small real config directories (TOML, .ics, Maildir, invoices CSV) for daemon tests."""

from __future__ import annotations

import mailbox
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from va_engine.settings import load_config
from va_engine.store import Store
from va_engine.workflows.jobs import Runtime
from va_engine.workflows.options import load_daemon_options

AMS = ZoneInfo("Europe/Amsterdam")


def write_config(
    root: Path,
    *,
    database_url: str,
    clients: dict[str, str],
    daemon: str = "",
    language: str = "en",
) -> Path:
    """A config dir with one assistant (sanne), the given client files and ``[daemon]`` text."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "clients").mkdir(exist_ok=True)
    (root / "va-engine.toml").write_text(
        f'timezone = "Europe/Amsterdam"\n'
        f'language = "{language}"\n'
        f'data_dir = "{root / "var"}"\n'
        f'database_url = "{database_url}"\n\n'
        "[[assistants]]\n"
        'id = "sanne"\nname = "Sanne"\nemail = "sanne@va.example"\n\n'
        f"{daemon}\n"
    )
    for client_id, text in clients.items():
        (root / "clients" / f"{client_id}.toml").write_text(text)
    return root


def client_toml(
    client_id: str,
    *,
    reachability: str = 'weekdays = "08:00-10:00"',
    calendar: Path | None = None,
    maildir: Path | None = None,
    imap: dict[str, object] | None = None,
    email: str | None = None,
) -> str:
    """A client file; ``imap`` = {host, port, username, password_env} for a real IMAP account."""
    lines = [
        f'id = "{client_id}"',
        f'name = "Client {client_id}"',
        'language = "en"',
        f'email = "{email or client_id + "@client.example"}"',
        "",
        "[agreement]",
        'delegated_kinds = ["admin", "finance", "appointments", "mail"]',
        "hours_per_period = 10",
        'period = "month"',
        "",
        "[agreement.reachability]",
        reachability,
        "",
    ]
    if calendar is not None:
        lines += ["[[calendars]]", 'name = "agenda"', 'type = "ics"', f'path = "{calendar}"', ""]
    if maildir is not None:
        lines += ["[[mailboxes]]", 'name = "mail"', 'type = "maildir"', f'path = "{maildir}"', ""]
    if imap is not None:
        lines += [
            "[[mailboxes]]",
            'name = "mail"',
            'type = "imap"',
            f'host = "{imap["host"]}"',
            f"port = {imap['port']}",
            'security = "none"',
            f'username = "{imap["username"]}"',
            f'password_env = "{imap["password_env"]}"',
            "",
        ]
    return "\n".join(lines)


def make_maildir(path: Path) -> Path:
    box = mailbox.Maildir(path, create=True)
    box.add_folder("Drafts")
    box.add_folder("Sent")
    return path


def appointments_ics(path: Path, events: Sequence[tuple[str, datetime, str]]) -> Path:
    """An .ics with (uid, start, attendee) one-hour appointments organised by the client."""
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//va-engine tests//EN"]
    for uid, start, attendee in events:
        utc = start.astimezone(ZoneInfo("UTC"))
        end = utc + timedelta(hours=1)
        body += [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{utc:%Y%m%dT%H%M%SZ}",
            f"DTEND:{end:%Y%m%dT%H%M%SZ}",
            f"SUMMARY:Appointment {uid}",
            f"ATTENDEE:mailto:{attendee}",
            "END:VEVENT",
        ]
    body.append("END:VCALENDAR")
    path.write_text("\r\n".join(body) + "\r\n")
    return path


def invoices_csv(path: Path, rows: Sequence[tuple[str, str, str, bool]]) -> Path:
    """(number, email, due ISO date, paid) rows."""
    lines = ["number,customer,email,amount,currency,due,paid"]
    lines += [
        f"{n},Customer {n},{email},100.00,EUR,{due},{'yes' if paid else 'no'}"
        for n, email, due, paid in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def runtime(config_dir: Path) -> Runtime:
    config = load_config(config_dir)
    return Runtime(
        config=config,
        options=load_daemon_options(config),
        store=Store(config.engine.resolved_database_url()),
    )


def drafts(maildir: Path) -> list[mailbox.MaildirMessage]:
    box = mailbox.Maildir(maildir, create=False).get_folder("Drafts")
    return [box.get_message(key) for key in list(box.keys())]
