"""IMAP mailboxes over imapclient: incremental fetch, drafts, move, flag, IDLE.

Incremental sync per folder rests on three numbers the server keeps:
UIDVALIDITY (if it changes, every UID we knew is void), UIDNEXT (new mail)
and, when the server offers CONDSTORE, HIGHESTMODSEQ (any change at all:
flags, expunges). A folder that did not change therefore costs one STATUS
command. With QRESYNC the server also tells us which UIDs vanished; without
it we compare UID lists. Servers that lack an extension, or implement it
badly, are described by *hints* (data, not ``if`` s), and the code falls back.

The class is thin on purpose: it returns raw RFC 5322 bytes plus flags;
turning bytes into tasks is the job of the pure parser in ``mail.py``.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl as ssl_module
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Final

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from imapclient.response_parser import parse_fetch_response
from pydantic import BaseModel, ConfigDict, SecretStr

from va_engine.connectors._net import NetworkBackend, RetryPolicy
from va_engine.connectors.base import MailBatch, MailMessage, Origin, Quarantined
from va_engine.connectors.mail import try_parse_message
from va_engine.errors import AuthError, ConnectorError, NotFoundError, RemoteDataError

__all__ = [
    "DEFAULT_IMAP_HINTS",
    "FetchedMessage",
    "FolderChanges",
    "FolderInfo",
    "FolderState",
    "ImapMailbox",
    "parse_uid_set",
]

#: What we may use when the server advertises it. A server entry switches
#: features off where that server's implementation is known to misbehave.
DEFAULT_IMAP_HINTS: Final[Mapping[str, bool]] = {
    "condstore": True,  # RFC 7162 CHANGEDSINCE / HIGHESTMODSEQ
    "qresync": True,  # RFC 7162 VANISHED (expunged UIDs without a full UID list)
    "move": True,  # RFC 6851 MOVE instead of COPY + \Deleted + EXPUNGE
    "uidplus": True,  # RFC 4315 UID EXPUNGE (only expunge what we moved) and APPENDUID
    "idle": True,  # RFC 2177
    # STATUS on the selected folder: RFC 3501 says SHOULD NOT, and Dovecot answers from
    # the session's (stale) view, so by default we UNSELECT first.
    "status_on_selected": False,
}

#: Known server quirks, matched on the greeting / ID text (lower case substring).
SERVER_IMAP_HINTS: Final[Mapping[str, Mapping[str, bool]]] = {
    # Gmail's CONDSTORE is real, QRESYNC is not offered; nothing to switch off.
    "gimap": {},
    # Exchange advertises MOVE late and its IDLE drops silently after ~30 min.
    "microsoft exchange": {"condstore": False},
}

FETCH_BATCH = 500
_DRAFT_FLAGS = (b"\\Draft", b"\\Seen")


class FolderState(BaseModel):
    """What we knew about a folder after the last sync; the store persists it as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uidvalidity: int
    uidnext: int = 1
    highestmodseq: int | None = None
    messages: int = 0
    uids: tuple[int, ...] = ()

    @property
    def last_uid(self) -> int:
        return self.uids[-1] if self.uids else 0


@dataclass(frozen=True)
class FolderInfo:
    """One folder as LISTed: its name, flags and special use (\\Drafts, \\Sent …)."""

    name: str
    flags: frozenset[str]
    delimiter: str | None

    @property
    def special_use(self) -> str | None:
        uses = {"\\Drafts", "\\Sent", "\\Trash", "\\Junk", "\\Archive", "\\All", "\\Flagged"}
        return next((f for f in sorted(self.flags) if f in uses), None)


@dataclass(frozen=True)
class FetchedMessage:
    """A message as the server holds it: raw bytes for the parser, flags, origin."""

    folder: str
    uid: int
    uidvalidity: int
    flags: frozenset[str]
    raw: bytes
    modseq: int | None = None

    @property
    def source(self) -> str:
        """Stable origin reference ``folder;UIDVALIDITY=v;UID=u`` (RFC 5092 style)."""
        return f"{self.folder};UIDVALIDITY={self.uidvalidity};UID={self.uid}"


@dataclass(frozen=True)
class FolderChanges:
    """What changed in one folder since ``previous``; ``state`` is the state to store next."""

    folder: str
    state: FolderState
    new: list[FetchedMessage] = field(default_factory=list)
    flags_changed: dict[int, frozenset[str]] = field(default_factory=dict)
    vanished: frozenset[int] = frozenset()
    #: UIDVALIDITY changed (or first sync): forget every UID known before
    reset: bool = False

    @property
    def unchanged(self) -> bool:
        return not (self.new or self.flags_changed or self.vanished or self.reset)


def parse_uid_set(text: str) -> set[int]:
    """``"3:5,9"`` → {3, 4, 5, 9} (an RFC 3501 sequence set without ``*``)."""
    result: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if ":" in part:
            lo, hi = (int(x) for x in part.split(":", 1))
            result.update(range(min(lo, hi), max(lo, hi) + 1))
        else:
            result.add(int(part))
    return result


def _uid_ranges(uids: Sequence[int]) -> str:
    """Sorted UIDs as a compact sequence set, so long lists stay short on the wire."""
    parts: list[str] = []
    ordered = sorted(uids)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _flags(values: Iterable[Any]) -> frozenset[str]:
    return frozenset(_text(v) for v in values)


_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)", re.IGNORECASE)


def _is_change(response: Any) -> bool:
    if not isinstance(response, tuple) or len(response) < 2:
        return False
    kinds = {b"EXISTS", b"EXPUNGE", b"FETCH", b"RECENT"}
    return response[1] in kinds or response[0] == b"VANISHED"


_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def _message_id(raw: bytes) -> str | None:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


class ImapMailbox(NetworkBackend):
    """One IMAP account. Every method reconnects and retries on a dropped connection.

    ``ssl=True`` is implicit TLS (port 993); ``starttls=True`` upgrades a plain
    connection (port 143). Neither is for loopback test servers only.
    """

    protocol = "IMAP"

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: SecretStr,
        *,
        ssl: bool = True,
        starttls: bool = False,
        timeout: float = 30.0,
        ssl_context: ssl_module.SSLContext | None = None,
        hints: Mapping[str, bool] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            host=host,
            port=port,
            username=username,
            password=password,
            timeout=timeout,
            retry=retry,
        )
        self.use_ssl = ssl
        self.starttls = starttls
        self.ssl_context = ssl_context
        self._user_hints = dict(hints or {})
        self.hints: dict[str, bool] = dict(DEFAULT_IMAP_HINTS)
        self._client: IMAPClient | None = None
        self._caps: frozenset[str] = frozenset()
        self._selected: tuple[str, bool] | None = None

    # -- connection ---------------------------------------------------------------------
    def _transient_types(self) -> tuple[type[BaseException], ...]:
        return (imaplib.IMAP4.abort,)

    def _connect(self) -> None:
        client = IMAPClient(
            self.host,
            port=self.port,
            ssl=self.use_ssl,
            ssl_context=self.ssl_context,
            timeout=self.timeout,
        )
        imap = client._imap
        new_tag = imap._new_tag

        def counted_tag() -> Any:
            self.round_trips += 1
            return new_tag()

        imap._new_tag = counted_tag
        self._client = client
        if self.starttls:
            client.starttls(self.ssl_context or ssl_module.create_default_context())
        try:
            client.login(self.username, self._password.get_secret_value())
        except LoginError:
            self._disconnect()
            raise AuthError(
                f"{self.label}: the server refused the user name or password",
                hint="check the account's password (or app password) in the secrets store",
            ) from None
        self._caps = frozenset(_text(c).upper() for c in client.capabilities())
        self.hints = dict(DEFAULT_IMAP_HINTS)
        welcome = _text(client.welcome).lower()
        for marker, overrides in SERVER_IMAP_HINTS.items():
            if marker in welcome:
                self.hints.update(overrides)
        self.hints.update(self._user_hints)
        if self.has("QRESYNC"):
            client.enable("QRESYNC")
        self._selected = None

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            try:
                client.logout()
            except Exception:
                with contextlib.suppress(Exception):
                    client.shutdown()
            with contextlib.suppress(Exception):
                client.socket().close()

    def _classify(self, exc: BaseException) -> ConnectorError | None:
        if isinstance(exc, imaplib.IMAP4.abort):
            return None  # connection-level: reconnect
        if isinstance(exc, LoginError):
            return AuthError(f"{self.label}: the server refused the user name or password")
        if isinstance(exc, imaplib.IMAP4.error):
            return RemoteDataError(self.clean(f"{self.label}: the server said: {exc}"))
        return None

    def has(self, capability: str) -> bool:
        """Whether the server offers ``capability`` and our hints allow using it."""
        hint = self.hints.get(capability.lower(), True)
        return hint and capability.upper() in self._caps

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise RemoteDataError(f"{self.label}: not connected")
        return self._client

    def _select(self, folder: str, *, readonly: bool) -> dict[bytes, Any]:
        info: dict[bytes, Any] = self.client.select_folder(folder, readonly=readonly)
        self._selected = (folder, readonly)
        return info

    def _fetch(
        self, spec: str, parts: Sequence[bytes], modifiers: Sequence[str] = ()
    ) -> dict[int, dict[bytes, Any]]:
        """UID FETCH over a sequence set such as ``1:5000`` (imapclient's fetch wants a list)."""
        client = self.client
        args = ["UID", "FETCH", spec, "(" + " ".join(p.decode() for p in parts) + ")"]
        if modifiers:
            args.append("(" + " ".join(modifiers) + ")")
        imap = client._imap
        tag = imap._command(*args)
        typ, data = imap._command_complete("FETCH", tag)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"FETCH failed: {_text(data[0]) if data else typ}")
        typ, data = imap._untagged_response(typ, data, "FETCH")
        result: dict[int, dict[bytes, Any]] = parse_fetch_response(
            data, client.normalise_times, True
        )
        return result

    def _unselect(self) -> None:
        if self.has("UNSELECT"):
            self.client.unselect_folder()
        else:  # CLOSE also leaves the folder; it expunges only read-write selections
            self.client.close_folder()
        self._selected = None

    # -- folders -----------------------------------------------------------------------
    def folders(self) -> list[str]:
        """Names of all folders (MailSource)."""
        return [info.name for info in self.folder_info()]

    def folder_info(self) -> list[FolderInfo]:
        """All folders of the account with their flags (special use included)."""

        def op() -> list[FolderInfo]:
            return [
                FolderInfo(name=_text(name), flags=_flags(flags), delimiter=_text(d) if d else None)
                for flags, d, name in self.client.list_folders()
            ]

        return self.call(op, what="list folders")

    def find_folder(self, special_use: str, fallback: str) -> str:
        """The folder flagged ``special_use`` (e.g. ``\\Drafts``), else ``fallback``."""
        for info in self.folder_info():
            if special_use in info.flags:
                return info.name
        return fallback

    def create_folder(self, name: str) -> None:
        """Create ``name``; an existing folder is fine (idempotent)."""

        def op() -> None:
            if not self.client.folder_exists(name):
                self.client.create_folder(name)

        self.call(op, what=f"create folder {name!r}")

    # -- incremental sync ---------------------------------------------------------------
    def sync_folder(self, folder: str, previous: FolderState | None = None) -> FolderChanges:
        """What changed in ``folder`` since ``previous`` (None: everything is new).

        Costs one command when nothing changed on a CONDSTORE server. The caller
        stores ``result.state`` only after it processed the changes, so a crash
        re-delivers rather than loses mail.
        """
        return self.call(lambda: self._sync(folder, previous), what=f"sync folder {folder!r}")

    def _sync(self, folder: str, previous: FolderState | None) -> FolderChanges:
        client = self.client
        condstore = self.has("CONDSTORE")
        items = [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"]
        if condstore:
            items.append(b"HIGHESTMODSEQ")
        if self._selected and self._selected[0] == folder and not self.hints["status_on_selected"]:
            self._unselect()
        status = client.folder_status(folder, items)
        uidvalidity = int(status[b"UIDVALIDITY"])
        uidnext = int(status[b"UIDNEXT"])
        messages = int(status[b"MESSAGES"])
        modseq = int(status[b"HIGHESTMODSEQ"]) if condstore and b"HIGHESTMODSEQ" in status else None
        if (
            previous is not None
            and previous.uidvalidity == uidvalidity
            and previous.uidnext == uidnext
            and previous.messages == messages
            and modseq is not None
            and previous.highestmodseq == modseq
        ):
            return FolderChanges(folder=folder, state=previous)

        # SELECT's numbers are authoritative for the snapshot we are about to read.
        selected = self._select(folder, readonly=True)
        uidvalidity = int(selected.get(b"UIDVALIDITY", uidvalidity))
        uidnext = int(selected.get(b"UIDNEXT", uidnext))
        messages = int(selected.get(b"EXISTS", messages))
        if condstore and b"HIGHESTMODSEQ" in selected:
            modseq = int(selected[b"HIGHESTMODSEQ"])
        reset = previous is None or previous.uidvalidity != uidvalidity
        known = () if reset or previous is None else previous.uids
        last_uid = known[-1] if known else 0

        new: list[FetchedMessage] = []
        new_uids: list[int] = []
        if uidnext > last_uid + 1:
            new_uids = sorted(
                u for u in client.search([b"UID", f"{last_uid + 1}:*"]) if u > last_uid
            )
            parts = [b"FLAGS", b"BODY.PEEK[]"] + ([b"MODSEQ"] if condstore else [])
            for start in range(0, len(new_uids), FETCH_BATCH):
                batch = new_uids[start : start + FETCH_BATCH]
                for uid, data in sorted(self._fetch(_uid_ranges(batch), parts).items()):
                    raw = data.get(b"BODY[]")
                    if not isinstance(raw, bytes):
                        continue
                    mod = data.get(b"MODSEQ")
                    new.append(
                        FetchedMessage(
                            folder=folder,
                            uid=uid,
                            uidvalidity=uidvalidity,
                            flags=_flags(data.get(b"FLAGS", ())),
                            raw=raw,
                            modseq=int(mod[0]) if mod else None,
                        )
                    )
            new_uids = [m.uid for m in new]

        flags_changed: dict[int, frozenset[str]] = {}
        vanished: set[int] = set()
        if known:
            span = f"1:{last_uid}"
            known_set = set(known)
            if condstore and previous is not None and previous.highestmodseq is not None:
                modifiers = [f"CHANGEDSINCE {previous.highestmodseq}"]
                qresync = self.has("QRESYNC")
                if qresync:
                    modifiers.append("VANISHED")
                client._imap.untagged_responses.pop("VANISHED", None)
                changed = self._fetch(span, [b"FLAGS"], modifiers)
                if qresync:
                    for line in client._imap.untagged_responses.pop("VANISHED", []) or []:
                        vanished |= parse_uid_set(_text(line).replace("(EARLIER)", ""))
                else:
                    vanished = known_set - set(client.search([b"UID", span]))
            else:
                changed = self._fetch(span, [b"FLAGS"])
                vanished = known_set - set(changed)
            vanished &= known_set
            for uid, data in changed.items():
                if uid in known_set and uid not in vanished and b"FLAGS" in data:
                    flags_changed[uid] = _flags(data[b"FLAGS"])

        # Leave nothing selected, so the next cheap STATUS is not answered from a stale view.
        self._unselect()
        uids = tuple(sorted((set(known) - vanished) | set(new_uids)))
        state = FolderState(
            uidvalidity=uidvalidity,
            uidnext=uidnext,
            highestmodseq=modseq,
            messages=messages,
            uids=uids,
        )
        return FolderChanges(
            folder=folder,
            state=state,
            new=new,
            flags_changed=flags_changed,
            vanished=frozenset(vanished),
            reset=reset,
        )

    # -- writes -----------------------------------------------------------------------
    def append_draft(self, message: EmailMessage | bytes, folder: str | None = None) -> int | None:
        """Save ``message`` as a draft (``\\Draft``); returns its UID when the server says.

        Idempotent on Message-ID: a retry after a dropped connection, or a second
        call, finds the draft already there instead of saving it twice.
        """
        raw = message if isinstance(message, bytes) else message.as_bytes()
        message_id = _message_id(raw)

        def op() -> int | None:
            target = folder or self._drafts_folder()
            if message_id:
                self._select(target, readonly=True)
                existing = self.client.search([b"HEADER", b"Message-ID", message_id.encode()])
                if existing:
                    return int(max(existing))
            answer = self.client.append(target, raw, flags=_DRAFT_FLAGS)
            match = _APPENDUID.search(answer if isinstance(answer, bytes) else b"")
            return int(match.group(1)) if match else None

        return self.call(op, what="save draft")

    def _drafts_folder(self) -> str:
        for flags, _delim, name in self.client.list_folders():
            if b"\\Drafts" in flags or "\\Drafts" in flags:
                return _text(name)
        if not self.client.folder_exists("Drafts"):
            self.client.create_folder("Drafts")
        return "Drafts"

    def move_uids(self, folder: str, uids: Iterable[int], destination: str) -> None:
        """Move messages; MOVE when offered, else COPY + \\Deleted + (UID) EXPUNGE."""
        wanted = sorted(set(uids))
        if not wanted:
            return

        def op() -> None:
            self._select(folder, readonly=False)
            present = self.client.search([b"UID", _uid_ranges(wanted)])
            if not present:  # already moved (e.g. by the attempt before a reconnect)
                return
            if self.has("MOVE"):
                self.client.move(present, destination)
                return
            self.client.copy(present, destination)
            self.client.add_flags(present, [b"\\Deleted"], silent=True)
            if self.has("UIDPLUS"):
                self.client.uid_expunge(present)
            else:
                self.client.expunge()

        self.call(op, what=f"move mail from {folder!r} to {destination!r}")

    def set_flags(
        self, folder: str, uids: Iterable[int], flags: Iterable[str], *, add: bool = True
    ) -> None:
        """Add (or with ``add=False`` remove) ``flags`` such as ``\\Flagged`` or ``\\Seen``."""
        wanted = sorted(set(uids))
        flag_list = [f.encode() for f in flags]
        if not wanted or not flag_list:
            return

        def op() -> None:
            self._select(folder, readonly=False)
            if add:
                self.client.add_flags(wanted, flag_list, silent=True)
            else:
                self.client.remove_flags(wanted, flag_list, silent=True)

        self.call(op, what=f"flag mail in {folder!r}")

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        """The raw message ``uid`` in ``folder`` (:class:`NotFoundError` if it is gone)."""

        def op() -> bytes:
            self._select(folder, readonly=True)
            data = self.client.fetch([uid], [b"BODY.PEEK[]"]).get(uid, {})
            raw = data.get(b"BODY[]")
            if not isinstance(raw, bytes):
                raise NotFoundError(f"{self.label}: no message with UID {uid} in {folder!r}")
            return raw

        return self.call(op, what=f"fetch mail from {folder!r}")

    # -- IDLE ---------------------------------------------------------------------------
    def idle_wait(self, folder: str, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a change in ``folder``; True if the server reported one.

        Ends IDLE with DONE every time, which needs an answer from the server,
        so a silently dead connection shows up here (and is reconnected) rather
        than hanging the daemon. Without IDLE it returns False at once, and the
        daemon falls back to polling :meth:`sync_folder`.
        """
        if not self.has("IDLE"):
            self.connect()
            if not self.has("IDLE"):
                return False

        def op() -> bool:
            if self._selected != (folder, True):
                self._select(folder, readonly=True)
            client = self.client
            client.idle()
            try:
                responses = list(client.idle_check(timeout=timeout))
            finally:
                _text_done, more = client.idle_done()
            responses.extend(more)
            return any(_is_change(r) for r in responses)

        return self.call(op, what=f"IDLE on {folder!r}")

    # -- MailSource / MailSink ----------------------------------------------------------
    def fetch(self, folder: str, state: str | None) -> MailBatch:
        """New messages (parsed by ``mail.py``), removed ids and flag changes since ``state``.

        ``state`` is the JSON of a :class:`FolderState`; None or an unreadable
        state means a full read (``reset=True`` in the latter case).
        """
        previous: FolderState | None = None
        unusable = False
        if state:
            try:
                previous = FolderState.model_validate_json(state)
            except ValueError:
                unusable = True
        changes = self.sync_folder(folder, previous)
        origin = Origin(account=f"{self.username}@{self.host}", collection=folder)
        messages: list[MailMessage] = []
        quarantined: list[Quarantined] = []
        for fetched in changes.new:
            parsed = try_parse_message(
                fetched.raw,
                origin=origin.with_item(str(fetched.uid)),
                id=str(fetched.uid),
                folder=folder,
                flags=fetched.flags,
            )
            if isinstance(parsed, Quarantined):
                quarantined.append(parsed)
            else:
                messages.append(parsed)
        return MailBatch(
            folder=folder,
            messages=tuple(messages),
            removed_ids=tuple(str(uid) for uid in sorted(changes.vanished)),
            flag_changes={str(uid): flags for uid, flags in changes.flags_changed.items()},
            state=changes.state.model_dump_json(),
            reset=unusable or (previous is not None and changes.reset),
            quarantined=tuple(quarantined),
        )

    def save_draft(self, message: EmailMessage, folder: str = "Drafts") -> str:
        """Store ``message`` in the drafts folder (the ``\\Drafts`` special-use one for
        "Drafts"); returns its UID as text ("" when the server does not say)."""
        uid = self.append_draft(message, folder=None if folder == "Drafts" else folder)
        return "" if uid is None else str(uid)

    def move(self, ids: Sequence[str], src: str, dst: str) -> None:
        """Move messages ``ids`` (UIDs as text) from ``src`` to ``dst``."""
        self.move_uids(src, (int(i) for i in ids), dst)

    def flag(self, ids: Sequence[str], folder: str, flag: str, on: bool = True) -> None:
        """Set (``on``) or clear an IMAP flag such as ``\\Flagged``."""
        self.set_flags(folder, (int(i) for i in ids), [flag], add=on)
