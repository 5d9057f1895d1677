"""Mail → task rules: which messages become tasks, busy time, moves and flags.

Pure: a parsed :class:`~va_engine.connectors.base.MailMessage` and a list of
:class:`MailRule` in, a :class:`RuleOutcome` out. The daemon carries out the
mail actions through a ``MailSink``; the store upserts tasks by id, and ids
are derived from the message and rule, so re-applying rules never duplicates.

Rules are written per client in TOML, e.g.::

    [[rules]]
    name = "energy invoices"
    match.sender = 'energie\\.example\\.nl'
    match.attachment_type = "application/pdf"
    task.title = "Pay: {subject}"
    task.kind = "finance"
    task.duration_minutes = 10
    task.use_due_date = true      # "te betalen vóór 12-12-2026", "due 2026-12-12"
    task.deadline_days = 14       # when no due date is found
    file_to = "Administratie/Facturen"
    stop = true

Every condition in ``match`` must hold (AND); regexes are case-insensitive
searches. Rules run in order; ``stop = true`` ends the run for that message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from va_engine.connectors.base import (
    FLAG_ANSWERED,
    FLAG_FLAGGED,
    MailMessage,
    stable_task_id,
)
from va_engine.model import Busy, Task

__all__ = [
    "DEFAULT_RULES",
    "MailAction",
    "MailMatch",
    "MailRule",
    "RuleOutcome",
    "TaskAction",
    "apply_rules",
    "extract_due_date",
    "rules_with_defaults",
]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


class MailMatch(_Config):
    """Conditions on a message; all given ones must hold."""

    sender: str | None = None
    subject: str | None = None
    body: str | None = None
    folders: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    not_flags: tuple[str, ...] = ()
    attachment_type: str | None = None
    attachment_name: str | None = None
    has_invitation: bool | None = None
    has_list_id: bool | None = None
    min_age_days: int | None = Field(default=None, ge=0)

    _regexes = field_validator("sender", "subject", "body", "attachment_type", "attachment_name")(
        _check_regex
    )

    def matches(self, message: MailMessage, now: datetime) -> bool:
        def search(pattern: str | None, text: str) -> bool:
            return pattern is None or re.search(pattern, text, re.IGNORECASE) is not None

        sender = f"{message.sender_name} <{message.sender or ''}>"
        if not (search(self.sender, sender) and search(self.subject, message.subject)):
            return False
        if not search(self.body, message.text):
            return False
        if self.folders and message.folder.lower() not in {f.lower() for f in self.folders}:
            return False
        flags = {f.lower() for f in message.flags}
        if any(f.lower() not in flags for f in self.flags):
            return False
        if any(f.lower() in flags for f in self.not_flags):
            return False
        if self.attachment_type is not None and not any(
            re.search(self.attachment_type, a.content_type, re.IGNORECASE)
            for a in message.attachments
        ):
            return False
        if self.attachment_name is not None and not any(
            re.search(self.attachment_name, a.filename or "", re.IGNORECASE)
            for a in message.attachments
        ):
            return False
        if self.has_invitation is not None and self.has_invitation != bool(message.invitations):
            return False
        if self.has_list_id is not None and self.has_list_id != bool(message.list_id):
            return False
        return self.min_age_days is None or (
            message.date is not None and now - message.date >= timedelta(days=self.min_age_days)
        )


class TaskAction(_Config):
    """The task to create. ``title`` may use {subject}, {sender}, {sender_name}, {folder}."""

    title: str = "{subject}"
    kind: str = "mail"
    duration_minutes: PositiveInt = 15
    deadline_days: int | None = Field(default=None, ge=0)
    use_due_date: bool = False
    hard_deadline: bool = False
    weight: PositiveInt = 1


class MailRule(_Config):
    """One rule: when ``match`` holds, create ``task``/meeting items and file/flag the mail."""

    name: str = Field(min_length=1)
    enabled: bool = True
    match: MailMatch = MailMatch()
    task: TaskAction | None = None
    #: meeting requests: each invited event becomes tentative busy time plus a
    #: "confirm appointment" task due before it starts
    meeting: bool = False
    meeting_task_minutes: PositiveInt = 10
    file_to: str | None = None
    flag: str | None = None
    stop: bool = False


class MailAction(_Config):
    """Something to do to the mail itself, carried out later by a ``MailSink``."""

    kind: Literal["move", "flag"]
    message_id: str
    folder: str
    target: str
    rule: str


class RuleOutcome(_Config):
    tasks: tuple[Task, ...] = ()
    busy: tuple[Busy, ...] = ()
    actions: tuple[MailAction, ...] = ()
    matched_rule_names: tuple[str, ...] = ()


_INVOICE_SUBJECT = (
    r"\b(factuur|facturen|invoice|rechnung|betaalverzoek|aanmaning|herinnering|"
    r"payment reminder|nota)\b"
)

#: Built-in rules; a client's own rule with the same name replaces one.
DEFAULT_RULES: tuple[MailRule, ...] = (
    MailRule(
        name="meeting-request",
        match=MailMatch(has_invitation=True),
        meeting=True,
        stop=True,
    ),
    MailRule(
        name="invoice",
        match=MailMatch(subject=_INVOICE_SUBJECT),
        task=TaskAction(
            title="Pay: {subject}",
            kind="finance",
            duration_minutes=10,
            deadline_days=14,
            use_due_date=True,
            weight=3,
        ),
        stop=True,
    ),
    MailRule(
        name="flagged",
        match=MailMatch(flags=(FLAG_FLAGGED,)),
        task=TaskAction(
            title="Follow up: {subject}",
            kind="mail",
            duration_minutes=15,
            deadline_days=2,
            weight=2,
        ),
    ),
    MailRule(
        name="awaiting-reply",
        match=MailMatch(
            folders=("INBOX",),
            not_flags=(FLAG_ANSWERED,),
            has_list_id=False,
            body=r"\?(\s|$)",
            min_age_days=2,
        ),
        task=TaskAction(
            title="Reply to {sender_name}: {subject}",
            kind="mail",
            duration_minutes=10,
            deadline_days=3,
        ),
    ),
)


def rules_with_defaults(
    rules: Iterable[MailRule], *, defaults: Sequence[MailRule] = DEFAULT_RULES
) -> list[MailRule]:
    """The client's rules first, then each default the client did not override by name."""
    own = list(rules)
    names = {r.name for r in own}
    return own + [r for r in defaults if r.name not in names]


def apply_rules(
    message: MailMessage,
    rules: Sequence[MailRule],
    *,
    client_id: str | None,
    now: datetime,
    tz: ZoneInfo | None = None,
) -> RuleOutcome:
    """What ``rules`` make of ``message``. Deterministic: same input, same ids."""
    zone = tz or ZoneInfo("UTC")
    received = message.date or now
    tasks: list[Task] = []
    busy: list[Busy] = []
    actions: list[MailAction] = []
    matched: list[str] = []
    ref = message.message_id or message.id
    for rule in rules:
        if not rule.enabled or not rule.match.matches(message, now):
            continue
        matched.append(rule.name)
        if rule.task is not None:
            tasks.append(_task(message, rule, rule.task, client_id, received, zone, ref))
        if rule.meeting:
            for event in message.invitations:
                if message.invitation_method == "CANCEL" or event.status == "CANCELLED":
                    continue
                if event.end > event.start:
                    busy.append(
                        Busy(
                            start=event.start,
                            end=event.end,
                            client_id=client_id,
                            title=f"(tentative) {event.summary or message.subject}",
                            source=f"{message.origin}#{event.key}",
                        )
                    )
                deadline = max(received, event.start - timedelta(days=1))
                tasks.append(
                    Task(
                        id=stable_task_id(message.origin.source, f"{ref}#{rule.name}#{event.key}"),
                        title=f"Confirm appointment: {event.summary or message.subject}",
                        client_id=client_id,
                        kind="appointments",
                        duration_minutes=rule.meeting_task_minutes,
                        deadline=min(deadline, event.start).astimezone(zone),
                        weight=2,
                        source=message.origin.source,
                        external_id=f"{ref}#{event.key}",
                    )
                )
        if rule.flag:
            actions.append(
                MailAction(
                    kind="flag",
                    message_id=message.id,
                    folder=message.folder,
                    target=rule.flag,
                    rule=rule.name,
                )
            )
        if rule.file_to and rule.file_to != message.folder:
            actions.append(
                MailAction(
                    kind="move",
                    message_id=message.id,
                    folder=message.folder,
                    target=rule.file_to,
                    rule=rule.name,
                )
            )
        if rule.stop:
            break
    return RuleOutcome(
        tasks=tuple(tasks),
        busy=tuple(busy),
        actions=tuple(actions),
        matched_rule_names=tuple(matched),
    )


_FIELD = re.compile(r"\{(\w+)\}")


def _task(
    message: MailMessage,
    rule: MailRule,
    action: TaskAction,
    client_id: str | None,
    received: datetime,
    tz: ZoneInfo,
    ref: str,
) -> Task:
    fields = {
        "subject": message.subject or "(no subject)",
        "sender": message.sender or "",
        "sender_name": message.sender_name or message.sender or "",
        "folder": message.folder,
    }
    # Only plain {name} substitution: a rule file must not reach into objects.
    title = _FIELD.sub(lambda m: fields.get(m.group(1), m.group(0)), action.title).strip()
    deadline: datetime | None = None
    if action.use_due_date:
        due = extract_due_date(message.text, received=received.astimezone(tz).date())
        if due is not None:
            deadline = datetime.combine(due, time(17, 0), tzinfo=tz)
    if deadline is None and action.deadline_days is not None:
        deadline = (received + timedelta(days=action.deadline_days)).astimezone(tz)
    return Task(
        id=stable_task_id(message.origin.source, f"{ref}#{rule.name}"),
        title=title or "(no subject)",
        client_id=client_id,
        kind=action.kind,
        duration_minutes=action.duration_minutes,
        deadline=deadline,
        hard_deadline=action.hard_deadline and deadline is not None,
        weight=action.weight,
        source=message.origin.source,
        external_id=f"{ref}#{rule.name}",
    )


# --- due dates --------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("januari", "january", "januar", "jan"),
            ("februari", "february", "februar", "feb"),
            ("maart", "march", "märz", "maerz", "mrt", "mar"),
            ("april", "apr"),
            ("mei", "may", "mai"),
            ("juni", "june", "jun"),
            ("juli", "july", "jul"),
            ("augustus", "august", "aug"),
            ("september", "sept", "sep"),
            ("oktober", "october", "okt", "oct"),
            ("november", "nov"),
            ("december", "dezember", "dec", "dez"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_KEYWORDS = (
    r"te\s+betalen\s+(?:v[oóò]{2}r|uiterlijk(?:\s+op)?|op)|betalen\s+v[oóò]{2}r|"
    r"uiterlijk(?:\s+op)?|vervaldatum|vervaldag|betaaldatum|"
    r"due(?:\s+date)?(?:\s+(?:by|on))?|payment\s+due(?:\s+(?:by|on))?|pay\s+by|payable\s+by|"
    r"zahlbar\s+bis(?:\s+zum)?|f[äa]llig(?:\s+am)?|zahlungsziel"
)
_DATE = (
    r"(?P<iso>(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2}))"
    r"|(?P<num>(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4}|\d{2}))(?!\d)"
    rf"|(?P<dmy>(?P<d1>\d{{1,2}})\.?\s+(?P<m1>{_MONTH_RE})\.?\s+(?P<y1>\d{{4}}))"
    rf"|(?P<mdy>(?P<m2>{_MONTH_RE})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y2>\d{{4}}))"
)
_DUE_AT = re.compile(rf"(?:{_KEYWORDS})\s*[:\-]?\s*(?:de\s+|den\s+|the\s+|on\s+)?(?:{_DATE})", re.I)
_DUE_WITHIN = re.compile(
    r"(?:binnen|within|innerhalb(?:\s+von)?)\s+(?P<n>\d{1,3})\s+"
    r"(?:(?:werk)?dagen|days|tagen|business\s+days)",
    re.IGNORECASE,
)


def extract_due_date(text: str, *, received: date) -> date | None:
    """The payment due date an invoice text names, or None.

    Only dates that follow a due keyword count ("te betalen vóór 12-12-2026",
    "due 2026-12-12", "zahlbar bis 12.12.2026"), so the invoice date itself is
    never taken. "binnen 14 dagen" / "within 30 days" count from ``received``.
    Numeric dates are read day-first (Europe) unless only month-first is valid.
    """
    for found in _DUE_AT.finditer(text):
        value = _date_from(found)
        if value is not None:
            return value
    within = _DUE_WITHIN.search(text)
    if within:
        return received + timedelta(days=int(within.group("n")))
    return None


def _date_from(found: re.Match[str]) -> date | None:
    try:
        if found.group("iso"):
            return date(int(found.group("iy")), int(found.group("im")), int(found.group("id")))
        if found.group("num"):
            a, b = int(found.group("a")), int(found.group("b"))
            year = int(found.group("y"))
            year = year + 2000 if year < 100 else year
            day, month = (b, a) if b > 12 >= a else (a, b)
            return date(year, month, day)
        if found.group("dmy"):
            month = _MONTHS[found.group("m1").lower()]
            return date(int(found.group("y1")), month, int(found.group("d1")))
        if found.group("mdy"):
            month = _MONTHS[found.group("m2").lower()]
            return date(int(found.group("y2")), month, int(found.group("d2")))
    except (ValueError, KeyError):
        return None
    return None
