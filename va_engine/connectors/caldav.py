"""CalDAV over the caldav library: discovery, incremental sync, plan push, todo completion.

The caldav library gives us the HTTP session, authentication and principal
discovery. The requests that decide cost and correctness (sync-collection,
calendar-query, conditional PUT/DELETE) are written out here, so each sync
does a known number of round trips and every fallback is explicit:

* incremental sync uses RFC 6578 sync tokens; a server without them, or one
  that rejects an old token, is read by ETag listing (and a CalendarServer
  ``getctag`` check answers "nothing changed" in one request);
* the plan goes into one calendar with stable UIDs (``va-engine-plan-…``) and
  its fingerprint in ``X-VA-ENGINE-PLAN``: an unchanged plan writes nothing,
  and only events carrying both are ever changed or deleted;
* server differences are data in :data:`DEFAULT_CALDAV_HINTS` /
  :data:`SERVER_CALDAV_HINTS`, overridable per account.

Items come back as raw iCalendar text; expanding recurrences and turning
them into busy time or tasks is the pure parser's job (``ics.py``).
"""

from __future__ import annotations

import contextlib
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import icalendar
from caldav.davclient import DAVClient
from caldav.lib import error as caldav_error
from pydantic import BaseModel, ConfigDict, SecretStr

from va_engine.connectors import ics
from va_engine.connectors._net import NetworkBackend, RetryPolicy, Transient
from va_engine.connectors.base import (
    CalendarChanges,
    Origin,
    ParsedCalendar,
    PlanEvent,
    PushResult,
    diff_plan,
)
from va_engine.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    RemoteDataError,
)

__all__ = [
    "DEFAULT_CALDAV_HINTS",
    "SERVER_CALDAV_HINTS",
    "CalDavAccount",
    "CalDavCalendar",
    "CalendarInfo",
    "CalendarItem",
    "CollectionChanges",
    "CollectionState",
    "select_calendars",
]

log = logging.getLogger(__name__)

D: Final = "DAV:"
C: Final = "urn:ietf:params:xml:ns:caldav"
CS: Final = "http://calendarserver.org/ns/"
_NS = f'xmlns:D="{D}" xmlns:C="{C}" xmlns:CS="{CS}"'

#: What we may rely on unless a server entry (or the account config) says otherwise.
DEFAULT_CALDAV_HINTS: Final[Mapping[str, bool | int]] = {
    "sync_token": True,  # RFC 6578 sync-collection REPORT
    "sync_calendar_data": True,  # calendar-data may be asked for inside sync-collection
    "ctag": True,  # CalendarServer getctag changes whenever the collection changes
    "server_expand": False,  # trust <C:expand> (many servers get overrides wrong)
    "multiget_batch": 500,  # hrefs per calendar-multiget
    "sync_pages": 50,  # give up after this many truncated sync pages (507)
}

#: Known servers, matched on a lower-case substring of the ``Server`` header.
SERVER_CALDAV_HINTS: Final[Mapping[str, Mapping[str, bool | int]]] = {
    # Tested in tests/integration against Radicale 3: everything above works.
    "radicale": {},
}


class CollectionState(BaseModel):
    """What we knew about a collection after the last sync; stored as JSON by the caller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    sync_token: str | None = None
    ctag: str | None = None
    etags: dict[str, str] = {}


@dataclass(frozen=True)
class CalendarInfo:
    """One calendar collection found by discovery."""

    url: str
    name: str
    components: frozenset[str]
    ctag: str | None = None
    sync_token: str | None = None
    color: str | None = None

    @property
    def holds_events(self) -> bool:
        return not self.components or "VEVENT" in self.components

    @property
    def holds_todos(self) -> bool:
        return not self.components or "VTODO" in self.components


@dataclass(frozen=True)
class CalendarItem:
    """One calendar object resource: where it lives, its version and its iCalendar text."""

    href: str
    etag: str
    ics: str

    @property
    def source(self) -> str:
        return self.href


@dataclass(frozen=True)
class CollectionChanges:
    """Changes in one collection since ``previous``; store ``state`` once processed."""

    url: str
    state: CollectionState
    added: list[CalendarItem] = field(default_factory=list)
    changed: list[CalendarItem] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: how the changes were found: "sync-token", "etag" or "ctag"
    method: str = "sync-token"

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.removed)


def select_calendars(
    calendars: Iterable[CalendarInfo], wanted: Iterable[str]
) -> list[CalendarInfo]:
    """The calendars named in ``wanted`` (display name, last path segment or full URL).

    Raises :class:`NotFoundError` naming what exists, so a config typo is easy to fix.
    """
    found: list[CalendarInfo] = []
    calendars = list(calendars)
    for item in wanted:
        match = next(
            (
                c
                for c in calendars
                if item in (c.url, c.name) or item.strip("/") == c.url.rstrip("/").split("/")[-1]
            ),
            None,
        )
        if match is None:
            names = ", ".join(sorted(c.name for c in calendars)) or "(none)"
            raise NotFoundError(f"no calendar {item!r}; the account has: {names}")
        if match not in found:
            found.append(match)
    return found


# --------------------------------------------------------------------------- XML helpers


@dataclass(frozen=True)
class _Response:
    href: str
    status: int
    props: dict[str, ET.Element]

    def text(self, tag: str) -> str | None:
        element = self.props.get(tag)
        return None if element is None else (element.text or "")


def _status_code(text: str | None) -> int:
    parts = (text or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200


def _parse_multistatus(body: bytes) -> tuple[list[_Response], str | None]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise RemoteDataError(f"the server sent malformed XML: {exc}") from None
    responses: list[_Response] = []
    for resp in root.findall(f"{{{D}}}response"):
        href = unquote((resp.findtext(f"{{{D}}}href") or "").strip())
        status = _status_code(resp.findtext(f"{{{D}}}status"))
        props: dict[str, ET.Element] = {}
        for propstat in resp.findall(f"{{{D}}}propstat"):
            if _status_code(propstat.findtext(f"{{{D}}}status")) != 200:
                continue
            for prop in propstat.find(f"{{{D}}}prop") or []:
                props[prop.tag] = prop
        responses.append(_Response(href=href, status=status, props=props))
    token = root.findtext(f"{{{D}}}sync-token")
    return responses, token.strip() if token else None


def _path(url: str) -> str:
    return unquote(urlsplit(url).path)


class _SyncTokenRejected(Exception):
    """The server no longer accepts our sync token (RFC 6578 valid-sync-token)."""


class CalDavAccount(NetworkBackend):
    """One CalDAV account. Every method reconnects and retries transient failures."""

    protocol = "CalDAV"

    def __init__(
        self,
        url: str,
        username: str,
        password: SecretStr,
        *,
        timeout: float = 30.0,
        ssl_verify: bool | str = True,
        hints: Mapping[str, bool | int] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        parts = urlsplit(url)
        super().__init__(
            host=parts.hostname or "?",
            port=parts.port or (443 if parts.scheme == "https" else 80),
            username=username,
            password=password,
            timeout=timeout,
            retry=retry,
        )
        self.url = url if url.endswith("/") else url + "/"
        self.ssl_verify = ssl_verify
        self._user_hints = dict(hints or {})
        self.hints: dict[str, bool | int] = {**DEFAULT_CALDAV_HINTS, **self._user_hints}
        self._dav: DAVClient | None = None
        self._home: str | None = None
        self._hints_applied = False

    # -- connection ---------------------------------------------------------------------
    def _connect(self) -> None:
        dav = DAVClient(
            url=self.url,
            username=self.username,
            password=self._password.get_secret_value(),
            auth_type="basic",
            timeout=int(self.timeout),
            ssl_verify_cert=self.ssl_verify,
            enable_rfc6764=False,
            require_tls=False,
        )
        session_request = dav.session.request

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.round_trips += 1
            return session_request(*args, **kwargs)

        dav.session.request = counted  # type: ignore[method-assign]
        self._dav = dav

    def _disconnect(self) -> None:
        dav, self._dav = self._dav, None
        if dav is not None:
            dav.close()

    def _classify(self, exc: BaseException) -> ConnectorError | None:
        if isinstance(exc, caldav_error.AuthorizationError):
            return AuthError(
                f"{self.label}: the server refused the user name or password",
                hint="check the account's password (or app password) in the secrets store",
            )
        if isinstance(exc, _HttpStatus):
            if exc.status == 403:
                return AuthError(
                    f"{self.label}: access denied (HTTP 403) to {exc.path}",
                    hint="the account may not read this calendar; check the calendar URL",
                )
            return RemoteDataError(f"{self.label}: the server answered HTTP {exc.status}")
        if isinstance(exc, caldav_error.DAVError):
            return RemoteDataError(self.clean(f"{self.label}: {type(exc).__name__}: {exc}"))
        return None

    @property
    def dav(self) -> DAVClient:
        if self._dav is None:
            raise RemoteDataError(f"{self.label}: not connected")
        return self._dav

    def _http(
        self,
        method: str,
        url: str,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        *,
        ok: Sequence[int] = (200, 201, 204, 207),
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One HTTP request; maps 401, 5xx and unexpected statuses onto our errors."""
        response = self.dav.session.request(
            method,
            urljoin(self.url, url),
            data=body.encode("utf-8") if body else None,
            headers=dict(headers or {}),
            auth=self.dav.auth,
            timeout=self.timeout,
            verify=self.ssl_verify,
        )
        status = int(response.status_code or 0)
        content = response.content or b""
        server = str(response.headers.get("Server", "")).lower()
        if server and not self._hints_applied:
            self._apply_server_hints(server)
        if status == 401:
            raise AuthError(
                f"{self.label}: the server refused the user name or password",
                hint="check the account's password (or app password) in the secrets store",
            )
        if status in (502, 503, 504):
            raise Transient(f"HTTP {status}")
        if status not in ok:
            if status == 404:
                raise NotFoundError(f"{self.label}: {method} {_path(url)}: not found (404)")
            raise _HttpStatus(status, content, _path(url))
        return status, response.headers, content

    def _apply_server_hints(self, server: str) -> None:
        self._hints_applied = True
        for marker, overrides in SERVER_CALDAV_HINTS.items():
            if marker in server:
                self.hints = {**DEFAULT_CALDAV_HINTS, **overrides, **self._user_hints}

    def _report(self, url: str, body: str, depth: str = "1") -> tuple[list[_Response], str | None]:
        _status, _headers, content = self._http(
            "REPORT",
            url,
            body,
            {"Depth": depth, "Content-Type": 'application/xml; charset="utf-8"'},
        )
        return _parse_multistatus(content)

    def _propfind(self, url: str, props: str, depth: str) -> tuple[list[_Response], str | None]:
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><D:propfind {_NS}>'
            f"<D:prop>{props}</D:prop></D:propfind>"
        )
        _status, _headers, content = self._http(
            "PROPFIND",
            url,
            body,
            {"Depth": depth, "Content-Type": 'application/xml; charset="utf-8"'},
        )
        return _parse_multistatus(content)

    # -- discovery ----------------------------------------------------------------------
    def calendar_home(self) -> str:
        """URL of the calendar home (principal → calendar-home-set), found once per account."""
        if self._home is None:

            def op() -> str:
                principal = self.dav.principal()  # type: ignore[no-untyped-call]
                return str(principal.calendar_home_set.url)

            self._home = self.call(op, what="find the calendar home")
        return self._home

    def discover(self) -> list[CalendarInfo]:
        """All calendar collections in the account's calendar home (one PROPFIND)."""
        home = self.calendar_home()

        def op() -> list[CalendarInfo]:
            responses, _ = self._propfind(
                home,
                "<D:resourcetype/><D:displayname/><C:supported-calendar-component-set/>"
                "<CS:getctag/><D:sync-token/>",
                "1",
            )
            found: list[CalendarInfo] = []
            for resp in responses:
                kind = resp.props.get(f"{{{D}}}resourcetype")
                if kind is None or kind.find(f"{{{C}}}calendar") is None:
                    continue
                comps = resp.props.get(f"{{{C}}}supported-calendar-component-set")
                components = frozenset(
                    c.get("name", "").upper() for c in (comps if comps is not None else [])
                )
                url = urljoin(self.url, quote(resp.href))
                found.append(
                    CalendarInfo(
                        url=url,
                        name=resp.text(f"{{{D}}}displayname")
                        or resp.href.rstrip("/").split("/")[-1],
                        components=components,
                        ctag=resp.text(f"{{{CS}}}getctag"),
                        sync_token=resp.text(f"{{{D}}}sync-token"),
                    )
                )
            return sorted(found, key=lambda c: c.url)

        return self.call(op, what="discover calendars")

    def make_calendar(
        self, name: str, *, components: Sequence[str] = ("VEVENT",), slug: str | None = None
    ) -> CalendarInfo:
        """Create a calendar (e.g. the plan calendar); an existing one is returned as is."""
        slug = slug or "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
        for info in self.discover():
            if info.url.rstrip("/").endswith("/" + slug) or info.name == name:
                return info
        home = self.calendar_home()
        comp_xml = "".join(f'<C:comp name="{escape(c)}"/>' for c in components)
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><C:mkcalendar {_NS}><D:set><D:prop>'
            f"<D:displayname>{escape(name)}</D:displayname>"
            f"<C:supported-calendar-component-set>{comp_xml}</C:supported-calendar-component-set>"
            "</D:prop></D:set></C:mkcalendar>"
        )
        url = urljoin(home, quote(slug) + "/")
        self.call(lambda: self._http("MKCALENDAR", url, body, {"Content-Type": "application/xml"}))
        return next(c for c in self.discover() if c.url.rstrip("/") == url.rstrip("/"))

    # -- reading ------------------------------------------------------------------------
    def events_in_range(
        self, calendar_url: str, start: datetime, end: datetime, *, expand: bool | None = None
    ) -> list[CalendarItem]:
        """VEVENT resources overlapping ``[start, end)`` (whole series when recurring).

        With ``expand`` (default: the ``server_expand`` hint) the server expands
        recurrences; otherwise ``ics.py`` does it, which handles EXDATE and
        overrides the same way on every server.
        """
        use_expand = bool(self.hints["server_expand"]) if expand is None else expand
        lo, hi = (_caldav_time(start), _caldav_time(end))
        data = (
            f'<C:calendar-data><C:expand start="{lo}" end="{hi}"/></C:calendar-data>'
            if use_expand
            else "<C:calendar-data/>"
        )
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query {_NS}>'
            f"<D:prop><D:getetag/>{data}</D:prop>"
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{lo}" end="{hi}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        )
        return self.call(lambda: self._items(calendar_url, body), what="read events")

    def todos(self, calendar_url: str) -> list[CalendarItem]:
        """Every VTODO resource in the collection (completed ones included)."""
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query {_NS}>'
            "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/>'
            "</C:comp-filter></C:filter></C:calendar-query>"
        )
        return self.call(lambda: self._items(calendar_url, body), what="read todos")

    def _items(self, calendar_url: str, body: str) -> list[CalendarItem]:
        responses, _ = self._report(calendar_url, body)
        items = [
            CalendarItem(
                href=r.href,
                etag=r.text(f"{{{D}}}getetag") or "",
                ics=r.text(f"{{{C}}}calendar-data") or "",
            )
            for r in responses
            if r.status == 200 and f"{{{C}}}calendar-data" in r.props
        ]
        return sorted(items, key=lambda i: i.href)

    def _multiget(self, calendar_url: str, hrefs: Sequence[str]) -> list[CalendarItem]:
        items: list[CalendarItem] = []
        batch = max(1, int(self.hints["multiget_batch"]))
        for start in range(0, len(hrefs), batch):
            refs = "".join(
                f"<D:href>{escape(quote(h))}</D:href>" for h in hrefs[start : start + batch]
            )
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget {_NS}>'
                f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{refs}</C:calendar-multiget>"
            )
            items.extend(self._items(calendar_url, body))
        return items

    # -- incremental sync ---------------------------------------------------------------
    def sync_collection(
        self, calendar_url: str, previous: CollectionState | None = None
    ) -> CollectionChanges:
        """Added, changed and removed items since ``previous`` (None: everything is added).

        One request when nothing changed. Falls back from sync tokens to
        ETag listing when the server has none or rejects ours; the caller
        stores ``result.state`` only after processing, so nothing is lost.
        """
        return self.call(lambda: self._sync(calendar_url, previous), what="sync calendar")

    def _sync(self, url: str, previous: CollectionState | None) -> CollectionChanges:
        if self.hints["sync_token"]:
            try:
                return self._sync_by_token(url, previous)
            except _SyncTokenRejected:
                log.info("%s: sync token rejected for %s, comparing ETags", self.label, _path(url))
            except _HttpStatus as exc:
                if exc.status not in (400, 403, 405, 409, 412, 415, 501):
                    raise
                log.info("%s: no sync-collection on %s (%s)", self.label, _path(url), exc.status)
        return self._sync_by_etag(url, previous)

    def _sync_by_token(self, url: str, previous: CollectionState | None) -> CollectionChanges:
        token = previous.sync_token if previous else None
        want_data = bool(self.hints["sync_calendar_data"])
        prop = "<D:getetag/>" + ("<C:calendar-data/>" if want_data else "")
        etags = dict(previous.etags) if previous else {}
        seen: dict[str, _Response] = {}
        removed: set[str] = set()
        collection = _path(url).rstrip("/")
        for _page in range(int(self.hints["sync_pages"])):
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection {_NS}>'
                f"<D:sync-token>{escape(token or '')}</D:sync-token><D:sync-level>1</D:sync-level>"
                f"<D:prop>{prop}</D:prop></D:sync-collection>"
            )
            try:
                responses, new_token = self._report(url, body)
            except _HttpStatus as exc:
                if token and exc.status in (403, 409) and b"valid-sync-token" in exc.body:
                    raise _SyncTokenRejected from None
                raise
            truncated = False
            for resp in responses:
                if resp.href.rstrip("/") == collection:
                    truncated = truncated or resp.status == 507
                    continue
                if resp.status == 404:
                    removed.add(resp.href)
                    seen.pop(resp.href, None)
                else:
                    seen[resp.href] = resp
                    removed.discard(resp.href)
            token = new_token or token
            if not truncated:
                break
        else:
            raise RemoteDataError(f"{self.label}: sync of {_path(url)} did not finish paging")

        if previous is not None and not previous.sync_token:
            # A full listing (no token to start from): whatever it lacks is gone.
            removed |= set(etags) - set(seen)
        items: dict[str, CalendarItem] = {}
        missing: list[str] = []
        for href, resp in seen.items():
            etag = resp.text(f"{{{D}}}getetag") or ""
            if etag and etags.get(href) == etag:
                continue  # reported, but same version we already have
            data = resp.text(f"{{{C}}}calendar-data")
            if data:
                items[href] = CalendarItem(href=href, etag=etag, ics=data)
            else:
                missing.append(href)
        for item in self._multiget(url, missing):
            items[item.href] = item
        return self._changes(url, previous, items, removed, token, None, "sync-token")

    def _sync_by_etag(self, url: str, previous: CollectionState | None) -> CollectionChanges:
        ctag: str | None = None
        if self.hints["ctag"] and previous is not None and previous.ctag:
            responses, _ = self._propfind(url, "<CS:getctag/>", "0")
            ctag = responses[0].text(f"{{{CS}}}getctag") if responses else None
            if ctag and ctag == previous.ctag:
                return CollectionChanges(url=url, state=previous, method="ctag")
        responses, _ = self._propfind(url, "<D:getetag/><CS:getctag/>", "1")
        collection = _path(url).rstrip("/")
        listing: dict[str, str] = {}
        for resp in responses:
            if resp.href.rstrip("/") == collection:
                ctag = resp.text(f"{{{CS}}}getctag") or ctag
            elif resp.status == 200 and resp.href.endswith(".ics"):
                listing[resp.href] = resp.text(f"{{{D}}}getetag") or ""
        known = previous.etags if previous else {}
        wanted = [h for h, etag in listing.items() if known.get(h) != etag or not etag]
        items = {item.href: item for item in self._multiget(url, wanted)}
        removed = set(known) - set(listing)
        return self._changes(url, previous, items, removed, None, ctag, "etag")

    def _changes(
        self,
        url: str,
        previous: CollectionState | None,
        items: Mapping[str, CalendarItem],
        removed: set[str],
        token: str | None,
        ctag: str | None,
        method: str,
    ) -> CollectionChanges:
        known = dict(previous.etags) if previous else {}
        added = [i for h, i in sorted(items.items()) if h not in known]
        changed = [i for h, i in sorted(items.items()) if h in known]
        gone = sorted(h for h in removed if h in known)
        for href in gone:
            known.pop(href)
        for href, item in items.items():
            known[href] = item.etag
        state = CollectionState(url=url, sync_token=token, ctag=ctag, etags=known)
        return CollectionChanges(
            url=url, state=state, added=added, changed=changed, removed=gone, method=method
        )

    # -- writing ------------------------------------------------------------------------
    def push_plan(
        self,
        events: Sequence[PlanEvent],
        *,
        calendar: str,
        stamp: datetime | None = None,
    ) -> PushResult:
        """Make our events in ``calendar`` (name or URL; created if missing) equal ``events``.

        Ours are events whose UID starts with ``va-engine-plan-`` *and* carry
        ``X-VA-ENGINE-PLAN`` (the fingerprint we pushed); everything else in the
        calendar is foreign and never written. Unchanged events cost nothing, so
        pushing the same plan twice does one REPORT and no writes. Writes are
        conditional (If-Match / If-None-Match), so a retry after a dropped
        connection cannot clobber a concurrent edit.
        """
        when = stamp or datetime.now(UTC)

        def render(event: PlanEvent) -> str:
            return ics.plan_event_ics(event, stamp=when).decode("utf-8")

        target = self._plan_calendar(calendar)
        return self.call(lambda: self._push(target, events, render), what="push plan")

    def _plan_calendar(self, calendar: str) -> str:
        if calendar.startswith(("http://", "https://")):
            return calendar
        try:
            return select_calendars(self.discover(), [calendar])[0].url
        except NotFoundError:
            return self.make_calendar(calendar, components=("VEVENT",)).url

    def _push(
        self, calendar_url: str, events: Sequence[PlanEvent], render: Callable[[PlanEvent], str]
    ) -> PushResult:
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query {_NS}>'
            "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/>'
            "</C:comp-filter></C:filter></C:calendar-query>"
        )
        ours: dict[str, CalendarItem] = {}
        fingerprints: dict[str, str] = {}
        foreign: set[str] = set()
        for item in self._items(calendar_url, body):
            for uid, marker in _uids_and_markers(item.ics):
                if marker is not None:
                    ours[uid] = item
                    fingerprints[uid] = marker
                else:
                    foreign.add(uid)
        diff = diff_plan(events, fingerprints)
        created: list[str] = []
        for event in diff.create:
            if event.uid in foreign:
                log.warning(
                    "%s: UID %s belongs to a foreign event; not pushed", self.label, event.uid
                )
                continue
            href = urljoin(calendar_url, quote(_safe_name(event.uid)) + ".ics")
            self._put(href, render(event), {"If-None-Match": "*"})
            created.append(event.uid)
        for event in diff.update:
            item = ours[event.uid]
            self._put(item.href, render(event), {"If-Match": item.etag} if item.etag else {})
        for uid in diff.delete:
            item = ours[uid]
            # Already gone (e.g. deleted just before a reconnect) is fine.
            with contextlib.suppress(NotFoundError):
                self._http(
                    "DELETE", item.href, headers={"If-Match": item.etag} if item.etag else {}
                )
        return PushResult(
            created=tuple(created),
            updated=tuple(e.uid for e in diff.update),
            deleted=diff.delete,
            unchanged=diff.unchanged,
        )

    def _put(self, href: str, ics: str, headers: Mapping[str, str]) -> None:
        try:
            self._http(
                "PUT", href, ics, {"Content-Type": "text/calendar; charset=utf-8", **headers}
            )
        except _HttpStatus as exc:
            if exc.status == 412:
                raise RemoteDataError(
                    f"{self.label}: {_path(href)} changed on the server while we wrote it; "
                    "the next sync will pick it up",
                ) from None
            raise RemoteDataError(
                f"{self.label}: PUT {_path(href)} failed with HTTP {exc.status}"
            ) from None

    def complete_todo(self, uid: str, *, at: datetime) -> bool:
        """Mark VTODO ``uid`` completed in whichever todo calendar holds it (CalendarSink).

        False when no calendar has it or it was already completed.
        """
        for info in self.discover():
            if info.holds_todos:
                try:
                    return self.complete_todo_in(info.url, uid, at)
                except NotFoundError:
                    continue
        return False

    def complete_todo_in(self, calendar_url: str, uid: str, completed: datetime) -> bool:
        """Mark the VTODO ``uid`` in ``calendar_url`` completed; False if it already was.

        Only STATUS, COMPLETED and PERCENT-COMPLETE change; the rest of the
        client's todo stays as they wrote it.
        """

        def op() -> bool:
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query {_NS}>'
                "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
                '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO">'
                f'<C:prop-filter name="UID"><C:text-match collation="i;octet">{escape(uid)}'
                "</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter>"
                "</C:calendar-query>"
            )
            items = self._items(calendar_url, body)
            if not items:
                raise NotFoundError(
                    f"{self.label}: no todo with UID {uid!r} in {_path(calendar_url)}"
                )
            item = items[0]
            cal = icalendar.Calendar.from_ical(item.ics)
            todos = [c for c in cal.walk("VTODO") if str(c.get("UID", "")) == uid]
            if all(str(t.get("STATUS", "")).upper() == "COMPLETED" for t in todos):
                return False
            stamp = completed.astimezone(UTC)
            for todo in todos:
                for name in ("STATUS", "COMPLETED", "PERCENT-COMPLETE", "DTSTAMP"):
                    todo.pop(name, None)
                todo.add("STATUS", "COMPLETED")
                todo.add("COMPLETED", stamp)
                todo.add("PERCENT-COMPLETE", 100)
                todo.add("DTSTAMP", stamp)
            self._put(item.href, cal.to_ical().decode("utf-8"), {"If-Match": item.etag})
            return True

        return self.call(op, what="complete todo")


class _HttpStatus(Exception):
    def __init__(self, status: int, body: bytes, path: str = "") -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.path = path


def _caldav_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("CalDAV time ranges need aware datetimes")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _safe_name(uid: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in uid)


def _uids_and_markers(text: str) -> list[tuple[str, str | None]]:
    """(UID, our fingerprint or None) of each VEVENT; unreadable resources count as foreign."""
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception:  # a foreign resource we cannot read is simply not ours
        return []
    return [(str(c.get("UID")), ics.our_fingerprint(c)) for c in cal.walk("VEVENT") if c.get("UID")]


#: Todos are not bound to a range; parse them with one wide enough for any due date.
_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


class CalDavCalendar:
    """One collection of a :class:`CalDavAccount` as a :class:`~.base.CalendarSource`.

    Network work is the account's; turning resources into events and todos is
    :func:`.ics.parse_calendar`'s, resource by resource, so one broken item is
    quarantined and the rest of the collection still arrives.
    """

    def __init__(self, account: CalDavAccount, url: str, *, origin: Origin | None = None) -> None:
        self.account = account
        self.url = url
        self.origin = origin or Origin(
            account=f"{account.username}@{account.host}:{account.port}", collection=_path(url)
        )

    def _parse(
        self, items: Iterable[CalendarItem], start: datetime, end: datetime, tz: ZoneInfo
    ) -> ParsedCalendar:
        result = ParsedCalendar()
        for item in items:
            origin = self.origin.with_item(item.href)
            result = result + ics.parse_calendar(
                item.ics.encode("utf-8"), origin=origin, start=start, end=end, tz=tz
            )
        return result

    def events(self, start: datetime, end: datetime, *, tz: ZoneInfo) -> ParsedCalendar:
        """Occurrences in ``[start, end)``, recurrences expanded client-side (EXDATE, overrides)."""
        items = self.account.events_in_range(self.url, start, end, expand=False)
        parsed = self._parse(items, start, end, tz)
        return parsed.model_copy(update={"todos": ()})

    def todos(self, *, tz: ZoneInfo) -> ParsedCalendar:
        parsed = self._parse(self.account.todos(self.url), *_ALL_TIME, tz)
        return parsed.model_copy(update={"events": ()})

    def sync(
        self, state: str | None, *, start: datetime, end: datetime, tz: ZoneInfo
    ) -> CalendarChanges:
        """Changes since ``state`` (the JSON of a :class:`CollectionState`); None = everything."""
        previous: CollectionState | None = None
        reset = False
        if state:
            try:
                previous = CollectionState.model_validate_json(state)
            except ValueError:
                previous, reset = None, True
            if previous is not None and previous.url.rstrip("/") != self.url.rstrip("/"):
                previous, reset = None, True
        changes = self.account.sync_collection(self.url, previous)
        items = [*changes.added, *changes.changed]
        parsed = self._parse(items, start, end, tz)
        return CalendarChanges(
            state=changes.state.model_dump_json(),
            reset=reset,
            changed_items=tuple(i.href for i in items),
            removed_items=tuple(changes.removed),
            events=parsed.events,
            todos=parsed.todos,
            quarantined=parsed.quarantined,
        )
