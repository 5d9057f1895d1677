"""The connector Protocols over local files: one .ics file, a vdir folder, a Maildir.

For the demo, for offline use, and for people who sync with vdirsyncer/mbsync.
These classes only move bytes: parsing is :mod:`.ics`/:mod:`.mail`, plan
diffing is :func:`.base.diff_plan`, so they behave exactly like the network
backends, and the same contract tests run over both.

Incremental state is JSON: for a vdir, each file's ``mtime_ns`` and size
(what vdirsyncer calls an etag); for a Maildir, each key seen with its flags.
Writes are atomic (temp file + rename in the same folder), and a plan push
that changes nothing writes nothing. Items we did not create (no plan UID
prefix or no ``X-VA-ENGINE-PLAN``) are never modified or deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mailbox
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from va_engine.connectors import ics
from va_engine.connectors.base import (
    FLAG_ANSWERED,
    FLAG_DELETED,
    FLAG_DRAFT,
    FLAG_FLAGGED,
    FLAG_SEEN,
    CalendarChanges,
    MailBatch,
    MailMessage,
    Origin,
    ParsedCalendar,
    PlanEvent,
    PushResult,
    Quarantined,
    diff_plan,
)
from va_engine.connectors.mail import try_parse_message
from va_engine.errors import ConnectorError, NotFoundError

__all__ = [
    "IcsFileCalendar",
    "MaildirMailbox",
    "VdirCalendar",
    "local_calendar",
    "read_eml_file",
    "read_ics_file",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# A range wide enough to see every todo; todos are not expanded, events are ignored.
_ANY_START = datetime(1970, 1, 1, tzinfo=UTC)
_ANY_END = datetime(1970, 1, 2, tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` so readers see the old or the new file, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=".va-engine-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"calendar file not found: {path}") from None
    except OSError as exc:
        raise ConnectorError(f"cannot read {path}: {exc.strerror}") from None


def _check_calendar(name: str, calendar: str) -> None:
    if calendar and calendar != name:
        raise NotFoundError(
            f"this local calendar is {name!r}, not {calendar!r}",
            hint="point the plan calendar setting at the file or folder itself",
        )


def _load_state(state: str | None) -> dict[str, Any] | None:
    """The decoded state, or None when there is none or it is not ours (→ full sync)."""
    if not state:
        return None
    try:
        data = json.loads(state)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("v") == 1 else None


def _complete(cal: icalendar.Calendar, uid: str, at: datetime) -> bool:
    for todo in cal.walk("VTODO"):
        if str(todo.get("UID") or "") != uid:
            continue
        if str(todo.get("STATUS") or "").upper() == "COMPLETED":
            return False
        for name in ("STATUS", "COMPLETED", "PERCENT-COMPLETE"):
            todo.pop(name, None)
        todo.add("STATUS", "COMPLETED")
        todo.add("COMPLETED", at.astimezone(UTC))
        todo.add("PERCENT-COMPLETE", 100)
        return True
    return False


class IcsFileCalendar:
    """A single .ics file: a calendar export, or the file we push a plan into."""

    def __init__(self, path: Path, *, account: str = "local", clock: Clock = _utcnow) -> None:
        self.path = Path(path)
        self.origin = Origin(account=account, collection=self.path.name)
        self._clock = clock

    @property
    def name(self) -> str:
        return self.path.name

    def _parse(self, start: datetime, end: datetime, tz: ZoneInfo) -> ParsedCalendar:
        return ics.parse_calendar(_read(self.path), origin=self.origin, start=start, end=end, tz=tz)

    def events(self, start: datetime, end: datetime, *, tz: ZoneInfo) -> ParsedCalendar:
        parsed = self._parse(start, end, tz)
        return parsed.model_copy(update={"todos": ()})

    def todos(self, *, tz: ZoneInfo) -> ParsedCalendar:
        parsed = self._parse(_ANY_START, _ANY_END, tz)
        return parsed.model_copy(update={"events": ()})

    def _stamp(self) -> str:
        stat = self.path.stat()
        return f"{stat.st_mtime_ns}-{stat.st_size}-{stat.st_ino}"

    def sync(
        self, state: str | None, *, start: datetime, end: datetime, tz: ZoneInfo
    ) -> CalendarChanges:
        """Items are UIDs: an unchanged file costs one ``stat``; otherwise per-UID hashes
        tell which items changed, so the caller only replaces those."""
        old = _load_state(state)
        if not self.path.exists():
            removed = tuple(sorted(old["items"])) if old is not None else ()
            return CalendarChanges(
                state=json.dumps({"v": 1, "stamp": None, "items": {}}),
                reset=old is None,
                removed_items=removed,
            )
        stamp = self._stamp()
        if old is not None and old.get("stamp") == stamp:
            return CalendarChanges(state=state or "")
        data = _read(self.path)
        parsed = ics.parse_calendar(data, origin=self.origin, start=start, end=end, tz=tz)
        hashes = ics.item_fingerprints(data)
        if hashes is None or old is None:
            return CalendarChanges(
                state=json.dumps({"v": 1, "stamp": stamp, "items": hashes or {}}),
                reset=True,
                changed_items=tuple(sorted(hashes or {})),
                events=parsed.events,
                todos=parsed.todos,
                quarantined=parsed.quarantined,
            )
        known: dict[str, str] = old.get("items", {})
        changed = {uid for uid, h in hashes.items() if known.get(uid) != h}
        return CalendarChanges(
            state=json.dumps({"v": 1, "stamp": stamp, "items": hashes}, sort_keys=True),
            changed_items=tuple(sorted(changed)),
            removed_items=tuple(sorted(uid for uid in known if uid not in hashes)),
            events=tuple(e for e in parsed.events if e.origin.item in changed),
            todos=tuple(t for t in parsed.todos if t.origin.item in changed),
            quarantined=tuple(q for q in parsed.quarantined if q.origin.item in changed),
        )

    def push_plan(self, events: Sequence[PlanEvent], *, calendar: str = "") -> PushResult:
        """Make our events in the file equal ``events``; foreign components are kept as read."""
        _check_calendar(self.name, calendar)
        if self.path.exists():
            text, _ = ics.decode_text(_read(self.path))
            try:
                cal = icalendar.Calendar.from_ical(text)
            except Exception as exc:
                raise ConnectorError(
                    f"will not push a plan into {self.path}: it is not a readable iCalendar "
                    f"file ({type(exc).__name__})"
                ) from None
        else:
            cal = icalendar.Calendar.from_ical(ics.build_plan_calendar([], stamp=self._clock()))
        existing: dict[str, str] = {}
        for component in cal.subcomponents:
            fingerprint = ics.our_fingerprint(component)
            if fingerprint is not None:
                existing[str(component.get("UID"))] = fingerprint
        diff = diff_plan(events, existing)
        foreign = {str(c.get("UID")) for c in cal.subcomponents if "UID" in c} - set(existing)
        clash = sorted(e.uid for e in diff.create if e.uid in foreign)
        if clash:
            raise ConnectorError(f"{self.path} has an item {clash[0]!r} not created by va-engine")
        result = PushResult(
            created=tuple(e.uid for e in diff.create),
            updated=tuple(e.uid for e in diff.update),
            deleted=diff.delete,
            unchanged=diff.unchanged,
        )
        if not result.writes and self.path.exists():
            return result
        drop = set(diff.delete) | {e.uid for e in diff.update}
        cal.subcomponents = [
            c
            for c in cal.subcomponents
            if not (ics.our_fingerprint(c) is not None and str(c.get("UID")) in drop)
        ]
        stamp = self._clock()
        for event in (*diff.create, *diff.update):
            cal.add_component(ics.plan_event_component(event, stamp=stamp))
        cal.add_missing_timezones()
        _atomic_write(self.path, cal.to_ical())
        return result

    def complete_todo(self, uid: str, *, at: datetime) -> bool:
        text, _ = ics.decode_text(_read(self.path))
        cal = icalendar.Calendar.from_ical(text)
        if not _complete(cal, uid, at):
            return False
        _atomic_write(self.path, cal.to_ical())
        return True


class VdirCalendar:
    """A vdir collection: a folder with one ``.ics`` file per item (khal, todoman, vdirsyncer)."""

    def __init__(self, path: Path, *, account: str = "local", clock: Clock = _utcnow) -> None:
        self.path = Path(path)
        self.origin = Origin(account=account, collection=self.path.name)
        self._clock = clock

    @property
    def name(self) -> str:
        return self.path.name

    def _items(self) -> dict[str, str]:
        """Item file name → etag (mtime, size, inode), for every ``.ics`` in the folder."""
        if not self.path.is_dir():
            raise NotFoundError(f"vdir folder not found: {self.path}")
        items: dict[str, str] = {}
        with os.scandir(self.path) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.name.endswith(".ics"):
                    continue
                if not entry.is_file():
                    continue
                stat = entry.stat()
                # The inode catches atomic replacements within one mtime tick.
                items[entry.name] = f"{stat.st_mtime_ns}-{stat.st_size}-{stat.st_ino}"
        return items

    def _parse(
        self, names: Sequence[str], start: datetime, end: datetime, tz: ZoneInfo
    ) -> ParsedCalendar:
        result = ParsedCalendar()
        for name in sorted(names):
            origin = self.origin.with_item(name)
            try:
                data = (self.path / name).read_bytes()
            except FileNotFoundError:
                continue  # removed while we looked: the next sync reports it
            except OSError as exc:
                q = Quarantined(origin=origin, reason="unreadable file", detail=str(exc.strerror))
                result = result + ParsedCalendar(quarantined=(q,))
                continue
            result = result + ics.parse_calendar(data, origin=origin, start=start, end=end, tz=tz)
        return result

    def events(self, start: datetime, end: datetime, *, tz: ZoneInfo) -> ParsedCalendar:
        parsed = self._parse(list(self._items()), start, end, tz)
        return parsed.model_copy(update={"todos": ()})

    def todos(self, *, tz: ZoneInfo) -> ParsedCalendar:
        parsed = self._parse(list(self._items()), _ANY_START, _ANY_END, tz)
        return parsed.model_copy(update={"events": ()})

    def sync(
        self, state: str | None, *, start: datetime, end: datetime, tz: ZoneInfo
    ) -> CalendarChanges:
        """Only files whose etag changed are read; a no-change sync is one directory scan.

        The state does not depend on the range: when the caller's window moves it
        should do a full :meth:`events` read, as with any backend.
        """
        items = self._items()
        old = _load_state(state)
        known: dict[str, str] = old["items"] if old is not None else {}
        changed = [n for n, tag in items.items() if known.get(n) != tag]
        removed = sorted(n for n in known if n not in items)
        new_state = json.dumps({"v": 1, "items": items}, sort_keys=True)
        parsed = self._parse(changed, start, end, tz)
        return CalendarChanges(
            state=new_state,
            reset=old is None,
            changed_items=tuple(sorted(changed)),
            removed_items=tuple(removed),
            events=parsed.events,
            todos=parsed.todos,
            quarantined=parsed.quarantined,
        )

    def _ours(self) -> dict[str, tuple[str, str]]:
        """UID → (file name, fingerprint) for every item that is one plan event of ours."""
        ours: dict[str, tuple[str, str]] = {}
        for name in self._items():
            try:
                text, _ = ics.decode_text((self.path / name).read_bytes())
                cal = icalendar.Calendar.from_ical(text)
            except Exception:  # unreadable = not ours = hands off
                continue
            components = [c for c in cal.subcomponents if c.name in {"VEVENT", "VTODO"}]
            if len(components) != 1:
                continue
            fingerprint = ics.our_fingerprint(components[0])
            if fingerprint is not None:
                ours[str(components[0].get("UID"))] = (name, fingerprint)
        return ours

    def push_plan(self, events: Sequence[PlanEvent], *, calendar: str = "") -> PushResult:
        """One file per plan event, named after its UID; unchanged files are not written."""
        _check_calendar(self.name, calendar)
        self.path.mkdir(parents=True, exist_ok=True)
        ours = self._ours()
        diff = diff_plan(events, {uid: fp for uid, (_, fp) in ours.items()})
        stamp = self._clock()
        for event in diff.create:
            target = self.path / f"{event.uid}.ics"
            if target.exists():
                # A foreign file already has our name: never overwrite it.
                raise ConnectorError(f"{target} exists and was not created by va-engine")
            _atomic_write(target, ics.plan_event_ics(event, stamp=stamp))
        for event in diff.update:
            _atomic_write(self.path / ours[event.uid][0], ics.plan_event_ics(event, stamp=stamp))
        for uid in diff.delete:
            with contextlib.suppress(FileNotFoundError):
                (self.path / ours[uid][0]).unlink()
        return PushResult(
            created=tuple(e.uid for e in diff.create),
            updated=tuple(e.uid for e in diff.update),
            deleted=diff.delete,
            unchanged=diff.unchanged,
        )

    def complete_todo(self, uid: str, *, at: datetime) -> bool:
        for name in sorted(self._items()):
            path = self.path / name
            try:
                text, _ = ics.decode_text(path.read_bytes())
                cal = icalendar.Calendar.from_ical(text)
            except Exception:
                continue
            if _complete(cal, uid, at):
                _atomic_write(path, cal.to_ical())
                return True
        return False


def local_calendar(
    path: Path, *, account: str = "local", clock: Clock = _utcnow
) -> IcsFileCalendar | VdirCalendar:
    """The right local calendar for ``path``: a folder is a vdir, anything else one .ics file."""
    path = Path(path)
    if path.is_dir():
        return VdirCalendar(path, account=account, clock=clock)
    return IcsFileCalendar(path, account=account, clock=clock)


def read_ics_file(
    path: Path, *, tz: ZoneInfo, start: datetime, end: datetime, account: str = "local"
) -> ParsedCalendar:
    """One .ics file as the engine sees it (for ``va-engine inspect ics``)."""
    path = Path(path)
    origin = Origin(account=account, collection=path.name)
    return ics.parse_calendar(_read(path), origin=origin, start=start, end=end, tz=tz)


def read_eml_file(
    path: Path, *, tz: ZoneInfo | None = None, account: str = "local"
) -> MailMessage | Quarantined:
    """One .eml file as the engine sees it (for ``va-engine inspect mail``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"mail file not found: {path}") from None
    except OSError as exc:
        raise ConnectorError(f"cannot read {path}: {exc.strerror}") from None
    origin = Origin(account=account, collection=path.parent.name, item=path.name)
    return try_parse_message(data, origin=origin, tz=tz)


#: Maildir info letters ↔ IMAP system flags (maildir spec, "2," section).
_MAILDIR_TO_IMAP = {
    "S": FLAG_SEEN,
    "F": FLAG_FLAGGED,
    "R": FLAG_ANSWERED,
    "D": FLAG_DRAFT,
    "T": FLAG_DELETED,
}
_IMAP_TO_MAILDIR = {v.lower(): k for k, v in _MAILDIR_TO_IMAP.items()}
INBOX = "INBOX"


def _complete_maildir(root: Path) -> None:
    """Add missing ``new/`` and ``tmp/`` folders (git and some copy tools drop empty ones).

    Every Maildir writer creates them anyway; without them the mailbox module
    fails on the first read. A read-only tree is left alone.
    """
    folders = [root, *(p for p in root.glob(".*") if (p / "maildirfolder").exists())]
    for folder in folders:
        for sub in ("cur", "new", "tmp"):
            try:
                (folder / sub).mkdir(exist_ok=True)
            except OSError:
                return


class MaildirMailbox:
    """A Maildir++ tree (mbsync, offlineimap, Dovecot): INBOX at the root, folders as ``.Name``.

    Incremental state is the set of keys seen with their flags, so a fetch
    reads only new files and notices removals and flag changes from file names.
    """

    def __init__(
        self,
        path: Path,
        *,
        account: str = "local",
        create: bool = False,
        tz: ZoneInfo | None = None,
    ) -> None:
        self.path = Path(path)
        self.account = account
        self.tz = tz
        if not create and not (self.path / "cur").is_dir():
            raise NotFoundError(f"not a Maildir (no cur/ folder): {self.path}")
        _complete_maildir(self.path)
        self._root = mailbox.Maildir(self.path, factory=None, create=create)

    def _folder(self, name: str, *, create: bool = False) -> mailbox.Maildir:
        if name.upper() == INBOX:
            return self._root
        try:
            return self._root.get_folder(name)
        except mailbox.NoSuchMailboxError:
            if create:
                return self._root.add_folder(name)
            raise NotFoundError(f"no folder {name!r} in Maildir {self.path}") from None

    def folders(self) -> list[str]:
        return [INBOX, *sorted(self._root.list_folders())]

    def _listing(self, box: mailbox.Maildir) -> dict[str, str]:
        """Key → Maildir flag letters, from file names alone (no message is opened)."""
        base = Path(box._path)  # the mailbox API has no public path
        result: dict[str, str] = {}
        for sub in ("new", "cur"):
            with os.scandir(base / sub) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    key, _, info = entry.name.partition(box.colon)
                    result[key] = "".join(sorted(info[2:])) if info.startswith("2,") else ""
        return result

    @staticmethod
    def _flags(letters: str) -> frozenset[str]:
        return frozenset(_MAILDIR_TO_IMAP[c] for c in letters if c in _MAILDIR_TO_IMAP)

    def fetch(self, folder: str, state: str | None) -> MailBatch:
        box = self._folder(folder)
        listing = self._listing(box)
        old = _load_state(state)
        known: dict[str, str] = old["keys"] if old is not None else {}
        messages: list[MailMessage] = []
        quarantined: list[Quarantined] = []
        flag_changes: dict[str, frozenset[str]] = {}
        for key in sorted(listing):
            letters = listing[key]
            if key in known:
                if known[key] != letters:
                    flag_changes[key] = self._flags(letters)
                continue
            try:
                data = box.get_bytes(key)
            except KeyError:
                listing.pop(key)  # gone while we looked: the next fetch reports nothing
                continue
            origin = Origin(account=self.account, collection=folder, item=key)
            parsed = try_parse_message(
                data, origin=origin, id=key, folder=folder, flags=self._flags(letters), tz=self.tz
            )
            if isinstance(parsed, Quarantined):
                quarantined.append(parsed)
            else:
                messages.append(parsed)
        removed = tuple(sorted(k for k in known if k not in listing))
        return MailBatch(
            folder=folder,
            messages=tuple(messages),
            removed_ids=removed,
            flag_changes=flag_changes,
            state=json.dumps({"v": 1, "keys": listing}, sort_keys=True),
            reset=old is None,
            quarantined=tuple(quarantined),
        )

    def save_draft(self, message: EmailMessage, folder: str = "Drafts") -> str:
        box = self._folder(folder, create=True)
        draft = mailbox.MaildirMessage(message)
        draft.set_subdir("cur")
        draft.set_flags("DS")
        return str(box.add(draft))

    def move(self, ids: Sequence[str], src: str, dst: str) -> None:
        source = self._folder(src)
        target = self._folder(dst, create=True)
        for key in ids:
            try:
                message = source.get_message(key)
            except KeyError:
                raise NotFoundError(f"no message {key!r} in folder {src!r}") from None
            target.add(message)  # flags and subdir travel with the MaildirMessage
            source.discard(key)

    def flag(self, ids: Sequence[str], folder: str, flag: str, on: bool = True) -> None:
        letter = _IMAP_TO_MAILDIR.get(flag.lower())
        if letter is None:
            raise ValueError(f"Maildir cannot store flag {flag!r}; use one of {_MAILDIR_TO_IMAP}")
        box = self._folder(folder)
        for key in ids:
            try:
                message = box.get_message(key)
            except KeyError:
                raise NotFoundError(f"no message {key!r} in folder {folder!r}") from None
            if on:
                message.add_flag(letter)
            else:
                message.remove_flag(letter)
            message.set_subdir("cur")
            box[key] = message

    def create_folder(self, name: str) -> None:
        self._folder(name, create=True)
