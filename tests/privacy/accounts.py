"""Real-server client configs for the isolation and secret-scan tests (Dovecot + Radicale)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from tests.servers import Account, DovecotServer, RadicaleServer


@dataclass(frozen=True)
class ServerClient:
    """One client's own accounts on the shared test servers."""

    client_id: str
    mail: Account
    cal: Account
    #: words that appear only in this client's upstream data
    marker: str


def make_server_client(
    client_id: str, dovecot: DovecotServer, radicale: RadicaleServer, *, now: datetime
) -> ServerClient:
    mail = dovecot.new_user("mail")
    cal = radicale.new_user("cal")
    marker = f"{client_id.upper()}-ONLY-{mail.username[-6:]}"
    messages = []
    for n in range(2):
        message = EmailMessage()
        message["From"] = f"Leverancier {n} <billing{n}@supplier.example>"
        message["To"] = f"{client_id}@client.example"
        message["Subject"] = f"Factuur {marker} {n}"
        message["Date"] = format_datetime(now - timedelta(days=1))
        message["Message-ID"] = f"<{marker}-{n}@supplier.example>"
        message.set_content(f"Bedrag 120 euro, {marker}.")
        messages.append(message.as_bytes())
    dovecot.write_messages(mail.username, messages)
    collection = radicale.calendar_dir(cal.username, "tasks", components="VEVENT,VTODO")
    due = (now + timedelta(days=3)).strftime("%Y%m%dT%H%M%SZ")
    (collection / f"{marker}.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VTODO\r\n"
        f"UID:{marker}@tests\r\nDTSTAMP:20261101T080000Z\r\nDUE:{due}\r\n"
        f"SUMMARY:Todo {marker}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
    return ServerClient(client_id, mail, cal, marker)


def client_file(
    who: ServerClient,
    *,
    mail_user: str | None = None,
    cal_url: str | None = None,
    secret: str = "password_env",
) -> str:
    """The client's TOML: its own accounts, or (``mail_user``/``cal_url``) someone else's."""
    env = who.client_id.upper().replace("-", "_")
    if secret == "password_env":
        mail_secret = f'password_env = "{env}_MAIL_PW"'
        cal_secret = f'password_env = "{env}_CAL_PW"'
    else:  # password_command, the way `pass show` would print it
        mail_secret = f'password_command = ["printenv", "{env}_MAIL_PW"]'
        cal_secret = f'password_command = ["printenv", "{env}_CAL_PW"]'
    return "\n".join(
        [
            f'id = "{who.client_id}"',
            f'name = "Client {who.client_id}"',
            f'email = "{who.client_id}@client.example"',
            "",
            "[[calendars]]",
            'name = "tasks"',
            'type = "caldav"',
            f'url = "{cal_url or who.cal.url}"',
            f'username = "{who.cal.username}"',
            'role = "todo"',
            cal_secret,
            "",
            "[[mailboxes]]",
            'name = "mail"',
            'type = "imap"',
            f'host = "{who.mail.host}"',
            f"port = {who.mail.port}",
            'security = "none"',
            f'username = "{mail_user or who.mail.username}"',
            mail_secret,
            "",
        ]
    )


def main_file(root: Path, database_url: str) -> str:
    return (
        'timezone = "Europe/Amsterdam"\n'
        f'data_dir = "{root / "var"}"\n'
        f'database_url = "{database_url}"\n\n'
        '[[assistants]]\nid = "sanne"\nname = "Sanne"\nemail = "sanne@va.example"\n'
    )


def tree_snapshot(top: Path) -> dict[str, bytes]:
    """Every file under ``top`` (names carry IMAP flags): shows nothing was marked or written."""
    return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}
