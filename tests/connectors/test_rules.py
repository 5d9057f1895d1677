"""Mail → task rules: built-in defaults over the mail corpus, TOML rules, due-date extraction."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pydantic
import pytest

from va_engine.connectors.base import FLAG_ANSWERED, FLAG_FLAGGED, MailMessage, Origin
from va_engine.connectors.mail import parse_message
from va_engine.connectors.rules import (
    DEFAULT_RULES,
    MailRule,
    apply_rules,
    extract_due_date,
    rules_with_defaults,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "mail"
AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 20, 12, tzinfo=AMS)


def load(name: str, flags: tuple[str, ...] = ()) -> MailMessage:
    return parse_message(
        (DATA / name).read_bytes(),
        origin=Origin(account="anna", collection="INBOX", item=name),
        flags=flags,
        tz=AMS,
    )


def test_invoice_rule_uses_the_due_date_in_the_text() -> None:
    outcome = apply_rules(load("invoice_pdf.eml"), DEFAULT_RULES, client_id="anna", now=NOW, tz=AMS)
    assert outcome.matched_rule_names == ("invoice",)
    (task,) = outcome.tasks
    assert task.title == "Pay: Factuur 2026-0042"
    assert task.kind == "finance" and task.client_id == "anna"
    assert task.deadline == datetime(2026, 12, 12, 17, tzinfo=AMS)
    assert task.source == "anna/INBOX"
    assert task.external_id == "<m5@energie.example.nl>#invoice"


def test_invoice_without_due_date_falls_back_to_deadline_days() -> None:
    msg = load("invoice_pdf.eml").model_copy(update={"text": "Zie bijlage."})
    (task,) = apply_rules(msg, DEFAULT_RULES, client_id="anna", now=NOW, tz=AMS).tasks
    assert msg.date is not None
    assert task.deadline == msg.date + timedelta(days=14)


def test_meeting_request_gives_tentative_busy_and_confirm_task() -> None:
    msg = load("meeting_request.eml")
    outcome = apply_rules(msg, DEFAULT_RULES, client_id="anna", now=NOW, tz=AMS)
    assert outcome.matched_rule_names == ("meeting-request",)
    (busy,) = outcome.busy
    assert (busy.start, busy.end) == (msg.invitations[0].start, msg.invitations[0].end)
    assert busy.client_id == "anna" and busy.title.startswith("(tentative)")
    (task,) = outcome.tasks
    assert task.title == "Confirm appointment: Kwartaaloverleg"
    assert task.kind == "appointments"
    assert task.deadline is not None and task.deadline <= msg.invitations[0].start


def test_cancelled_invitation_blocks_nothing() -> None:
    msg = load("meeting_request.eml").model_copy(update={"invitation_method": "CANCEL"})
    outcome = apply_rules(msg, DEFAULT_RULES, client_id="anna", now=NOW)
    assert outcome.busy == () and outcome.tasks == ()


def personal(flags: tuple[str, ...] = ()) -> MailMessage:
    """The RFC 2047 mail, but sent to Anna directly rather than through a list."""
    return load("plain_rfc2047.eml", flags=flags).model_copy(update={"list_id": None})


def test_flagged_and_awaiting_reply() -> None:
    flagged = apply_rules(personal((FLAG_FLAGGED,)), DEFAULT_RULES, client_id="a", now=NOW)
    # Flagged, and a question older than two days without an answer.
    assert flagged.matched_rule_names == ("flagged", "awaiting-reply")
    assert [t.title for t in flagged.tasks] == [
        "Follow up: Vergadering over de begroting — dinsdag",
        "Reply to Renée de Vries: Vergadering over de begroting — dinsdag",
    ]
    assert len({t.id for t in flagged.tasks}) == 2


@pytest.mark.parametrize(
    ("message", "now"),
    [
        (lambda: personal((FLAG_ANSWERED,)), NOW),  # already answered
        (lambda: load("plain_rfc2047.eml"), NOW),  # a list mail waits for nobody
        (personal, datetime(2026, 11, 10, 12, tzinfo=AMS)),  # not two days old yet
        (lambda: load("missing_date.eml"), NOW),  # age unknown
    ],
    ids=["answered", "list", "too-new", "no-date"],
)
def test_not_awaiting_reply(message: Callable[[], MailMessage], now: datetime) -> None:
    assert apply_rules(message(), DEFAULT_RULES, client_id="a", now=now).matched_rule_names == ()


def test_same_message_gives_same_task_ids() -> None:
    a = apply_rules(load("invoice_pdf.eml"), DEFAULT_RULES, client_id="anna", now=NOW)
    b = apply_rules(
        load("invoice_pdf.eml"), DEFAULT_RULES, client_id="anna", now=NOW + timedelta(days=1)
    )
    assert [t.id for t in a.tasks] == [t.id for t in b.tasks]
    other = load("invoice_pdf.eml").model_copy(update={"message_id": "<other@x>"})
    assert apply_rules(other, DEFAULT_RULES, client_id="anna", now=NOW).tasks[0].id != a.tasks[0].id


TOML = """
[[rules]]
name = "energy invoices"
match.sender = 'energie\\.example\\.nl'
match.attachment_type = "application/pdf"
task.title = "Betaal {sender_name}: {subject} {unknown}"
task.kind = "finance"
task.duration_minutes = 5
task.use_due_date = true
task.weight = 5
file_to = "Administratie/Facturen"
flag = '\\Flagged'
stop = true
"""


def test_rules_from_toml_override_defaults_and_file_the_mail() -> None:
    own = [MailRule.model_validate(r) for r in tomllib.loads(TOML)["rules"]]
    rules = rules_with_defaults(own)
    assert [r.name for r in rules][:2] == ["energy invoices", "meeting-request"]
    outcome = apply_rules(load("invoice_pdf.eml"), rules, client_id="anna", now=NOW, tz=AMS)
    assert outcome.matched_rule_names == ("energy invoices",)  # stop = true
    (task,) = outcome.tasks
    # Unknown fields stay literal: titles never reach into objects.
    assert task.title == "Betaal Facturen: Factuur 2026-0042 {unknown}"
    assert (task.duration_minutes, task.weight) == (5, 5)
    assert [(a.kind, a.target) for a in outcome.actions] == [
        ("flag", "\\Flagged"),
        ("move", "Administratie/Facturen"),
    ]
    assert all(a.message_id == "invoice_pdf.eml" and a.folder == "INBOX" for a in outcome.actions)


def test_overriding_a_default_by_name_and_disabling() -> None:
    off = MailRule(name="invoice", enabled=False)
    rules = rules_with_defaults([off])
    assert [r.name for r in rules].count("invoice") == 1
    outcome = apply_rules(load("invoice_pdf.eml"), rules, client_id="anna", now=NOW)
    assert "invoice" not in outcome.matched_rule_names


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "x", "match": {"subject": "(unclosed"}},
        {"name": "x", "match": {"subjekt": "typo"}},
        {"name": "", "task": {}},
        {"name": "x", "task": {"duration_minutes": 0}},
    ],
)
def test_invalid_rules_are_rejected_with_a_reason(bad: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        MailRule.model_validate(bad)


def test_attachment_and_invitation_conditions() -> None:
    pdf = MailRule.model_validate(
        {"name": "pdf", "match": {"attachment_name": r"\.pdf$"}, "task": {}}
    )
    invite = MailRule.model_validate(
        {"name": "inv", "match": {"has_invitation": False}, "task": {}}
    )
    assert apply_rules(
        load("invoice_pdf.eml"), [pdf, invite], client_id=None, now=NOW
    ).matched_rule_names == (
        "pdf",
        "inv",
    )
    assert (
        apply_rules(
            load("meeting_request.eml"), [pdf, invite], client_id=None, now=NOW
        ).matched_rule_names
        == ()
    )


RECEIVED = date(2026, 11, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Het bedrag is te betalen vóór 12-12-2026 op rekening", date(2026, 12, 12)),
        ("te betalen voor 1-2-2027", date(2027, 2, 1)),
        ("Please pay. Due 2026-12-12.", date(2026, 12, 12)),
        ("Payment due by December 12, 2026", date(2026, 12, 12)),
        ("Vervaldatum: 5 januari 2027", date(2027, 1, 5)),
        ("uiterlijk 3 jan. 2027 overmaken", date(2027, 1, 3)),
        ("Zahlbar bis 12.12.2026 ohne Abzug", date(2026, 12, 12)),
        ("due date: 12/31/2026", date(2026, 12, 31)),  # only month-first is a valid date
        ("Factuurdatum 12-11-2026. Graag betalen binnen 14 dagen.", date(2026, 11, 26)),
        ("Payable within 30 days of receipt", date(2026, 12, 12)),
        ("Factuurdatum 12-11-2026, factuurnummer 2026-0042", None),
        ("te betalen vóór 31-02-2026", None),
    ],
)
def test_extract_due_date(text: str, expected: date | None) -> None:
    assert extract_due_date(text, received=RECEIVED) == expected
