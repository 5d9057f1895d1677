"""CalDAV connector against a real Radicale started by the root conftest."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from pydantic import SecretStr

from tests.servers import Account, RadicaleServer
from va_engine.connectors._net import RetryPolicy
from va_engine.connectors.base import PlanEvent
from va_engine.connectors.caldav import (
    CalDavAccount,
    CalDavCalendar,
    CalendarInfo,
    CollectionState,
    select_calendars,
)
from va_engine.errors import AuthError, NotFoundError, UnreachableError

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "data" / "caldav"
AMS = ZoneInfo("Europe/Amsterdam")
NOV = (datetime(2026, 11, 1, tzinfo=AMS), datetime(2026, 12, 1, tzinfo=AMS))
FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)


def connect(account: Account, **kwargs: object) -> CalDavAccount:
    return CalDavAccount(
        account.url,
        account.username,
        SecretStr(account.password),
        timeout=10,
        retry=FAST,
        **kwargs,  # type: ignore[arg-type]
    )


def upstream_put(account: Account, url: str, ics: str) -> None:
    """A change made by another client (a phone, the web UI): plain HTTP, not our code."""
    answer = requests.put(
        url,
        data=ics.encode(),
        auth=(account.username, account.password),
        headers={"Content-Type": "text/calendar; charset=utf-8"},
        timeout=10,
    )
    assert answer.status_code in (201, 204), answer.text


def upstream_delete(account: Account, url: str) -> None:
    answer = requests.delete(url, auth=(account.username, account.password), timeout=10)
    assert answer.status_code in (200, 204), answer.text


def upstream_etag(account: Account, url: str) -> str:
    answer = requests.get(url, auth=(account.username, account.password), timeout=10)
    assert answer.status_code == 200
    return answer.headers["ETag"]


def event_ics(uid: str, summary: str, start: str, end: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T080000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture
def work(caldav_account: Account) -> tuple[CalDavAccount, CalendarInfo]:
    account = connect(caldav_account)
    calendar = account.make_calendar("Work", components=("VEVENT", "VTODO"))
    return account, calendar


def test_discover_and_choose_calendars(caldav_account: Account) -> None:
    account = connect(caldav_account)
    assert account.discover() == []
    account.make_calendar("Work", components=("VEVENT", "VTODO"))
    account.make_calendar("Client tasks", components=("VTODO",), slug="tasks")
    account.make_calendar("Work", components=("VEVENT", "VTODO"))  # exists: no second one
    found = account.discover()
    assert [c.name for c in found] == ["Client tasks", "Work"]
    tasks, work = found
    assert tasks.holds_todos and not tasks.holds_events
    assert work.holds_events and work.holds_todos
    assert work.sync_token and work.ctag
    assert select_calendars(found, ["Work", tasks.url, "tasks"]) == [work, tasks]
    with pytest.raises(NotFoundError, match="Client tasks, Work"):
        select_calendars(found, ["Privé"])


def test_read_recurring_event_with_exdate_and_override(
    caldav_account: Account, work: tuple[CalDavAccount, CalendarInfo]
) -> None:
    account, calendar = work
    for name in ("weekly_exdate_override.ics", "dentist.ics", "tax_return_todo.ics"):
        upstream_put(caldav_account, calendar.url + name, (DATA / name).read_text())
    source = CalDavCalendar(account, calendar.url)
    parsed = source.events(*NOV, tz=AMS)
    assert not parsed.quarantined
    got = sorted((e.start.astimezone(AMS), e.summary) for e in parsed.events)
    assert got == [
        (datetime(2026, 11, 2, 9, 0, tzinfo=AMS), "Weekly stand-up"),
        (datetime(2026, 11, 4, 14, 0, tzinfo=AMS), "Dentist"),
        # 9 Nov is EXDATE'd; 16 Nov was moved to the afternoon by an override
        (datetime(2026, 11, 16, 14, 0, tzinfo=AMS), "Weekly stand-up (moved)"),
        (datetime(2026, 11, 23, 9, 0, tzinfo=AMS), "Weekly stand-up"),
    ]
    prefix = "/" + calendar.url.split("/", 3)[3]
    assert {e.origin.item for e in parsed.events} == {
        prefix + n for n in ("weekly_exdate_override.ics", "dentist.ics")
    }
    todos = source.todos(tz=AMS).todos
    assert [(t.uid, t.start, t.duration_minutes, t.priority) for t in todos] == [
        ("tax-return@example.org", datetime(2026, 11, 30, 15, tzinfo=UTC), 120, 1)
    ]


@pytest.mark.parametrize("mode", ["sync-token", "etag", "rejected-token", "etag-then-token"])
def test_incremental_sync_added_changed_removed(
    caldav_account: Account, work: tuple[CalDavAccount, CalendarInfo], mode: str
) -> None:
    _, calendar = work
    hints = {"sync_token": False} if mode.startswith("etag") else {}
    account = connect(caldav_account, hints=hints)
    source = CalDavCalendar(account, calendar.url)
    upstream_put(
        caldav_account,
        calendar.url + "a.ics",
        event_ics("a", "A", "20261103T100000Z", "20261103T110000Z"),
    )
    upstream_put(
        caldav_account,
        calendar.url + "b.ics",
        event_ics("b", "B", "20261104T100000Z", "20261104T110000Z"),
    )
    first = source.sync(None, start=NOV[0], end=NOV[1], tz=AMS)
    assert sorted(e.summary for e in first.events) == ["A", "B"]
    assert len(first.changed_items) == 2 and not first.removed_items

    before = account.round_trips
    same = source.sync(first.state, start=NOV[0], end=NOV[1], tz=AMS)
    assert same.unchanged
    assert account.round_trips - before == 1  # one request per collection when nothing changed

    upstream_put(
        caldav_account,
        calendar.url + "c.ics",
        event_ics("c", "C", "20261105T100000Z", "20261105T110000Z"),
    )
    upstream_put(
        caldav_account,
        calendar.url + "a.ics",
        event_ics("a", "A moved", "20261106T100000Z", "20261106T110000Z"),
    )
    upstream_delete(caldav_account, calendar.url + "b.ics")
    state = same.state
    if mode == "rejected-token":
        state = (
            CollectionState.model_validate_json(state)
            .model_copy(update={"sync_token": "http://radicale.org/ns/sync/not-a-token"})
            .model_dump_json()
        )
    if mode == "etag-then-token":  # e.g. the server gained sync tokens after an upgrade
        source = CalDavCalendar(connect(caldav_account), calendar.url)
    later = source.sync(state, start=NOV[0], end=NOV[1], tz=AMS)
    assert not later.reset
    prefix = calendar.url.split("/", 3)[3]
    assert sorted(later.changed_items) == [f"/{prefix}a.ics", f"/{prefix}c.ics"]
    assert later.removed_items == (f"/{prefix}b.ics",)
    assert sorted(e.summary for e in later.events) == ["A moved", "C"]
    assert source.sync(later.state, start=NOV[0], end=NOV[1], tz=AMS).unchanged


def plan(*specs: tuple[str, str, int]) -> list[PlanEvent]:
    day = datetime(2026, 11, 24, tzinfo=AMS)
    return [
        PlanEvent(
            key=key,
            summary=summary,
            start=day + timedelta(hours=hour),
            end=day + timedelta(hours=hour, minutes=45),
        )
        for key, summary, hour in specs
    ]


def test_push_plan_twice_writes_nothing_and_leaves_foreign_events(
    caldav_account: Account, work: tuple[CalDavAccount, CalendarInfo]
) -> None:
    account, calendar = work
    foreign = calendar.url + "lunch.ics"
    upstream_put(
        caldav_account, foreign, event_ics("lunch", "Lunch", "20261124T110000Z", "20261124T120000Z")
    )
    # A foreign event that merely looks like ours (prefix, no marker) is foreign too.
    lookalike = calendar.url + "lookalike.ics"
    upstream_put(
        caldav_account,
        lookalike,
        event_ics("va-engine-plan-x", "Mine!", "20261124T150000Z", "20261124T160000Z"),
    )
    foreign_etags = {u: upstream_etag(caldav_account, u) for u in (foreign, lookalike)}
    stamp = datetime(2026, 11, 23, 8, tzinfo=UTC)

    first = account.push_plan(
        plan(("t1", "Invoices", 9), ("t2", "Call insurer", 10)), calendar=calendar.url, stamp=stamp
    )
    assert sorted(first.created) == ["va-engine-plan-t1", "va-engine-plan-t2"]

    before = account.round_trips
    second = account.push_plan(
        plan(("t1", "Invoices", 9), ("t2", "Call insurer", 10)),
        calendar=calendar.url,
        stamp=stamp + timedelta(hours=1),
    )
    assert second.writes == 0
    assert sorted(second.unchanged) == ["va-engine-plan-t1", "va-engine-plan-t2"]
    assert account.round_trips - before == 1

    third = account.push_plan(
        plan(("t1", "Invoices", 13), ("t3", "Tax return", 14), ("x", "clash", 16)),
        calendar=calendar.url,
        stamp=stamp,
    )
    assert third.updated == ("va-engine-plan-t1",)
    assert third.deleted == ("va-engine-plan-t2",)
    assert third.created == ("va-engine-plan-t3",)  # "x" clashes with the look-alike: skipped
    assert {u: upstream_etag(caldav_account, u) for u in foreign_etags} == foreign_etags

    busy = CalDavCalendar(account, calendar.url).events(*NOV, tz=AMS).events
    assert sorted((e.summary, e.start.astimezone(AMS).hour, e.ours) for e in busy) == [
        ("Invoices", 13, True),
        ("Lunch", 12, False),
        ("Mine!", 16, False),
        ("Tax return", 14, True),
    ]


def test_push_plan_creates_the_named_plan_calendar(caldav_account: Account) -> None:
    account = connect(caldav_account)
    result = account.push_plan(plan(("t1", "Invoices", 9)), calendar="VA plan")
    assert result.created == ("va-engine-plan-t1",)
    assert [c.name for c in account.discover()] == ["VA plan"]
    assert account.push_plan(plan(("t1", "Invoices", 9)), calendar="VA plan").writes == 0


def test_complete_todo(caldav_account: Account, work: tuple[CalDavAccount, CalendarInfo]) -> None:
    account, calendar = work
    upstream_put(
        caldav_account, calendar.url + "tax.ics", (DATA / "tax_return_todo.ics").read_text()
    )
    done_at = datetime(2026, 11, 20, 15, 30, tzinfo=AMS)
    assert account.complete_todo("tax-return@example.org", at=done_at) is True
    assert account.complete_todo("tax-return@example.org", at=done_at) is False
    assert account.complete_todo("no-such-todo", at=done_at) is False
    (todo,) = CalDavCalendar(account, calendar.url).todos(tz=AMS).todos
    assert todo.done and todo.completed == done_at
    assert todo.summary == "File the tax return" and todo.priority == 1


def test_reconnects_after_server_restart(
    radicale_server: RadicaleServer,
    caldav_account: Account,
    work: tuple[CalDavAccount, CalendarInfo],
) -> None:
    account, calendar = work
    source = CalDavCalendar(account, calendar.url)
    state = source.sync(None, start=NOV[0], end=NOV[1], tz=AMS).state
    radicale_server.restart()
    upstream_put(
        caldav_account,
        calendar.url + "d.ics",
        event_ics("d", "D", "20261103T100000Z", "20261103T110000Z"),
    )
    changes = source.sync(state, start=NOV[0], end=NOV[1], tz=AMS)
    assert [e.summary for e in changes.events] == ["D"]


def test_wrong_password_is_auth_error_without_the_password(caldav_account: Account) -> None:
    wrong = Account(
        caldav_account.host,
        caldav_account.port,
        caldav_account.username,
        "Hunter2-wrong",
        caldav_account.url,
    )
    with pytest.raises(AuthError) as info:
        connect(wrong).discover()
    assert "Hunter2-wrong" not in str(info.value)
    assert caldav_account.username in str(info.value) and "password" in str(info.value)


def test_unreachable_port_is_unreachable_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        account = connect(
            Account("127.0.0.1", port, "nobody", "S3cret-pw", f"http://127.0.0.1:{port}/")
        )
        with pytest.raises(UnreachableError) as info:
            account.discover()
    assert "refused" in str(info.value)
    assert "S3cret-pw" not in str(info.value)
