"""The store tables added for reports, on SQLite and PostgreSQL: contact times and assignments."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.reports.conftest import AMS
from va_engine.assignments import Assignment, due_assignments, next_due
from va_engine.errors import NotFoundError, StoreError
from va_engine.model import LedgerEntry, Mode, SupportLevel
from va_engine.store import Store

NOW = datetime(2026, 3, 12, 10, tzinfo=AMS)


def test_contact_start_round_trips_as_aware_utc(store: Store) -> None:
    cs = store.for_client("hoeve")
    entry_id = cs.add_entry(
        LedgerEntry(
            client_id="hoeve", task="Bellen", day=date(2026, 3, 10), minutes=20, mode=Mode.FOR
        ),
        actor="t",
        now=NOW,
    )
    assert entry_id is not None
    cs.set_entry_start(entry_id, datetime(2026, 3, 10, 13, 30, tzinfo=AMS))
    (start,) = cs.entry_starts().values()
    assert start == datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # 13:30 CET
    assert store.for_client("lotje").entry_starts() == {}
    with pytest.raises(NotFoundError):  # another client's entry is not there for lotje
        store.for_client("lotje").set_entry_start(entry_id, NOW)
    with pytest.raises(StoreError, match="aware"):
        cs.set_entry_start(entry_id, datetime(2026, 3, 10, 13, 30))


def test_assignment_cycle(store: Store) -> None:
    cs = store.for_client("hoeve")
    weekly = Assignment(
        client_id="hoeve",
        task="Post archiveren",
        kind="mail",
        due=date(2026, 3, 13),
        every="FREQ=WEEKLY;BYDAY=FR;COUNT=2",
        minutes=15,
        level=SupportLevel.COACH,
    )
    number = cs.add_assignment(weekly, actor="sanne", now=NOW)
    first = cs.record_assignment(number, done=True, day=date(2026, 3, 13), actor="hoeve", now=NOW)
    assert first is not None
    (entry,) = cs.entries()
    assert (entry.mode, entry.level, entry.source, entry.billable) == (
        Mode.TAUGHT, SupportLevel.COACH, "assignment", False,
    )  # fmt: skip
    (current,) = cs.assignments()
    assert (current.due, current.status, current.done_count) == (date(2026, 3, 20), "open", 1)
    # the second (and last, COUNT=2) Friday is missed: the assignment closes as missed
    assert (
        cs.record_assignment(number, done=False, day=date(2026, 3, 20), actor="h", now=NOW) is None
    )
    (closed,) = cs.assignments()
    assert (closed.status, closed.missed_count) == ("missed", 1)
    # closed: a late answer changes nothing
    assert (
        cs.record_assignment(number, done=True, day=date(2026, 3, 21), actor="h", now=NOW) is None
    )
    assert len(cs.entries()) == 1
    assert [a.action for a in cs.audit()] == [
        "assignment.add", "ledger.add", "assignment.done", "assignment.missed",
    ]  # fmt: skip
    with pytest.raises(NotFoundError):
        store.for_client("lotje").record_assignment(
            number, done=True, day=date(2026, 3, 13), actor="x", now=NOW
        )
    with pytest.raises(StoreError, match="refusing"):
        store.for_client("lotje").add_assignment(weekly, actor="x", now=NOW)


def test_next_due_and_due_list() -> None:
    a = Assignment(client_id="x", task="t", due=date(2026, 3, 16), every="RRULE:FREQ=MONTHLY")
    assert next_due(a) == date(2026, 4, 16)
    assert next_due(a.model_copy(update={"every": None})) is None
    b = a.model_copy(update={"id": 2, "due": date(2026, 3, 10)})
    c = a.model_copy(update={"id": 3, "due": date(2026, 3, 9), "status": "done"})
    assert [x.id for x in due_assignments([a, b, c], date(2026, 3, 12))] == [2]
    with pytest.raises(ValueError, match="repeat rule"):
        Assignment(client_id="x", task="t", due=date(2026, 3, 16), every="FREQ=SOMETIMES")
