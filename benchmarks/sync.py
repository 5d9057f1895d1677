"""Sync benchmark against real servers: Dovecot (IMAP) and Radicale (CalDAV).

Generates N messages and M events, loads them straight into the servers'
storage (maildir files, Radicale collection files: thousands of APPENDs/PUTs
would measure the loader, not the sync), then measures three syncs through
the same connector API the daemon uses (``ImapMailbox.fetch``,
``CalDavCalendar.sync``, parsing included):

* ``full``: first sync, no state;
* ``nochange``: incremental sync right after, nothing changed upstream;
* ``one_percent``: incremental sync after 1 % of messages and events changed
  upstream (flags, expunges, new mail; edited, deleted, added events).

Round trips are IMAP commands plus HTTP requests, counted by the connectors;
the ``nochange`` target is ≤ 1 per folder/collection after login.

    python benchmarks/sync.py [--messages N] [--events N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import DovecotServer, RadicaleServer  # noqa: E402
from va_engine.connectors.caldav import CalDavAccount, CalDavCalendar  # noqa: E402
from va_engine.connectors.imap import ImapMailbox  # noqa: E402

TZ = ZoneInfo("Europe/Amsterdam")
FOLDERS = ("INBOX", "Archive")
RANGE = (datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))


@dataclass
class Row:
    scenario: str
    seconds: float
    round_trips: int
    detail: str


def make_message(rng: random.Random, n: int) -> bytes:
    msg = EmailMessage()
    sender = rng.choice(["bank", "tax-office", "school", "dentist", "insurer", "client"])
    msg["From"] = f"{sender.title()} <{sender}@example.org>"
    msg["To"] = "owner@example.org"
    msg["Subject"] = (
        rng.choice(["Invoice", "Reminder", "Appointment", "Newsletter", "Re: plan"]) + f" #{n}"
    )
    msg["Date"] = format_datetime(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=37 * n))
    msg["Message-ID"] = f"<bench-{n}@example.org>"
    msg.set_content(
        f"Hello,\n\nthis is message {n}.\n" + "Lorem ipsum dolor sit amet. " * rng.randint(2, 20)
    )
    return msg.as_bytes()


def make_event(rng: random.Random, n: int, summary: str | None = None) -> str:
    start = datetime(2026, 1, 5, 8, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 24 * 360))
    end = start + timedelta(minutes=rng.choice([15, 30, 45, 60, 90]))
    rrule = "RRULE:FREQ=WEEKLY;COUNT=10\r\n" if n % 10 == 0 else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//va-engine bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:bench-{n}@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n{rrule}"
        f"SUMMARY:{summary or f'Appointment {n}'}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def sync_all(
    box: ImapMailbox, calendar: CalDavCalendar, states: dict[str, str | None]
) -> tuple[float, int, int, str]:
    """One sync of every folder and the collection: (seconds, round trips, items, split)."""
    trips = box.round_trips + calendar.account.round_trips
    items = 0
    started = time.perf_counter()
    for folder in FOLDERS:
        batch = box.fetch(folder, states.get(folder))
        states[folder] = batch.state
        items += len(batch.messages) + len(batch.removed_ids) + len(batch.flag_changes)
    mail_done = time.perf_counter()
    changes = calendar.sync(states.get("calendar"), start=RANGE[0], end=RANGE[1], tz=TZ)
    states["calendar"] = changes.state
    items += len(changes.changed_items) + len(changes.removed_items)
    ended = time.perf_counter()
    split = f"IMAP {mail_done - started:.2f} s, CalDAV {ended - mail_done:.2f} s"
    return ended - started, box.round_trips + calendar.account.round_trips - trips, items, split


def change_one_percent(
    rng: random.Random,
    dovecot: DovecotServer,
    user: str,
    cal_url: str,
    radicale: RadicaleServer,
    messages: int,
    events: int,
) -> str:
    """Upstream changes by 'another client': 1 % of messages and events, mixed kinds."""
    n_mail = max(4, messages // 100)
    other = ImapMailbox(dovecot.host, dovecot.port, user, SecretStr(dovecot.users[user]), ssl=False)
    with other:
        other.call(lambda: other.client.select_folder("INBOX"))
        uids = sorted(other.call(lambda: other.client.search(["ALL"])))
        picked = rng.sample(uids, n_mail // 2 + n_mail // 4)
        flag, expunge = picked[: n_mail // 2], picked[n_mail // 2 :]
        other.set_flags("INBOX", flag, ["\\Flagged"])
        other.call(lambda: other.client.delete_messages(expunge))
        other.call(lambda: other.client.expunge())
        new_mail = [make_message(rng, messages + i) for i in range(n_mail - len(picked))]
        other.call(lambda: [other.client.append("INBOX", raw) for raw in new_mail])
    n_events = max(4, events // 100)
    auth = (user, radicale.users[user])
    with requests.Session() as http:
        for i in rng.sample(range(events), n_events // 2):
            answer = http.put(
                f"{cal_url}bench-{i}.ics", data=make_event(rng, i, "Edited").encode(), auth=auth
            )
            assert answer.status_code in (201, 204), answer.status_code
        for i in rng.sample(range(events), n_events // 4):
            http.delete(f"{cal_url}bench-{i}.ics", auth=auth)
        for i in range(n_events - n_events // 2 - n_events // 4):
            http.put(
                f"{cal_url}bench-new-{i}.ics", data=make_event(rng, events + i).encode(), auth=auth
            )
    return f"{n_mail} messages, {n_events} events changed"


def run(messages: int, events: int, seed: int = 1) -> list[Row]:
    rng = random.Random(seed)
    dovecot = DovecotServer.create()
    radicale = RadicaleServer.create()
    try:
        user = "alice"
        inbox_count = messages * 4 // 5
        dovecot.write_messages(user, [make_message(rng, n) for n in range(inbox_count)])
        dovecot.write_messages(
            user, [make_message(rng, n) for n in range(inbox_count, messages)], folder="Archive"
        )
        folder = radicale.calendar_dir(user, "work", components="VEVENT", displayname="Work")
        for n in range(events):
            (folder / f"bench-{n}.ics").write_text(make_event(rng, n), newline="")
        dovecot.start()
        radicale.start()

        box = ImapMailbox(
            dovecot.host, dovecot.port, user, SecretStr(dovecot.users[user]), ssl=False, timeout=120
        )
        account = CalDavAccount(radicale.url, user, SecretStr(radicale.users[user]), timeout=120)
        cal_url = f"{radicale.url}{user}/work/"
        calendar = CalDavCalendar(account, cal_url)
        states: dict[str, str | None] = {}
        rows: list[Row] = []

        seconds, trips, items, split = sync_all(box, calendar, states)
        rows.append(Row("full", seconds, trips, f"{items} items incl. login; {split}"))
        seconds, trips, items, _ = sync_all(box, calendar, states)
        rows.append(
            Row("nochange", seconds, trips, f"{items} items; {len(FOLDERS)} folders + 1 collection")
        )
        detail = change_one_percent(rng, dovecot, user, cal_url, radicale, messages, events)
        seconds, trips, items, split = sync_all(box, calendar, states)
        rows.append(Row("one_percent", seconds, trips, f"{items} items ({detail}); {split}"))
        box.close()
        account.close()
        return rows
    finally:
        dovecot.cleanup()
        radicale.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--json", type=Path, default=None, help="write rows {scenario, seconds, round_trips}"
    )
    args = parser.parse_args(argv)
    rows = run(args.messages, args.events, args.seed)
    full = rows[0].seconds
    table = Table(
        title=f"sync: {args.messages} messages, {args.events} events (Dovecot + Radicale, loopback)"
    )
    for column in ("scenario", "seconds", "round trips", "× faster than full", "detail"):
        table.add_column(column, justify="left" if column in ("scenario", "detail") else "right")
    for row in rows:
        speed = "1" if row.scenario == "full" else f"{full / row.seconds:.0f}"
        table.add_row(row.scenario, f"{row.seconds:.3f}", str(row.round_trips), speed, row.detail)
    Console(width=140).print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = [
            {"scenario": r.scenario, "seconds": round(r.seconds, 4), "round_trips": r.round_trips}
            for r in rows
        ]
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
