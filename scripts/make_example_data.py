"""Regenerate the example calendars and mailboxes under va_engine/examples/config/data/.

The files are committed; this script documents how they were made and makes
them reproducible. Dates fall in the reference week starting Monday
2026-01-05 (see va_engine/examples/__init__.py, which shifts them to the
current week when the demo starts). Run: python scripts/make_example_data.py
"""

from __future__ import annotations

import hashlib
import mailbox
import shutil
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Todo, vCalAddress, vText

TZ = ZoneInfo("Europe/Amsterdam")
MONDAY = date(2026, 1, 5)
ROOT = Path(__file__).resolve().parents[1] / "va_engine" / "examples" / "config" / "data"
STAMP = datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("UTC"))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time on day ``day`` of the reference week (0 = Monday; may be negative)."""
    return datetime.combine(MONDAY + timedelta(days=day), datetime.min.time(), tzinfo=TZ).replace(
        hour=hour, minute=minute
    )


def calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//va-engine//examples//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    return cal


def event(
    uid: str, summary: str, start: datetime | date, end: datetime | date, **props: object
) -> Event:
    ev = Event()
    ev.add("uid", f"{uid}@example.va-engine")
    ev.add("dtstamp", STAMP)
    ev.add("summary", summary)
    ev.add("dtstart", start)
    ev.add("dtend", end)
    for key, value in props.items():
        ev.add(key.replace("_", "-"), value)
    return ev


def todo(
    uid: str, summary: str, due: datetime, minutes: int, priority: int, **props: object
) -> Todo:
    item = Todo()
    item.add("uid", f"{uid}@example.va-engine")
    item.add("dtstamp", STAMP)
    item.add("summary", summary)
    item.add("due", due)
    item.add("duration", timedelta(minutes=minutes))
    item.add("priority", priority)
    item.add("status", "NEEDS-ACTION")
    for key, value in props.items():
        item.add(key.replace("_", "-"), value)
    return item


def write_calendar(path: Path, cal: Calendar) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cal.add_missing_timezones()
    path.write_bytes(cal.to_ical())


def mail(
    sender: str,
    to: str,
    subject: str,
    when: datetime,
    body: str,
    *,
    attachment: tuple[str, str, bytes] | None = None,
    invitation: Calendar | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    # Deterministic ids and boundaries keep the committed files stable between runs.
    digest = hashlib.sha256(f"{subject}|{when.isoformat()}".encode()).hexdigest()[:16]
    msg["Message-ID"] = f"<{digest}@example.va-engine>"
    msg.set_content(body)
    if attachment:
        name, ctype, data = attachment
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    if invitation is not None:
        msg.add_attachment(
            invitation.to_ical(),
            maintype="text",
            subtype="calendar",
            params={"method": "REQUEST"},
            filename="invite.ics",
        )
    if msg.is_multipart():
        msg.set_boundary(f"==va-engine-{digest}==")
    return msg


def write_maildir(path: Path, messages: list[tuple[EmailMessage, str]]) -> None:
    if path.exists():
        shutil.rmtree(path)
    box = mailbox.Maildir(path, create=True)
    box.add_folder("Drafts")
    box.add_folder("Archive")
    for index, (msg, flags) in enumerate(messages):
        entry = mailbox.MaildirMessage(msg)
        entry.set_subdir("cur")
        entry.set_flags(flags)
        key = f"{1767600000 + index}.example{index:03d}.va-engine"
        # Stable keys keep the committed tree identical between runs.
        with (path / "cur" / f"{key}:2,{flags}").open("wb") as handle:
            handle.write(entry.as_bytes())


PDF = b"%PDF-1.4\n% example invoice\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def assistant_data() -> None:
    cal = calendar("Sanne")
    cal.add_component(
        event(
            "sanne-weekplanning",
            "Weekplanning",
            at(0, 8, 30),
            at(0, 9, 0),
            rrule={"freq": "weekly", "byday": "MO"},
        )
    )
    cal.add_component(
        event(
            "sanne-borrel",
            "Netwerkborrel ondernemers",
            at(2, 15, 30),
            at(2, 17, 0),
            location="Utrecht Centraal",
        )
    )
    cal.add_component(event("sanne-tandarts", "Tandarts", at(3, 10, 0), at(3, 11, 0)))
    cal.add_component(
        event(
            "sanne-verjaardag",
            "Verjaardag mama",
            MONDAY + timedelta(days=4),
            MONDAY + timedelta(days=5),
            transp="TRANSPARENT",
        )
    )
    write_calendar(ROOT / "sanne" / "agenda.ics", cal)


def hoefslag_data() -> None:
    cal = calendar("Stal De Hoefslag")
    weekly = event(
        "hoefslag-behandelingen",
        "Behandelingen paarden",
        at(0, 10, 0),
        at(0, 16, 0),
        rrule={"freq": "weekly", "byday": ["MO", "TU", "TH"]},
        location="Stal De Hoefslag, Barneveld",
    )
    weekly.add("exdate", at(3, 10, 0))
    cal.add_component(weekly)
    moved = event(
        "hoefslag-behandelingen",
        "Behandelingen paarden (verplaatst)",
        at(1, 11, 0),
        at(1, 17, 0),
        location="Stal De Hoefslag, Barneveld",
    )
    moved.add("recurrence-id", at(1, 10, 0))
    cal.add_component(moved)
    meeting = event(
        "hoefslag-maandoverleg",
        "Maandoverleg met Sanne",
        at(1, 8, 30),
        at(1, 9, 30),
        location="Stal De Hoefslag, Barneveld",
    )
    organizer = vCalAddress("mailto:marieke@hoefslag.example")
    organizer.params["cn"] = vText("Marieke Jansen")
    meeting.add("organizer", organizer)
    meeting.add("attendee", "mailto:sanne@va.example")
    cal.add_component(meeting)
    cal.add_component(
        event(
            "hoefslag-concours",
            "Concours Ermelo",
            MONDAY + timedelta(days=5),
            MONDAY + timedelta(days=7),
        )
    )
    write_calendar(ROOT / "hoefslag" / "agenda.ics", cal)

    todos = calendar("Taken De Hoefslag")
    todos.add_component(
        todo(
            "hoefslag-btw",
            "BTW-aangifte Q4 voorbereiden",
            at(3, 17),
            120,
            1,
            categories=["finance"],
        )
    )
    todos.add_component(
        todo(
            "hoefslag-facturen",
            "Facturen december versturen",
            at(1, 12),
            60,
            2,
            categories=["finance"],
        )
    )
    follow = todo(
        "hoefslag-herinnering",
        "Betalingsherinneringen sturen",
        at(4, 12),
        30,
        3,
        categories=["finance"],
    )
    follow.add("related-to", "hoefslag-facturen@example.va-engine")
    todos.add_component(follow)
    alarm_todo = todo(
        "hoefslag-website", "Teksten nieuwe website nalezen", at(4, 17), 90, 5, categories=["admin"]
    )
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", timedelta(hours=-1))
    alarm_todo.add_component(alarm)
    todos.add_component(alarm_todo)
    write_calendar(ROOT / "hoefslag" / "todos.ics", todos)

    invite = calendar("invite")
    invite.add("method", "REQUEST")
    request = event(
        "hoefslag-invite-deweide",
        "Kennismaking Manege De Weide",
        at(2, 9, 0),
        at(2, 10, 0),
        location="Manege De Weide, Voorthuizen",
    )
    request.add("organizer", "mailto:info@deweide.example")
    request.add("attendee", "mailto:marieke@hoefslag.example")
    invite.add_component(request)
    to = "Marieke Jansen <marieke@hoefslag.example>"
    write_maildir(
        ROOT / "hoefslag" / "mail",
        [
            (
                mail(
                    "Paardenkliniek Veluwe <facturen@kliniek.example>",
                    to,
                    "Factuur 2026-0117",
                    at(-3, 10),
                    "Beste Marieke,\n\nIn de bijlage vindt u factuur 2026-0117 voor materiaal.\nTotaal: EUR 386,40. Gelieve te betalen binnen 14 dagen.\n\nMet vriendelijke groet,\nPaardenkliniek Veluwe\n",
                    attachment=("factuur-2026-0117.pdf", "application/pdf", PDF),
                ),
                "S",
            ),
            (
                mail(
                    "Manege De Weide <info@deweide.example>",
                    to,
                    "Uitnodiging: kennismaking",
                    at(-2, 14),
                    "Hallo Marieke, zullen we woensdag kennismaken? Zie de uitnodiging.\n",
                    invitation=invite,
                ),
                "",
            ),
            (
                mail(
                    "Webbureau Pixel <jan@pixel.example>",
                    to,
                    "Offerte nieuwe website",
                    at(-4, 9),
                    "Hoi Marieke,\n\nHierbij de offerte voor de nieuwe website. Kun je laten weten of je akkoord bent?\n\nJan\n",
                ),
                "FS",
            ),
            (
                mail(
                    "Familie de Graaf <degraaf@mail.example>",
                    to,
                    "Afspraak voor Bella?",
                    at(-1, 19),
                    "Goedenavond, kan Bella volgende week een behandeling krijgen? Liefst dinsdag.\n",
                ),
                "",
            ),
            (
                mail(
                    "KNHS <nieuws@knhs.example>",
                    to,
                    "Nieuwsbrief januari",
                    at(-5, 7),
                    "Het laatste nieuws uit de paardensport.\n",
                ),
                "S",
            ),
        ],
    )


def bakker_data() -> None:
    cal = calendar("Familie Bakker")
    cal.add_component(
        event(
            "bakker-fysio",
            "Fysiotherapie Henk",
            at(1, 10, 0),
            at(1, 11, 0),
            rrule={"freq": "weekly", "byday": "TU", "count": 10},
        )
    )
    cal.add_component(
        event(
            "bakker-verjaardag",
            "Verjaardag kleinzoon Daan",
            MONDAY + timedelta(days=3),
            MONDAY + timedelta(days=4),
            transp="TRANSPARENT",
        )
    )
    cal.add_component(
        event(
            "bakker-bezoek",
            "Sanne komt langs: post en papieren",
            at(2, 13, 30),
            at(2, 15, 0),
            location="Bakker, Amersfoort",
            attendee="mailto:sanne@va.example",
        )
    )
    write_calendar(ROOT / "bakker" / "agenda.ics", cal)
    to = "Henk en Ria Bakker <bakker@thuis.example>"
    write_maildir(
        ROOT / "bakker" / "mail",
        [
            (
                mail(
                    "Belastingdienst <noreply@belastingdienst.example>",
                    to,
                    "Uw voorlopige aanslag 2026",
                    at(-6, 8),
                    "Geachte heer Bakker,\n\nEr staat een nieuw bericht voor u klaar in Mijn Belastingdienst.\n",
                ),
                "S",
            ),
            (
                mail(
                    "Energie Direct <facturen@energie.example>",
                    to,
                    "Jaarafrekening energie",
                    at(-2, 11),
                    "Beste klant,\n\nUw jaarafrekening: u betaalt EUR 212,35 bij. Te betalen binnen 14 dagen na dagtekening.\n",
                    attachment=("jaarafrekening.pdf", "application/pdf", PDF),
                ),
                "",
            ),
            (
                mail(
                    "=?utf-8?q?Zorgverzekeraar_Gez=C3=B6nd?= <info@gezond.example>",
                    to,
                    "=?utf-8?q?Uw_premie_en_dekking_per_1_januari?=",
                    at(-8, 9),
                    "Uw nieuwe polis staat klaar. Controleer of de dekking nog bij u past.\n",
                ),
                "FS",
            ),
            (
                mail(
                    "Anja Bakker <anja@mail.example>",
                    to,
                    "Verjaardag Daan",
                    at(-1, 20),
                    "Pap, mam: vergeten jullie het cadeau voor Daan niet?\n",
                ),
                "",
            ),
        ],
    )


def lotte_data() -> None:
    cal = calendar("Bloemenwinkel Lotte")
    cal.add_component(
        event(
            "lotte-winkel",
            "Winkel open",
            at(1, 9, 30),
            at(1, 18, 0),
            rrule={"freq": "weekly", "byday": ["TU", "WE", "TH", "FR", "SA"]},
            transp="OPAQUE",
        )
    )
    cal.add_component(
        event(
            "lotte-coaching",
            "Coaching weekplanning met Sanne",
            at(3, 8, 0),
            at(3, 9, 0),
            location="Bloemenwinkel Lotte, Utrecht",
            attendee="mailto:sanne@va.example",
        )
    )
    cal.add_component(event("lotte-veiling", "Inkoop veiling Aalsmeer", at(0, 6, 0), at(0, 9, 0)))
    write_calendar(ROOT / "lotte" / "agenda.ics", cal)
    todos = calendar("Taken Lotte")
    todos.add_component(
        todo(
            "lotte-instagram",
            "Instagram-planning februari opzetten",
            at(4, 12),
            60,
            4,
            categories=["social_media"],
        )
    )
    todos.add_component(
        todo(
            "lotte-kasboek",
            "Kasboek december bijwerken (samen)",
            at(2, 17),
            45,
            2,
            categories=["finance"],
        )
    )
    write_calendar(ROOT / "lotte" / "todos.ics", todos)
    to = "Lotte Visser <lotte@bloemenlotte.example>"
    write_maildir(
        ROOT / "lotte" / "mail",
        [
            (
                mail(
                    "Kwekerij Groen <debiteuren@groen.example>",
                    to,
                    "Factuur 8812",
                    at(-4, 16),
                    "Factuur 8812: 50 bossen tulpen. Te betalen binnen 30 dagen.\n",
                    attachment=("factuur-8812.pdf", "application/pdf", PDF),
                ),
                "",
            ),
            (
                mail(
                    "Instagram <no-reply@instagram.example>",
                    to,
                    "Je hebt 12 nieuwe meldingen",
                    at(-1, 8),
                    "Bekijk je meldingen.\n",
                ),
                "S",
            ),
            (
                mail(
                    "Bank <service@bank.example>",
                    to,
                    "Uw rekeningoverzicht december",
                    at(-5, 6),
                    "Uw overzicht staat klaar.\n",
                ),
                "S",
            ),
            (
                mail(
                    "Gemeente Utrecht <ondernemers@utrecht.example>",
                    to,
                    "Vraag over terrasvergunning",
                    at(-2, 10),
                    "Beste ondernemer, wilt u ons laten weten of u de vergunning verlengt? Graag reactie.\n",
                ),
                "F",
            ),
        ],
    )


def main() -> None:
    assistant_data()
    hoefslag_data()
    bakker_data()
    lotte_data()
    print(f"wrote example data under {ROOT}")


if __name__ == "__main__":
    main()
