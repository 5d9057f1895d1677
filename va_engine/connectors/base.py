"""The seams between va-engine and calendars/mailboxes: Protocols plus the data they carry.

A new backend is one module implementing these Protocols (like APScheduler's
``abc`` module); parsing is sans-I/O in :mod:`.ics` and :mod:`.mail`, so a
backend only moves bytes and keeps its opaque sync *state* string.

API summary (signatures are stable; other modules build on them)::

    Origin(account: str, collection: str = "", item: str = "")      str(o) -> "acc/coll/item"
    Quarantined(origin: Origin, reason: str, detail: str = "")
    CalendarEvent(uid, recurrence_id, summary, start, end, all_day, floating, location,
                  attendees, organizer, status, transparent, categories, description,
                  ours, origin)
    TodoItem(uid, summary, start, due, duration_minutes, priority, status, completed,
             related_to, categories, description, origin)
    ParsedCalendar(events, todos, quarantined, warnings, method)
    CalendarChanges(state: str, reset: bool, changed_items, removed_items,
                    events, todos, quarantined)
    PlanEvent(key, summary, start, end, description="", location="", categories=())
        .uid -> "va-engine-plan-<key>"
    PushResult(created, updated, deleted, unchanged)      tuples of UIDs
    Attachment(filename, content_type, size)
    MailMessage(id, folder, message_id, subject, sender, sender_name, to, cc, date, flags, snippet,
                text, attachments, invitations, invitation_method, in_reply_to,
                references, list_id, defects, origin)
    MailBatch(folder, messages, removed_ids, flag_changes, state, reset, quarantined)
    SyncSummary(account, added, changed, removed, quarantined, error)

    class CalendarSource(Protocol):
        def events(self, start, end, *, tz: ZoneInfo) -> ParsedCalendar
        def todos(self, *, tz: ZoneInfo) -> ParsedCalendar
        def sync(self, state: str | None, *, start, end, tz: ZoneInfo) -> CalendarChanges
    class CalendarSink(Protocol):
        def push_plan(self, events: Sequence[PlanEvent], *, calendar: str) -> PushResult
        def complete_todo(self, uid: str, *, at: datetime) -> bool
    class MailSource(Protocol):
        def folders(self) -> list[str]
        def fetch(self, folder: str, state: str | None) -> MailBatch
    class MailSink(Protocol):
        def save_draft(self, message: EmailMessage, folder: str = "Drafts") -> str
        def move(self, ids: Sequence[str], src: str, dst: str) -> None
        def flag(self, ids: Sequence[str], folder: str, flag: str, on: bool = True) -> None
        def create_folder(self, name: str) -> None

    diff_plan(desired, existing: Mapping[uid, fingerprint]) -> PlanDiff
    stable_task_id(source, uid) -> str
    event_to_busy(event, *, client_id=None, assistant_id=None) -> Busy | None
    todo_to_task(todo, *, tz, client_id=None, kind="admin", default_minutes=30)
        -> Task | None

Parsing is pure and shared by every backend (see those modules)::

    ics.parse_calendar(data, *, origin, start, end, tz) -> ParsedCalendar
    ics.plan_event_ics(event, *, stamp) -> bytes; ics.our_fingerprint(component) -> str | None
    mail.parse_message(data, *, origin, id=None, folder=None, flags=(), tz=None) -> MailMessage
    mail.try_parse_message(...) -> MailMessage | Quarantined
    rules.apply_rules(message, rules, *, client_id, now, tz=None) -> RuleOutcome

Flags are IMAP system flags (``\\Seen``, ``\\Flagged``, ``\\Answered``, ``\\Draft``,
``\\Deleted``) for every backend, so rules match the same names everywhere.
State strings are opaque to the caller: persist them, hand them back, and pass
``None`` for a first (full) sync. A backend that cannot use an old state
returns ``reset=True`` and everything it has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt

from va_engine.model import Busy, Task

__all__ = [
    "FLAG_ANSWERED",
    "FLAG_DELETED",
    "FLAG_DRAFT",
    "FLAG_FLAGGED",
    "FLAG_SEEN",
    "PLAN_MARKER",
    "PLAN_UID_PREFIX",
    "Attachment",
    "CalendarChanges",
    "CalendarEvent",
    "CalendarSink",
    "CalendarSource",
    "MailBatch",
    "MailMessage",
    "MailSink",
    "MailSource",
    "Origin",
    "ParsedCalendar",
    "PlanDiff",
    "PlanEvent",
    "PushResult",
    "Quarantined",
    "SyncSummary",
    "TodoItem",
    "diff_plan",
    "event_to_busy",
    "stable_task_id",
    "todo_to_task",
]

FLAG_SEEN = "\\Seen"
FLAG_FLAGGED = "\\Flagged"
FLAG_ANSWERED = "\\Answered"
FLAG_DRAFT = "\\Draft"
FLAG_DELETED = "\\Deleted"

#: Every event we push carries this property (value = content fingerprint) and a UID
#: with this prefix; sinks never touch an event that lacks either.
PLAN_MARKER = "X-VA-ENGINE-PLAN"
PLAN_UID_PREFIX = "va-engine-plan-"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Origin(_Frozen):
    """Where an item came from: account, collection (calendar/folder) and item id (href, UID)."""

    account: str
    collection: str = ""
    item: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.account, self.collection, self.item) if p)

    def with_item(self, item: str) -> Origin:
        return Origin(account=self.account, collection=self.collection, item=item)

    @property
    def source(self) -> str:
        """Account and collection without the item: the ``Task.source`` of what it yields."""
        return "/".join(p for p in (self.account, self.collection) if p)


class Quarantined(_Frozen):
    """An item we could not use: where it is and why, so a person can fix it."""

    origin: Origin
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.origin}: {self.reason}{extra}"


class CalendarEvent(_Frozen):
    """One occurrence of a VEVENT, recurrence already expanded.

    ``start``/``end`` are always aware. All-day events start at local midnight in
    the client's zone (``all_day=True``); floating events (no zone in the file)
    are read as wall-clock time in the client's zone (``floating=True``).
    ``recurrence_id`` is the original start of this instance for recurring events.
    """

    uid: str
    recurrence_id: AwareDatetime | None = None
    summary: str = ""
    start: AwareDatetime
    end: AwareDatetime
    all_day: bool = False
    floating: bool = False
    location: str = ""
    attendees: tuple[str, ...] = ()
    organizer: str | None = None
    status: str | None = None
    transparent: bool = False
    categories: tuple[str, ...] = ()
    description: str = ""
    ours: bool = False
    origin: Origin

    @property
    def key(self) -> str:
        """UID plus instance: unique among the occurrences of one calendar."""
        if self.recurrence_id is None:
            return self.uid
        return f"{self.uid}@{self.recurrence_id.isoformat()}"


class TodoItem(_Frozen):
    """A VTODO. ``priority`` is iCalendar's: 0 undefined, 1 highest … 9 lowest."""

    uid: str
    summary: str = ""
    start: AwareDatetime | None = None
    due: AwareDatetime | None = None
    duration_minutes: NonNegativeInt | None = None
    priority: int = Field(default=0, ge=0, le=9)
    status: str | None = None
    completed: AwareDatetime | None = None
    related_to: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    description: str = ""
    origin: Origin

    @property
    def done(self) -> bool:
        return self.completed is not None or self.status in {"COMPLETED", "CANCELLED"}


class ParsedCalendar(_Frozen):
    """What one calendar file/resource/collection yielded; bad items are in ``quarantined``."""

    events: tuple[CalendarEvent, ...] = ()
    todos: tuple[TodoItem, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()
    #: items kept but repaired (e.g. non-UTF-8 bytes read as Windows-1252)
    warnings: tuple[Quarantined, ...] = ()
    #: iTIP method of the file (``REQUEST``, ``CANCEL`` …) when it is an invitation
    method: str | None = None

    def __add__(self, other: ParsedCalendar) -> ParsedCalendar:
        return ParsedCalendar(
            events=self.events + other.events,
            todos=self.todos + other.todos,
            quarantined=self.quarantined + other.quarantined,
            warnings=self.warnings + other.warnings,
            method=self.method or other.method,
        )


class CalendarChanges(_Frozen):
    """An incremental calendar sync.

    For every item id in ``changed_items`` (new or edited resource) the caller
    drops what it had from that item and takes ``events``/``todos`` whose
    ``origin.item`` matches; items in ``removed_items`` are gone upstream. With
    ``reset=True`` the old state was unusable: replace the whole collection.
    """

    state: str
    reset: bool = False
    changed_items: tuple[str, ...] = ()
    removed_items: tuple[str, ...] = ()
    events: tuple[CalendarEvent, ...] = ()
    todos: tuple[TodoItem, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not (self.reset or self.changed_items or self.removed_items)


class PlanEvent(_Frozen):
    """One block of a plan to push. ``key`` must be stable across re-plans of the same work."""

    key: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._@-]+$")
    summary: str
    start: AwareDatetime
    end: AwareDatetime
    description: str = ""
    location: str = ""
    categories: tuple[str, ...] = ()

    @property
    def uid(self) -> str:
        return PLAN_UID_PREFIX + self.key

    @property
    def fingerprint(self) -> str:
        """Content hash; equal fingerprints mean re-pushing would write nothing."""
        text = "\x1f".join(
            [
                self.key,
                self.summary,
                self.start.isoformat(),
                self.end.isoformat(),
                str(self.start.tzinfo),
                self.description,
                self.location,
                ",".join(self.categories),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]


class PushResult(_Frozen):
    """UIDs created, updated, deleted and left alone by one ``push_plan``."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)


@dataclass(frozen=True)
class PlanDiff:
    """What a sink must do to make its plan calendar equal ``desired``."""

    create: tuple[PlanEvent, ...]
    update: tuple[PlanEvent, ...]
    delete: tuple[str, ...]
    unchanged: tuple[str, ...]


def diff_plan(desired: Sequence[PlanEvent], existing: Mapping[str, str]) -> PlanDiff:
    """Compare the plan to push with our events already there (UID → fingerprint).

    ``existing`` must hold only events we created (UID prefix + marker); the
    sink filters, so foreign events can never land in ``delete``.
    """
    seen: set[str] = set()
    create: list[PlanEvent] = []
    update: list[PlanEvent] = []
    unchanged: list[str] = []
    for event in desired:
        if event.uid in seen:
            raise ValueError(f"plan event key {event.key!r} is used twice")
        seen.add(event.uid)
        old = existing.get(event.uid)
        if old is None:
            create.append(event)
        elif old != event.fingerprint:
            update.append(event)
        else:
            unchanged.append(event.uid)
    delete = tuple(sorted(uid for uid in existing if uid not in seen))
    return PlanDiff(tuple(create), tuple(update), delete, tuple(unchanged))


class Attachment(_Frozen):
    filename: str | None
    content_type: str
    size: int = 0


class MailMessage(_Frozen):
    """A parsed e-mail: headers decoded, text extracted, invitations parsed.

    ``id`` is the backend's id within ``folder`` (IMAP UID as text, Maildir key).
    ``text`` is the plain body (HTML stripped if that is all there is), capped;
    ``snippet`` its first ~300 characters on one line.
    """

    id: str
    folder: str
    message_id: str | None = None
    subject: str = ""
    sender: str | None = None
    sender_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    date: AwareDatetime | None = None
    flags: frozenset[str] = frozenset()
    snippet: str = ""
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    invitations: tuple[CalendarEvent, ...] = ()
    invitation_method: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    list_id: str | None = None
    #: non-fatal problems the parser worked around (bad charset, missing Date …)
    defects: tuple[str, ...] = ()
    origin: Origin


class MailBatch(_Frozen):
    """What changed in one folder since ``state`` was handed in; persist ``state``."""

    folder: str
    messages: tuple[MailMessage, ...] = ()
    removed_ids: tuple[str, ...] = ()
    flag_changes: Mapping[str, frozenset[str]] = Field(default_factory=dict)
    state: str
    reset: bool = False
    quarantined: tuple[Quarantined, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not (
            self.messages or self.removed_ids or self.flag_changes or self.reset or self.quarantined
        )


class SyncSummary(_Frozen):
    """One account's sync, for the CLI and the log. ``error`` set means state was not advanced."""

    account: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    quarantined: tuple[Quarantined, ...] = ()
    error: str | None = None


@runtime_checkable
class CalendarSource(Protocol):
    """Reads a calendar collection (or file): events in a range, todos, incremental changes."""

    def events(self, start: datetime, end: datetime, *, tz: ZoneInfo) -> ParsedCalendar:
        """Occurrences intersecting ``[start, end)``, recurrence expanded; floating in ``tz``."""
        ...

    def todos(self, *, tz: ZoneInfo) -> ParsedCalendar:
        """Every VTODO (completed ones included: the caller closes their tasks)."""
        ...

    def sync(
        self, state: str | None, *, start: datetime, end: datetime, tz: ZoneInfo
    ) -> CalendarChanges:
        """Items changed since ``state`` (``None``: everything), expanded within the range."""
        ...


@runtime_checkable
class CalendarSink(Protocol):
    """Receives the plan. Touches only events it created (UID prefix + ``X-VA-ENGINE-PLAN``)."""

    def push_plan(self, events: Sequence[PlanEvent], *, calendar: str) -> PushResult:
        """Make our events in ``calendar`` equal ``events``; unchanged ones are not written."""
        ...

    def complete_todo(self, uid: str, *, at: datetime) -> bool:
        """Mark VTODO ``uid`` completed at ``at``; False when it is unknown or already done."""
        ...


@runtime_checkable
class MailSource(Protocol):
    """Reads mail folders incrementally."""

    def folders(self) -> list[str]: ...

    def fetch(self, folder: str, state: str | None) -> MailBatch:
        """New messages, removed ids and flag changes since ``state`` (``None``: all)."""
        ...


@runtime_checkable
class MailSink(Protocol):
    """Writes to a mailbox: drafts, moves, flags, folders. Never sends."""

    def save_draft(self, message: EmailMessage, folder: str = "Drafts") -> str:
        """Store ``message`` as a draft (``\\Draft`` flag); return its id in ``folder``."""
        ...

    def move(self, ids: Sequence[str], src: str, dst: str) -> None: ...

    def flag(self, ids: Sequence[str], folder: str, flag: str, on: bool = True) -> None: ...

    def create_folder(self, name: str) -> None: ...


def stable_task_id(source: str, uid: str) -> str:
    """A task id that is the same on every import of the same upstream item."""
    digest = hashlib.sha256(f"{source}\x1f{uid}".encode()).hexdigest()[:16]
    return f"ext-{digest}"


def event_to_busy(
    event: CalendarEvent, *, client_id: str | None = None, assistant_id: str | None = None
) -> Busy | None:
    """Busy time for an event, or None when it blocks nothing (free/transparent, cancelled)."""
    if event.transparent or event.status == "CANCELLED" or event.end <= event.start:
        return None
    return Busy(
        start=event.start,
        end=event.end,
        client_id=client_id,
        assistant_id=assistant_id,
        title=event.summary or "busy",
        source=f"{event.origin}#{event.key}",
    )


def _weight(priority: int) -> int:
    # iCalendar: 1–4 high, 5 medium, 6–9 low, 0 undefined (RFC 5545 §3.8.1.9).
    if 1 <= priority <= 4:
        return 3
    if priority == 5:
        return 2
    return 1


def todo_to_task(
    todo: TodoItem,
    *,
    tz: ZoneInfo,
    client_id: str | None = None,
    kind: str = "admin",
    default_minutes: int = 30,
) -> Task | None:
    """A plannable task for an open VTODO, or None when it is done/cancelled.

    The id is derived from origin + UID, so a re-import updates the same task;
    ``source``/``external_id`` let the store close it when upstream deletes it.
    A due date before ``start`` (bad data) drops the release rather than the task.
    """
    if todo.done:
        return None
    minutes = todo.duration_minutes or default_minutes
    release = todo.start
    deadline = todo.due
    if release is not None and deadline is not None and deadline < release:
        release = None
    return Task(
        id=stable_task_id(todo.origin.source, todo.uid),
        title=todo.summary or "(untitled todo)",
        client_id=client_id,
        kind=kind,
        duration_minutes=max(1, minutes),
        release=release.astimezone(tz) if release else None,
        deadline=deadline.astimezone(tz) if deadline else None,
        weight=_weight(todo.priority),
        source=todo.origin.source,
        external_id=todo.uid,
    )
